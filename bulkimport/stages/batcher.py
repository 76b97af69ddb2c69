"""Uploaded files are grouped into `drawing_log_imports` batches, one open batch per target (area, set,
review or not): a batch is flushed when full, when its oldest item has waited `max_wait`
seconds, and at the end of input.

The age limit runs from a batch's first item, not from the last receive, so a slow trickle of
files cannot hold a batch open for ever. Time is the `clock`'s (bulkimport/clock.py).
"""

from __future__ import annotations

import math

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from bulkimport.clock import SYSTEM, DeadlineClock, receive_until
from bulkimport.models import Group, Target, Uploaded


async def batch_uploads(
    uploads: ObjectReceiveStream[Uploaded],
    batches: ObjectSendStream[Group],
    size: int,
    max_wait: float,
    clock: DeadlineClock = SYSTEM,
) -> None:
    async with uploads, batches:
        pending: dict[Target, list[Uploaded]] = {}
        deadlines: dict[Target, float] = {}
        while True:
            due = min(deadlines.values(), default=math.inf)  # no deadline while nothing waits
            try:
                item = await receive_until(uploads, clock, due)
            except anyio.EndOfStream:
                break
            if item is not None:
                group = pending.setdefault(item.target, [])
                if not group:
                    deadlines[item.target] = clock.now() + max_wait
                group.append(item)
                if len(group) < size:
                    continue
            now = clock.now()
            for target in [t for t, g in pending.items() if len(g) >= size or deadlines[t] <= now]:
                await batches.send(Group(target, tuple(pending.pop(target))))
                del deadlines[target]
        for target, group in pending.items():
            await batches.send(Group(target, tuple(group)))
