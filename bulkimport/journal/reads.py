"""The journal's queries that only read, as plain functions of the connection: the Journal runs
each on its worker thread. Each reads one project's rows (a path is a file only within its
project); counts and pages read every project's for a reader that names none. Statements with
many values go 500 at a time, since SQLite caps the parameters of one statement (and
PostgreSQL plans a short list better)."""

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


def rows_by_rel(db: Database, project: int, rels: Sequence[str]) -> dict[str, FileRow]:
    sql = "SELECT * FROM files WHERE project_id=? AND rel IN ({marks})"
    return {record["rel"]: row_from(record) for record in in_chunks(db, sql, rels, (project,))}


def waiting_in(
    db: Database, project: int, columns: str, drawing_upload_ids: Sequence[int], also: str = ""
) -> Iterator[Row]:
    """Rows of the project's files still waiting for the drawing log in these drawing uploads."""
    sql = f"SELECT {columns} FROM files WHERE project_id=? AND state IN (?, ?) {also}"
    return in_chunks(
        db, sql + " AND drawing_upload_id IN ({marks})", drawing_upload_ids, (project, *WAITING)
    )


def in_state(db: Database, project: int, state: FileState) -> list[FileRow]:
    sql = "SELECT * FROM files WHERE project_id=? AND state=?"
    return [row_from(r) for r in db.rows(sql, (project, state))]


def pending_batches(
    db: Database, project: int, where: str = "", params: Sequence[Any] = ()
) -> list[PendingBatch]:
    """The project's pending batches (those also matching `where`, on the batches table, with
    `params`), oldest first, each with its batched files."""
    batches = db.rows(
        "SELECT token, area_id, set_id, review, created_at FROM batches"
        f" WHERE project_id=? AND status=? {where} ORDER BY created_at",
        (project, BatchState.PENDING, *params),
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
                    "SELECT * FROM files WHERE project_id=? AND batch_id=? AND state=?"
                    " ORDER BY rel",
                    (project, b["token"], FileState.BATCHED),
                )
            ),
            float(b["created_at"]),
            project,
        )
        for b in batches
    ]


def unverified(db: Database, project: int) -> dict[int, int]:
    """The project's drawing uploads whose files still wait for Procore: id -> how many files."""
    rows = db.rows(
        "SELECT drawing_upload_id, COUNT(*) FROM files WHERE project_id=? AND state IN (?, ?)"
        " AND drawing_upload_id IS NOT NULL GROUP BY drawing_upload_id",
        (project, *WAITING),
    )
    return {int(row[0]): int(row[1]) for row in rows}


def counts(db: Database, project: int | None) -> dict[str, int]:
    """Files by state: the project's, or with None every project's."""
    if project is None:
        rows = db.rows("SELECT state, COUNT(*) FROM files GROUP BY state")
    else:
        rows = db.rows(
            "SELECT state, COUNT(*) FROM files WHERE project_id=? GROUP BY state", (project,)
        )
    return {str(row[0]): int(row[1]) for row in rows}


def projects(db: Database) -> list[int]:
    """The projects the journal holds rows for (files or batches), in order."""
    rows = db.rows("SELECT project_id FROM files UNION SELECT project_id FROM batches")
    return sorted(int(row[0]) for row in rows)


# Where paging starts over every project: before the first (project, path).
FIRST = (-(2**63), "")


def page(
    db: Database, columns: str, project: int | None, after: tuple[int, str], size: int
) -> list[Row]:
    """Up to `size` files after `after` (project, path): the project's in path order, or
    with None every project's in (project, path) order. `columns` name project_id and rel."""
    if project is not None:
        sql = f"SELECT {columns} FROM files WHERE project_id=? AND rel > ? ORDER BY rel LIMIT ?"
        return db.rows(sql, (project, after[1], size))
    sql = (
        f"SELECT {columns} FROM files WHERE (project_id, rel) > (?, ?)"
        " ORDER BY project_id, rel LIMIT ?"
    )
    return db.rows(sql, (*after, size))
