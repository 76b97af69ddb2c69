"""The journal: one row per source file and one per batch of each Procore project, the source of
truth for resuming, in a SQLite file (WAL; the default) or a PostgreSQL database; the engine
does not know which. A Journal is one project's rows (a file is its project and its path), and
its siblings (for_project) the other projects' of the same run, on the same connection.

A file moves planned → uploading → uploaded(uuid) → batched(batch) → imported(drawing upload)
→ verified (read back from Procore's drawing log) or needs_review (waiting in Items to Review),
or to failed(reason) from any step. A file's sha256 is the content last uploaded; held_sha256
is the content Procore is known to hold (read back, or found there), so a later run can tell
changed content from content Procore has, even after an upload that never landed. A batch's
Idempotency-Token is written before its request is sent, so a retry or a resumed run sends the
same token and never imports twice. Upload policies, signatures and access tokens are never
stored here.

Every call runs on a worker thread, one at a time, so the event loop never waits on the
database.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio

from bulkimport.errors import JournalError
from bulkimport.journal import claims, reads, runs, sqlite
from bulkimport.journal import statements as batch_sql
from bulkimport.journal.claims import Worker
from bulkimport.journal.database import POSTGRES, Database, Row
from bulkimport.journal.rows import (
    FileRow,
    Leftovers,
    PendingBatch,
    row_from,
)
from bulkimport.journal_location import JournalLocation, JournalUrl
from bulkimport.models import Batch, DrawingFile, FileState, Target

T = TypeVar("T")


@dataclass(frozen=True, slots=True, eq=False)
class _Opened:
    """What a journal and its siblings (Journal.for_project) share: one database, reached on
    one thread at a time, the worker, and the projects whose locks a write-open holds."""

    database: Database
    path: JournalLocation  # the file, or the database's URL (never with a password)
    limiter: anyio.CapacityLimiter
    worker: Worker | None
    writes_for: tuple[int, ...]  # empty on a read-only open


class Journal:
    """The journal as one project's: every statement reads and writes `project`'s rows only
    (the same path in another project is another file). A reader opened with no project is
    over every project: it counts and lists them all, and writes nothing."""

    def __init__(self, opened: _Opened, project: int | None, closes: bool) -> None:
        self._opened = opened
        self._db = opened.database
        self.path = opened.path
        self._limiter = opened.limiter
        self.worker = opened.worker  # one of several workers on the journal (claims.py), or None
        self.project = project  # None: a reader over every project
        self._closes = closes  # the journal that opened the database; not a sibling

    @classmethod
    async def open(
        cls,
        path: JournalLocation,
        *,
        projects: Sequence[int] = (),
        readonly: bool = False,
        worker: Worker | None = None,
    ) -> Journal:
        """The journal, its schema made current and the run's lock held, for a run on
        `projects` (at least one): on a PostgreSQL journal, the lock of each project's runs
        (shared among workers, with `worker`); on SQLite, the file's. Read-only, neither lock
        nor change, and `projects` may be none: a reader over every project. The journal is
        `projects[0]`'s; `for_project` gives the others'."""
        named = tuple(dict.fromkeys(projects))
        if not readonly and not named:
            raise ValueError("a journal opened for writing needs the project(s) its run is on")
        return await anyio.to_thread.run_sync(cls._open, path, named, readonly, worker)

    @classmethod
    def _open(
        cls,
        path: JournalLocation,
        projects: tuple[int, ...],
        readonly: bool,
        worker: Worker | None = None,
    ) -> Journal:
        if isinstance(path, JournalUrl):
            from bulkimport.journal import postgres  # psycopg and libpq: ~10 MB, only for it

            shared = worker is not None
            database = postgres.open_database(path, readonly, projects, shared)
            return cls._of(database, path, projects, readonly, worker)
        return cls._of(sqlite.open_file(path, readonly, projects), path, projects, readonly)

    @classmethod
    def _of(
        cls,
        database: Database,
        path: JournalLocation,
        projects: tuple[int, ...],
        readonly: bool,
        worker: Worker | None = None,
    ) -> Journal:
        writes_for = () if readonly else projects
        opened = _Opened(database, path, anyio.CapacityLimiter(1), worker, writes_for)
        return cls(opened, projects[0] if projects else None, closes=True)

    def for_project(self, project: int) -> Journal:
        """The journal as `project`'s: a sibling on the same database, thread, worker and lock.
        Opened for writing, the journal gives only the projects it was opened for (it holds
        their locks); a reader, any. A sibling's close leaves the database open: the journal
        that opened it closes it, for all."""
        writes_for = self._opened.writes_for
        if writes_for and project not in writes_for:
            raise ValueError(
                f"project {project} is not one the journal {self.path} was opened for "
                f"({', '.join(str(p) for p in writes_for)}): its run holds no lock on it"
            )
        return Journal(self._opened, project, closes=False)

    def _one_project(self) -> int:
        """The project this journal reads and writes; a reader over every project has none to
        write for, nor to look a path up in (a path is a file only within its project)."""
        if self.project is None:
            raise JournalError(
                f"the journal {self.path} was opened to read every project: name one "
                "(for_project) to write, or to read one project's files"
            )
        return self.project

    async def claiming(self, fn: Callable[..., T], *args: Any) -> T:
        """One of claims.py's functions, run with this journal's database, worker and project."""
        return await self._run(fn, self._db, self.worker, self._one_project(), *args)

    @classmethod
    async def open_if_present(
        cls, path: JournalLocation, *, projects: Sequence[int] = ()
    ) -> Journal | None:
        """The journal read-only, or None when no run has made one yet (no file, or a
        database without its tables): for the dry run and reconcile, which write nothing.
        `projects[0]`'s, or with none, a reader over every project."""
        named = tuple(dict.fromkeys(projects))
        return await anyio.to_thread.run_sync(cls._open_if_present, path, named)

    @classmethod
    def _open_if_present(cls, path: JournalLocation, projects: tuple[int, ...]) -> Journal | None:
        if isinstance(path, Path):
            return cls._open(path, projects, True) if path.exists() else None
        from bulkimport.journal import postgres  # psycopg and libpq: ~10 MB, only for it

        database = postgres.open_if_present(path)
        return None if database is None else cls._of(database, path, projects, True)

    async def projects(self) -> list[int]:
        """The projects the journal holds files or batches of, whatever this one's scope."""
        return await self._run(reads.projects, self._db)

    async def run_records(self) -> runs.Runs:
        """The runs a PostgreSQL journal records in its runs table (runs.py): those going now,
        and the last. A SQLite journal's run keeps its record in a file beside it instead."""
        if self._db.dialect is not POSTGRES:
            return runs.Runs((), None)
        return await self._run(runs.read, self._db)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def close(self) -> None:
        """The database closed, and with it the run's locks, by the journal that opened it. A
        sibling's close does nothing: its opener's siblings may still be at work."""
        if self._closes:
            await self._run(self._db.close)

    def _write(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        self._db.write(statements)  # one transaction

    # Planning ---------------------------------------------------------------------------

    async def lookup(self, rels: Sequence[str]) -> dict[str, FileRow]:
        return await self._run(reads.rows_by_rel, self._db, self._one_project(), rels)

    async def plan(self, files: Sequence[DrawingFile]) -> None:
        """Record files about to be imported; earlier progress on them is forgotten."""
        await self._run(self._write, batch_sql.planned(self._one_project(), files, time.time()))

    async def claim(
        self, found: Sequence[tuple[str, int, int]]
    ) -> tuple[set[str], dict[str, FileRow]]:
        """A worker's claim on files (rel, size, mtime_ns): those it took, and the rows of
        those the journal knew before (a new file's is only the claim's)."""
        held, fresh = await self.claiming(claims.claim_files, found)
        rows = await self.lookup(sorted(held - fresh))
        # A row that is only a claim (a later revision held for its wave, or a claim whose
        # worker died before planning it) describes no file: the file is new.
        return held, {rel: row for rel, row in rows.items() if not claims.claim_only(row)}

    async def reject(
        self, rel: str, size: int, mtime_ns: int, reason: str, state: FileState = FileState.FAILED
    ) -> None:
        """A file that cannot (failed) or should not (skipped) be imported as it is; a later
        run looks at it again."""
        project = self._one_project()
        statement = batch_sql.rejected(project, rel, size, mtime_ns, state, reason, time.time())
        await self._run(self._write, [statement])

    async def touch(self, rel: str, size: int, mtime_ns: int) -> None:
        """The file's bytes did not change (same sha256); only its stat did."""
        await self._set(rel, size=size, mtime_ns=mtime_ns)

    # Transitions ------------------------------------------------------------------------

    async def _set(self, rel: str, **values: Any) -> None:
        await self._run(self._write, [self._update(rel, values, held=False)])

    async def _set_held(self, rel: str, **values: Any) -> None:
        """A step of the file's upload: a worker writes it only while it holds the file, so a
        worker whose lease lapsed (paused, cut off) cannot undo another's progress on it."""
        await self._run(self._write, [self._update(rel, values, held=True)])

    def _update(self, rel: str, values: dict[str, Any], held: bool) -> tuple[str, Sequence[Any]]:
        columns = ", ".join(f"{name}=?" for name in values)
        sql = f"UPDATE files SET {columns}, updated_at=? WHERE project_id=? AND rel=?"
        where = (self._one_project(), rel)
        if held and self.worker is not None:
            return sql + " AND claimed_by=?", (
                *values.values(),
                time.time(),
                *where,
                self.worker.id,
            )
        return sql, (*values.values(), time.time(), *where)

    async def uploading(
        self,
        rel: str,
        drawing_id: int | None,
        target: Target,
        received_date: str | None,
        note: str | None = None,
    ) -> None:
        """On its way; `received_date` as it will be sent (a policy may have chosen it)."""
        await self._set_held(
            rel,
            state=FileState.UPLOADING,
            drawing_id=drawing_id,
            area_id=target.area_id,
            set_id=target.set_id,
            received_date=received_date,
            error=note,
            owner=self.worker.owner if self.worker else None,
        )

    async def skipped(
        self, rel: str, note: str, drawing_id: int, sha256: str | None = None
    ) -> None:
        """Procore already has this revision of `drawing_id`: not sent, and while the file
        stays as it is, not looked at again. With `sha256`, that content is taken as the one
        Procore holds."""
        values: dict[str, Any] = {"state": FileState.SKIPPED, "error": note}
        if sha256 is not None:
            values["held_sha256"] = sha256
        await self._set_held(rel, drawing_id=drawing_id, **values)

    async def uploaded(self, rel: str, uuid: str, issued_at: float, sha256: str) -> None:
        await self._set_held(
            rel, state=FileState.UPLOADED, upload_uuid=uuid, uploaded_at=issued_at, sha256=sha256
        )

    async def failed(self, rels: Iterable[str], reason: str) -> None:
        """Files whose upload failed (a worker's: only those it holds)."""
        values = {"state": FileState.FAILED, "error": reason}
        await self._run(self._write, [self._update(rel, values, held=True) for rel in rels])

    async def batch_created(self, batch: Batch) -> None:
        """Written before the request: the token and its items, in one transaction (a
        worker's only while it holds every file of the batch)."""
        statements = batch_sql.created(self._one_project(), batch, time.time())
        if self.worker is not None:
            await self.claiming(claims.batch_created, batch, statements)
            return
        await self._run(self._write, statements)

    async def holds(self, token: str) -> bool:
        """Whether this run may send batch `token`: always, but for a worker whose lease on
        it ran out (another worker has taken it over, and sends it under the same token)."""
        return self.worker is None or await self.claiming(claims.still_holds, token)

    async def give_back(self, token: str, reason: str) -> None:
        """Another credential's batch Procore does not hold (claims.given_back)."""
        statements = claims.given_back(self._one_project(), token, reason, time.time())
        await self._run(self._write, statements)

    async def batch_split(
        self,
        token: str,
        failed: Sequence[tuple[str, str]],
        parts: Sequence[Batch],
        why: str,
    ) -> None:
        """Procore refused batch `token`: the files it named fail (rel, reason), the rest move
        to `parts`, and the batch is closed, in one transaction, so a run killed at any point
        resends either the old batch whole or the parts, never a mix under the old token."""
        now, project = time.time(), self._one_project()
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "UPDATE files SET state=?, error=?, updated_at=? WHERE project_id=? AND rel=?",
                (FileState.FAILED, reason, now, project, rel),
            )
            for rel, reason in failed
        ]
        for part in parts:
            statements += batch_sql.created(project, part, now)
            if self.worker is not None:  # the parts are the worker's, as the batch was
                statements.append(claims.held_by(self.worker, project, part.token))
        statements += batch_sql.closed(project, token, why, now)
        await self._run(self._write, statements)

    async def batch_sent(self, token: str, drawing_upload_id: int) -> None:
        statements = batch_sql.sent(self._one_project(), token, drawing_upload_id, time.time())
        await self._run(self._write, statements)

    async def batch_closed(self, token: str, reason: str) -> None:
        """A batch that will not be sent again; its files that are still in it failed."""
        statements = batch_sql.closed(self._one_project(), token, reason, time.time())
        await self._run(self._write, statements)

    async def settled(self, outcomes: Sequence[tuple[str, FileState, str | None]]) -> None:
        """What the read-back found for each imported file: (rel, state, note)."""
        statements = batch_sql.read_back(self._one_project(), outcomes, time.time())
        await self._run(self._write, statements)

    async def annotate(self, rels: Sequence[str], note: str) -> None:
        """Why files are still where they are, for the report."""
        now, project = time.time(), self._one_project()
        sql = "UPDATE files SET error=?, updated_at=? WHERE project_id=? AND rel=?"
        await self._run(self._write, [(sql, (note, now, project, rel)) for rel in rels])

    async def imported_in(self, drawing_upload_ids: Sequence[int]) -> list[FileRow]:
        """The files of these drawing uploads not yet seen in the drawing log."""
        project = self._one_project()
        return await self._run(
            lambda: [
                row_from(r) for r in reads.waiting_in(self._db, project, "*", drawing_upload_ids)
            ]
        )

    async def places_of(self, drawing_upload_ids: Sequence[int]) -> set[tuple[int, int]]:
        """The (area, set) ids the direct imports of these drawing uploads still waiting for
        the drawing log went to."""
        columns, also = "DISTINCT area_id, set_id", "AND review=0"
        project = self._one_project()
        return await self._run(
            lambda: {
                (int(r[0] or 0), int(r[1] or 0))
                for r in reads.waiting_in(self._db, project, columns, drawing_upload_ids, also)
            }
        )

    async def outcome(self, drawing_upload_id: int, error: str) -> None:
        """Procore could not process a drawing upload: its files failed with `error`."""
        project = self._one_project()
        statement = batch_sql.not_processed(project, drawing_upload_id, error, time.time())
        await self._run(self._write, [statement])

    # Resuming and reporting -------------------------------------------------------------

    async def leftovers(self, root: Path) -> Leftovers:
        """What earlier runs left part-way (see `Leftovers`); files are rebuilt under `root`."""
        uploads = {}
        for row in await self._uploads_left():
            item = row.attachable(root)
            if item is not None:
                uploads[row.rel] = item
        return Leftovers(uploads, tuple(await self.pending_batches()), await self.unverified())

    async def _uploads_left(self) -> list[FileRow]:
        """A worker's are those it holds and its credential's user can attach (claims.py)."""
        if self.worker is not None:
            return await self.claiming(claims.held_uploads)
        return await self._run(reads.in_state, self._db, self._one_project(), FileState.UPLOADED)

    async def pending_batches(self) -> list[PendingBatch]:
        if self.worker is not None:
            return await self.claiming(claims.held_batches, True)
        return await self._run(reads.pending_batches, self._db, self._one_project())

    async def unverified(self) -> dict[int, int]:
        """Drawing uploads whose files still wait for Procore: id -> how many files."""
        return await self._run(reads.unverified, self._db, self._one_project())

    async def counts(self) -> dict[str, int]:
        """Files by state: the project's, or a reader over every project's, all of them."""
        return await self._run(reads.counts, self._db, self.project)

    async def stream(self, chunk: int = 1000) -> AsyncIterator[list[FileRow]]:
        """Every file row in path order, `chunk` rows at a time: a journal may hold 100,000.
        A reader over every project gives them project by project."""
        async for rows in self._pages("*", chunk):
            yield [row_from(r) for r in rows]

    async def states(self, chunk: int = 5000) -> AsyncIterator[list[tuple[str, FileState]]]:
        """Every file's path and state, in path order: what a run's outcome is counted from,
        without building a whole row for each of 100,000 files."""
        async for rows in self._pages("project_id, rel, state", chunk):
            yield [(r["rel"], FileState(r["state"])) for r in rows]

    async def _pages(self, columns: str, size: int) -> AsyncIterator[list[Row]]:
        after = reads.FIRST
        while rows := await self._run(reads.page, self._db, columns, self.project, after, size):
            yield rows
            after = (int(rows[-1]["project_id"]), str(rows[-1]["rel"]))
