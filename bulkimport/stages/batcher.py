"""Uploaded files become `drawing_log_imports` batches, one open batch per target (area, set,
review or not): a batch is flushed when full, when its oldest item has waited `max_wait`
seconds, and at the end of input.

The age limit runs from a batch's first item, not from the last receive, so a slow trickle of
files cannot hold a batch open for ever.
"""

from __future__ import annotations

import math
import uuid

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from bulkimport.models import Batch, Target, Uploaded


def new_token() -> str:
    """An Idempotency-Token: unique per batch, journalled before the request."""
    return f"bulkimport-{uuid.uuid4().hex}"


async def batch_uploads(
    uploads: ObjectReceiveStream[Uploaded],
    batches: ObjectSendStream[Batch],
    size: int,
    max_wait: float,
) -> None:
    async with uploads, batches:
        pending: dict[Target, list[Uploaded]] = {}
        deadlines: dict[Target, float] = {}
        while True:
            due = min(deadlines.values(), default=math.inf)  # no clock while nothing waits
            with anyio.CancelScope(deadline=due):
                try:
                    item = await uploads.receive()
                except anyio.EndOfStream:
                    break
                group = pending.setdefault(item.target, [])
                if not group:
                    deadlines[item.target] = anyio.current_time() + max_wait
                group.append(item)
                if len(group) < size:
                    continue
            now = anyio.current_time()
            for target in [t for t, g in pending.items() if len(g) >= size or deadlines[t] <= now]:
                await batches.send(Batch(new_token(), target, tuple(pending.pop(target))))
                del deadlines[target]
        for target, group in pending.items():
            await batches.send(Batch(new_token(), target, tuple(group)))
