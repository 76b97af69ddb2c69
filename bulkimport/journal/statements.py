"""The statements a batch's transitions write, for the journal to run in one transaction with
whatever else the transition changes (a split closes one batch and creates its parts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bulkimport.models import Batch, BatchState, FileState

Statement = tuple[str, Sequence[Any]]


def created(batch: Batch, now: float) -> list[Statement]:
    """The batch, pending, and its files batched into it."""
    statements: list[Statement] = [
        (
            (
                "INSERT INTO batches (token, area_id, set_id, review, status, created_at)"
                " VALUES (?,?,?,?,?,?)"
            ),
            (
                batch.token,
                batch.target.area_id,
                batch.target.set_id,
                int(batch.target.review),
                BatchState.PENDING,
                now,
            ),
        )
    ]
    statements += [
        (
            "UPDATE files SET state=?, batch_id=?, updated_at=? WHERE rel=?",
            (FileState.BATCHED, batch.token, now, item.file.rel),
        )
        for item in batch.items
    ]
    return statements


def closed(token: str, reason: str, now: float) -> list[Statement]:
    """The batch closed for `reason`, and its files still batched failed with it."""
    return [
        (
            "UPDATE batches SET status=?, error=? WHERE token=?",
            (BatchState.CLOSED, reason, token),
        ),
        (
            "UPDATE files SET state=?, error=?, updated_at=? WHERE batch_id=? AND state=?",
            (FileState.FAILED, reason, now, token, FileState.BATCHED),
        ),
    ]
