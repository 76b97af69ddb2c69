"""The statements the journal's transitions write: a batch's, for the journal to run in one
transaction with whatever else the transition changes (a split closes one batch and creates
its parts), and the larger ones of a file's. Each is one project's: its rows, and no other
project's under the same path or token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bulkimport.journal.rows import UNCONFIRMED, WAITING
from bulkimport.models import Batch, BatchState, DrawingFile, FileState

Statement = tuple[str, Sequence[Any]]


def created(project: int, batch: Batch, now: float) -> list[Statement]:
    """The batch, pending, and its files batched into it."""
    statements: list[Statement] = [
        (
            (
                "INSERT INTO batches (project_id, token, area_id, set_id, review, status,"
                " created_at) VALUES (?,?,?,?,?,?,?)"
            ),
            (
                project,
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
            "UPDATE files SET state=?, batch_id=?, updated_at=? WHERE project_id=? AND rel=?",
            (FileState.BATCHED, batch.token, now, project, item.file.rel),
        )
        for item in batch.items
    ]
    return statements


def closed(project: int, token: str, reason: str, now: float) -> list[Statement]:
    """The batch closed for `reason`, and its files still batched failed with it."""
    return [
        (
            "UPDATE batches SET status=?, error=? WHERE project_id=? AND token=?",
            (BatchState.CLOSED, reason, project, token),
        ),
        (
            (
                "UPDATE files SET state=?, error=?, updated_at=?"
                " WHERE project_id=? AND batch_id=? AND state=?"
            ),
            (FileState.FAILED, reason, now, project, token, FileState.BATCHED),
        ),
    ]


def planned(project: int, files: Sequence[DrawingFile], now: float) -> list[Statement]:
    """Each file about to be imported, its earlier progress (and upload) forgotten."""
    return [
        (
            (
                "INSERT INTO files (project_id, rel, size, mtime_ns, number, title, revision,"
                " discipline, drawing_date, received_date, area, drawing_set, review, state,"
                " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(project_id, rel) DO UPDATE SET size=excluded.size,"
                " mtime_ns=excluded.mtime_ns, number=excluded.number,"
                " title=excluded.title, revision=excluded.revision,"
                " discipline=excluded.discipline, drawing_date=excluded.drawing_date,"
                " received_date=excluded.received_date, area=excluded.area,"
                " drawing_set=excluded.drawing_set, review=excluded.review,"
                " state=excluded.state, upload_uuid=NULL, uploaded_at=NULL, drawing_id=NULL,"
                " area_id=NULL, set_id=NULL, batch_id=NULL, drawing_upload_id=NULL,"
                " error=NULL, owner=NULL, updated_at=excluded.updated_at"
            ),
            (
                project,
                f.rel,
                f.size,
                f.mtime_ns,
                f.number,
                f.title,
                f.revision,
                f.discipline,
                f.drawing_date,
                f.received_date,
                f.area,
                f.drawing_set,
                int(f.review),
                FileState.PLANNED,
                now,
            ),
        )
        for f in files
    ]


def rejected(
    project: int, rel: str, size: int, mtime_ns: int, state: FileState, reason: str, now: float
) -> Statement:
    """A file that cannot (failed) or should not (skipped) be imported as it is."""
    return (
        (
            "INSERT INTO files (project_id, rel, size, mtime_ns, state, error,"
            " updated_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT(project_id, rel)"
            " DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns,"
            " state=excluded.state, error=excluded.error, drawing_id=NULL,"
            " updated_at=excluded.updated_at"
        ),
        (project, rel, size, mtime_ns, state, reason, now),
    )


def sent(project: int, token: str, drawing_upload_id: int, now: float) -> list[Statement]:
    """The batch answered with its drawing upload, and its files imported in it."""
    return [
        (
            "UPDATE batches SET status=?, drawing_upload_id=? WHERE project_id=? AND token=?",
            (BatchState.SENT, drawing_upload_id, project, token),
        ),
        (
            (
                "UPDATE files SET state=?, drawing_upload_id=?, updated_at=?"
                " WHERE project_id=? AND batch_id=? AND state=?"
            ),
            (FileState.IMPORTED, drawing_upload_id, now, project, token, FileState.BATCHED),
        ),
    ]


def read_back(
    project: int, outcomes: Sequence[tuple[str, FileState, str | None]], now: float
) -> list[Statement]:
    """What the read-back found for each imported file still waiting: (rel, state, note)."""
    return [
        (
            # The note given; or, with none, the note kept, unless it said why the file was
            # still waiting. (The note and the flag are typed in the statement: PostgreSQL
            # cannot infer a parameter's type from `? IS NOT NULL`.)
            (
                "UPDATE files SET state=?, error=COALESCE(CAST(? AS TEXT),"
                " CASE WHEN state=? OR error LIKE ? THEN NULL ELSE error END),"
                " held_sha256=CASE WHEN ?=1 THEN sha256 ELSE held_sha256 END,"
                " updated_at=? WHERE project_id=? AND rel=? AND state IN (?, ?)"
            ),
            (
                state,
                note,
                FileState.NEEDS_REVIEW,
                UNCONFIRMED + "%",
                int(state == FileState.VERIFIED),
                now,
                project,
                rel,
                *WAITING,
            ),
        )
        for rel, state, note in outcomes
    ]


def not_processed(project: int, drawing_upload_id: int, error: str, now: float) -> Statement:
    """Procore could not process a drawing upload: its files still waiting fail."""
    return (
        (
            "UPDATE files SET state=?, error=?, updated_at=?"
            " WHERE project_id=? AND drawing_upload_id=? AND state IN (?, ?)"
        ),
        (FileState.FAILED, error, now, project, drawing_upload_id, *WAITING),
    )
