"""Uploaded files become `drawing_log_imports` batches: flushed when full, when the oldest item
has waited `max_wait` seconds, and at the end of input.

The age limit runs from the batch's first item, not from the last receive, so a slow trickle of
files cannot hold a batch open for ever.
"""

from __future__ import annotations

import math
import uuid

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from .models import Batch, Target, Uploaded


def new_token() -> str:
    """An Idempotency-Token: unique per batch, journalled before the request."""
    return f"bulkimport-{uuid.uuid4().hex}"


async def batch_uploads(
    uploads: ObjectReceiveStream[Uploaded],
    batches: ObjectSendStream[Batch],
    target: Target,
    size: int,
    max_wait: float,
) -> None:
    async with uploads, batches:
        pending: list[Uploaded] = []
        deadline = math.inf  # no clock while the batch is empty
        while True:
            with anyio.CancelScope(deadline=deadline):
                try:
                    item = await uploads.receive()
                except anyio.EndOfStream:
                    break
                if not pending:
                    deadline = anyio.current_time() + max_wait
                pending.append(item)
                if len(pending) < size:
                    continue
            await batches.send(Batch(new_token(), target, tuple(pending)))
            pending, deadline = [], math.inf
        if pending:
            await batches.send(Batch(new_token(), target, tuple(pending)))
