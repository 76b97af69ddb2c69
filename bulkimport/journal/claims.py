"""Several workers on one PostgreSQL journal: who holds which file and batch, until when.

A worker claims a row by writing its id in `claimed_by` and a time in `lease_until`, taken from
the database's clock (workers on several hosts need not agree on the time). A claim is taken
only of a row nobody holds, or whose lease has run out, with `SELECT ... FOR UPDATE SKIP
LOCKED` inside the UPDATE: of two workers reaching for one row at once, one locks it and the
other passes over it, and PostgreSQL checks the lease again on the row it locked (READ
COMMITTED re-reads an updated row before it locks it), so a row is never held by two.

A worker renews its leases while it works; one killed with SIGKILL stops renewing, and its rows
are free to the others once the lease has run out. The statements are PostgreSQL's: worker
mode refuses a SQLite journal (one file on one machine has no one to share with).

Claims are taken, and work is counted, within one project (a worker's journal is scoped to
one): the same path in another project is another file. Renewing and releasing are the
worker's, over every project it holds rows in.

Every function is blocking: the Journal runs each on its worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bulkimport.errors import ClaimLost
from bulkimport.journal.database import Database
from bulkimport.journal.reads import in_chunks, pending_batches
from bulkimport.journal.rows import FileRow, PendingBatch, row_from
from bulkimport.journal.statements import Statement
from bulkimport.models import Batch, BatchState, FileState

NOW = "EXTRACT(EPOCH FROM clock_timestamp())"  # the database's clock, in unix seconds
FREE = f"(claimed_by IS NULL OR claimed_by=? OR lease_until < {NOW})"  # ? is the worker
# What is not done yet: a file on its way, in a batch not answered, or sent and not yet seen in
# the drawing log. A worker waits for the last too (a later pass's verify follows it), so that
# it does not end reporting as not arrived a file another worker has just sent.
UNFINISHED = (
    FileState.PLANNED,
    FileState.UPLOADING,
    FileState.UPLOADED,
    FileState.BATCHED,
    FileState.IMPORTED,
)


@dataclass(frozen=True, slots=True)
class Worker:
    """One worker: `id` is this process's (host, pid and a nonce, so a restarted worker is a
    new one), `owner` its credential's tag (an upload and an Idempotency-Token are the user's:
    only a worker of the same credential can attach the one or resend under the other)."""

    id: str
    owner: str
    lease: float  # seconds


def claim_files(
    db: Database, worker: Worker, project: int, found: Sequence[tuple[str, int, int]]
) -> tuple[set[str], set[str]]:
    """Claim these files (rel, size, mtime_ns) where free: the ones taken, and of those the
    ones the journal did not know. Such a file gets a row first (planned, held by this
    worker), so that two workers that find a new file at once cannot both take it. A batched
    file is its batch's."""
    fresh: set[str] = set()
    with db.transaction():
        for rel, size, mtime_ns in sorted(found):  # one order for all: no deadlock on inserts
            if db.first(
                "INSERT INTO files (project_id, rel, size, mtime_ns, state, updated_at,"
                f" claimed_by, lease_until) VALUES (?, ?, ?, ?, ?, {NOW}, ?, {NOW} + ?)"
                " ON CONFLICT (project_id, rel) DO NOTHING RETURNING rel",
                (project, rel, size, mtime_ns, FileState.PLANNED, worker.id, worker.lease),
            ):
                fresh.add(rel)
        taken = in_chunks(
            db,
            f"UPDATE files SET claimed_by=?, lease_until={NOW} + ? WHERE project_id=? AND rel IN"
            f" (SELECT rel FROM files WHERE project_id=? AND {FREE} AND state<>?"
            " AND rel IN ({marks}) FOR UPDATE SKIP LOCKED) RETURNING rel",
            [rel for rel, _, _ in found],
            (worker.id, worker.lease, project, project, worker.id, FileState.BATCHED),
        )
        return {str(row[0]) for row in taken}, fresh


def claim_only(row: FileRow) -> bool:
    """A row claim_files made that no plan has filled in yet (a plan always sets the number)."""
    return row.state == FileState.PLANNED and row.number is None


def claim_leftovers(db: Database, worker: Worker, project: int) -> None:
    """Claim the project's batches never answered and uploads never batched that nobody holds:
    a dead worker's, or an earlier run's. A batch's files go with it."""
    with db.transaction():
        tokens = [
            str(row[0])
            for row in db.rows(
                f"UPDATE batches SET claimed_by=?, lease_until={NOW} + ? WHERE project_id=?"
                " AND token IN (SELECT token FROM batches WHERE project_id=? AND status=?"
                f" AND {FREE} FOR UPDATE SKIP LOCKED) RETURNING token",
                (worker.id, worker.lease, project, project, BatchState.PENDING, worker.id),
            )
        ]
        list(
            in_chunks(
                db,
                f"UPDATE files SET claimed_by=?, lease_until={NOW} + ?"
                " WHERE project_id=? AND state=? AND batch_id IN ({marks}) RETURNING rel",
                tokens,
                (worker.id, worker.lease, project, FileState.BATCHED),
            )
        )
        db.run(
            f"UPDATE files SET claimed_by=?, lease_until={NOW} + ? WHERE project_id=? AND rel IN"
            f" (SELECT rel FROM files WHERE project_id=? AND state=? AND {FREE}"
            " FOR UPDATE SKIP LOCKED)",
            (worker.id, worker.lease, project, project, FileState.UPLOADED, worker.id),
        )


