"""The journal's queries that only read, as plain functions of the connection: the Journal runs
each on its worker thread. Statements with many values go 500 at a time, since SQLite caps the
parameters of one statement (and PostgreSQL plans a short list better)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from bulkimport.journal.database import Database, Row
from bulkimport.journal.rows import WAITING, FileRow, PendingBatch, row_from
from bulkimport.models import BatchState, FileState

CHUNK = 500  # values in one IN (...)


def in_chunks(
    db: Database, sql: str, values: Sequence[Any], before: Sequence[Any] = ()
) -> Iterator[Row]:
    """`sql`'s rows for every value, its `{marks}` filled a chunk at a time; `before` are the
    parameters that come ahead of the chunk's."""
    for start in range(0, len(values), CHUNK):
        chunk = values[start : start + CHUNK]
        yield from db.rows(sql.format(marks=",".join("?" * len(chunk))), (*before, *chunk))


def rows_by_rel(db: Database, rels: Sequence[str]) -> dict[str, FileRow]:
    records = in_chunks(db, "SELECT * FROM files WHERE rel IN ({marks})", rels)
    return {record["rel"]: row_from(record) for record in records}


def waiting_in(
    db: Database, columns: str, drawing_upload_ids: Sequence[int], also: str = ""
) -> Iterator[Row]:
    """Rows of files still waiting for the drawing log in these drawing uploads."""
    sql = f"SELECT {columns} FROM files WHERE state IN (?, ?) {also}"
    return in_chunks(db, sql + " AND drawing_upload_id IN ({marks})", drawing_upload_ids, WAITING)


def in_state(db: Database, state: FileState) -> list[FileRow]:
    return [row_from(r) for r in db.rows("SELECT * FROM files WHERE state=?", (state,))]


def pending_batches(
    db: Database, where: str = "", params: Sequence[Any] = ()
) -> list[PendingBatch]:
    """The pending batches (those also matching `where`, on the batches table, with `params`),
    oldest first, each with its batched files."""
    batches = db.rows(
        "SELECT token, area_id, set_id, review, created_at FROM batches"
        f" WHERE status=? {where} ORDER BY created_at",
        (BatchState.PENDING, *params),
    )
    return [
        PendingBatch(
            b["token"],
            b["area_id"],
            b["set_id"],
            bool(b["review"]),
            tuple(
                row_from(r)
                for r in db.rows(
                    "SELECT * FROM files WHERE batch_id=? AND state=? ORDER BY rel",
                    (b["token"], FileState.BATCHED),
                )
            ),
            float(b["created_at"]),
        )
        for b in batches
    ]


def unverified(db: Database) -> dict[int, int]:
    """Drawing uploads whose files still wait for Procore: id -> how many files."""
    rows = db.rows(
        "SELECT drawing_upload_id, COUNT(*) FROM files WHERE state IN (?, ?)"
        " AND drawing_upload_id IS NOT NULL GROUP BY drawing_upload_id",
        WAITING,
    )
    return {int(row[0]): int(row[1]) for row in rows}


def counts(db: Database) -> dict[str, int]:
    return {
        str(row[0]): int(row[1])
        for row in db.rows("SELECT state, COUNT(*) FROM files GROUP BY state")
    }


def page(db: Database, columns: str, after: str, size: int) -> list[Row]:
    """Up to `size` files after the path `after`, in path order."""
    return db.rows(f"SELECT {columns} FROM files WHERE rel > ? ORDER BY rel LIMIT ?", (after, size))