def held_batches(db: Database, worker: Worker, project: int, own: bool) -> list[PendingBatch]:
    """The project's pending batches this worker holds, of its own credential (`own`; a batch
    of no recorded credential, from a single run, counts as its own) or of another's."""
    mine = "(owner IS NULL OR owner=?)" if own else "owner<>?"
    return pending_batches(db, project, f"AND claimed_by=? AND {mine}", (worker.id, worker.owner))


def given_back(project: int, token: str, reason: str, now: float) -> list[Statement]:
    """A batch of another credential that Procore does not hold: closed, and its files back
    to planned without their uploads (this worker's user cannot attach them), to be uploaded
    again by whoever claims them."""
    return [
        (
            "UPDATE batches SET status=?, error=? WHERE project_id=? AND token=?",
            (BatchState.CLOSED, reason, project, token),
        ),
        (
            (
                "UPDATE files SET state=?, batch_id=NULL, upload_uuid=NULL, uploaded_at=NULL,"
                " owner=NULL, updated_at=? WHERE project_id=? AND batch_id=? AND state=?"
            ),
            (FileState.PLANNED, now, project, token, FileState.BATCHED),
        ),
    ]


def batch_created(
    db: Database, worker: Worker, project: int, batch: Batch, statements: list[Statement]
) -> None:
    """A new batch, journalled only while this worker still holds every file in it: a worker
    whose lease ran out (paused, cut off) must not batch files another has taken since."""
    rels = [item.file.rel for item in batch.items]
    with db.transaction():
        held = list(
            in_chunks(
                db,
                "SELECT rel FROM files WHERE project_id=? AND claimed_by=? AND rel IN ({marks})"
                " FOR UPDATE",
                rels,
                (project, worker.id),
            )
        )
        if len(held) != len(set(rels)):
            raise ClaimLost(
                f"worker {worker.id} no longer holds {len(rels) - len(held)} of the files of a "
                "new batch (its lease ran out and another worker took them): not batched"
            )
        for sql, params in [*statements, held_by(worker, project, batch.token)]:
            db.run(sql, params)


def held_by(worker: Worker, project: int, token: str) -> Statement:
    """A new batch, this worker's credential's and held by it."""
    return (
        (
            f"UPDATE batches SET owner=?, claimed_by=?, lease_until={NOW} + ?"
            " WHERE project_id=? AND token=?"
        ),
        (worker.owner, worker.id, worker.lease, project, token),
    )


def still_holds(db: Database, worker: Worker, project: int, token: str) -> bool:
    """Whether this worker still holds the batch, its lease renewed; checked before each send."""
    return (
        db.first(
            f"UPDATE batches SET lease_until={NOW} + ? WHERE project_id=? AND token=?"
            " AND claimed_by=? RETURNING token",
            (worker.lease, project, token, worker.id),
        )
        is not None
    )


def renew(db: Database, worker: Worker, project: int) -> None:
    """Every lease this worker holds in the project, moved on. Per project: in a run over
    several, each project's worker loop keeps its own leases."""
    with db.transaction():
        for table in ("files", "batches"):
            db.run(
                f"UPDATE {table} SET lease_until={NOW} + ? WHERE project_id=? AND claimed_by=?",
                (worker.lease, project, worker.id),
            )


def release(db: Database, worker: Worker, project: int) -> None:
    """Everything this worker holds in the project, free to the others at once (between
    passes, and when it ends). Per project: another project of the same run may be in the
    middle of a pass, holding its own files."""
    with db.transaction():
        for table in ("files", "batches"):
            db.run(
                f"UPDATE {table} SET claimed_by=NULL, lease_until=NULL"
                " WHERE project_id=? AND claimed_by=?",
                (project, worker.id),
            )


@dataclass(frozen=True, slots=True)
class Remaining:
    """What is left of a project's migration, for a worker deciding whether to go round
    again."""

    held_elsewhere: int  # unfinished, under another worker's live lease
    free: int  # unfinished, held by nobody (or a lease that ran out)


def remaining(db: Database, worker: Worker, project: int) -> Remaining:
    """A batched file is held by whoever holds its batch: a batch is renewed after its files
    and made after their last renewal, so a dead worker's files can come free while its batch
    is still held, and cannot be taken without it."""
    marks = ",".join("?" * len(UNFINISHED))
    found = db.first(
        "SELECT COUNT(*) FILTER (WHERE holder IS NOT NULL AND holder<>?"
        f" AND until >= {NOW}), COUNT(*) FILTER (WHERE holder IS NULL OR until < {NOW})"
        " FROM (SELECT CASE WHEN b.token IS NULL THEN f.claimed_by ELSE b.claimed_by END"
        " AS holder, CASE WHEN b.token IS NULL THEN f.lease_until ELSE b.lease_until END"
        " AS until FROM files f LEFT JOIN batches b ON f.state=? AND b.token=f.batch_id"
        f" AND b.project_id=f.project_id WHERE f.project_id=? AND f.state IN ({marks})) t",
        (worker.id, FileState.BATCHED, project, *UNFINISHED),
    )
    return Remaining(int(found[0]), int(found[1])) if found else Remaining(0, 0)


def held_uploads(db: Database, worker: Worker, project: int) -> list[FileRow]:
    """The project's uploads never batched that this worker holds and its credential's user
    can attach."""
    return [
        row_from(r)
        for r in db.rows(
            "SELECT * FROM files WHERE project_id=? AND state=? AND claimed_by=?"
            " AND (owner IS NULL OR owner=?)",
            (project, FileState.UPLOADED, worker.id, worker.owner),
        )
    ]
