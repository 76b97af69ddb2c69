"""Where a run's record (run_status.RunRecord) goes, and where `bulkimport status` finds it:
the file beside a SQLite journal, or the `runs` table of a PostgreSQL one, which any machine
that reaches the database reads: the workers of one migration on several hosts, a runner that
keeps no disk.

A row is one run or worker, keyed host/pid/nonce, written about twice a second through a
connection of its own (the run's journal connection is the stages'; its thread is theirs) and
once more at the end with the exit status. Its times are the database's clock, so no machine's
clock decides whether a run is going: a row not finished and not updated for STALE_AFTER
seconds is a run that is not going any more (killed, cut off), with no pid to look up on a
machine the reader may not be on. Rows stay bounded: when a run ends, those not live and
beyond the KEEP most recent are deleted.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from bulkimport import run_status
from bulkimport.errors import JournalError
from bulkimport.journal.database import Database, Row
from bulkimport.journal_location import JournalLocation, JournalUrl
from bulkimport.run_status import RunRecord

STALE_AFTER = 15.0  # seconds without a write: a run writes twice a second, and a few seconds
# more while it settles its outcome, between its last record and its final one
KEEP = 100  # finished (or ended) records kept: the last run's, and its history, for a while
RETRY_AFTER = 5.0  # seconds a record waits after a write failed: a database out of reach
# (connect_timeout) must not hold up every tick of the display that writes it
NOW = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"  # the database's clock
COLUMNS = "host, pid, started_at, updated_at, finished_at, exit_status, figures"


@dataclass(frozen=True, slots=True)
class RunIdentity:
    """Who writes a record: the key of its row, and what a reader is shown of where it runs."""

    run_id: str  # host/pid/nonce: a pid the host reuses later is another run
    host: str
    pid: int
    projects: str  # the run's project ids, "7,8"

    @classmethod
    def this_process(cls, projects: Sequence[int]) -> RunIdentity:
        host, pid = socket.gethostname(), os.getpid()
        run_id = f"{host}/{pid}/{uuid.uuid4().hex[:8]}"
        return cls(run_id, host, pid, ",".join(str(p) for p in projects))


@dataclass(frozen=True, slots=True)
class Runs:
    """The runs table as a reader finds it, times on the reader's clock."""

    live: tuple[RunRecord, ...]  # going now, the first started first
    last: RunRecord | None  # the most recently written, live or not: with none live, the last run


def publish(db: Database, me: RunIdentity, record: RunRecord) -> None:
    """The record as `me`'s row, stamped with the database's clock; the record's own times
    give only how long the run has gone. A final record (finished_at) also prunes old rows."""
    finished = NOW if record.finished_at is not None else "NULL"
    db.run(
        "INSERT INTO runs (run_id, host, pid, projects, started_at, updated_at, finished_at,"
        " exit_status, figures)"
        f" VALUES (?, ?, ?, ?, {NOW} - ?, {NOW}, {finished}, ?, ?)"
        " ON CONFLICT (run_id) DO UPDATE SET updated_at=excluded.updated_at,"
        " finished_at=excluded.finished_at, exit_status=excluded.exit_status,"
        " figures=excluded.figures",
        (
            me.run_id,
            me.host,
            me.pid,
            me.projects,
            max(0.0, record.updated_at - record.started_at),
            record.exit_status,
            json.dumps(record.figures),
        ),
    )
    if record.finished_at is not None:
        prune(db)


def prune(db: Database, keep: int = KEEP) -> None:
    """Rows not live and beyond the `keep` most recent, deleted (a live row is never)."""
    db.run(
        f"DELETE FROM runs WHERE (finished_at IS NOT NULL OR updated_at < {NOW} - ?)"
        " AND run_id NOT IN (SELECT run_id FROM runs ORDER BY updated_at DESC LIMIT ?)",
        (STALE_AFTER, keep),
    )


def read(db: Database) -> Runs:
    """The live runs and the last one; none in a journal made before the table was (it gets
    it when a run next opens it for writing)."""
    found = db.first("SELECT to_regclass('runs')")
    if found is None or found[0] is None:
        return Runs((), None)
    clock = db.first(f"SELECT {NOW}")
    assert clock is not None
    shift = time.time() - float(clock[0])  # database time to this machine's
    live = db.rows(
        f"SELECT {COLUMNS} FROM runs WHERE finished_at IS NULL AND updated_at >= {NOW} - ?"
        " ORDER BY started_at, run_id",
        (STALE_AFTER,),
    )
    last = db.first(f"SELECT {COLUMNS} FROM runs ORDER BY updated_at DESC, run_id LIMIT 1")
    return Runs(
        tuple(_record(row, shift) for row in live),
        None if last is None else _record(last, shift),
    )


def _record(row: Row, shift: float) -> RunRecord:
    try:
        figures: dict[str, Any] = json.loads(row["figures"])
    except ValueError:
        figures = {}  # shown as unreadable, as a record another version wrote
    finished, status = row["finished_at"], row["exit_status"]
    return RunRecord(
        pid=int(row["pid"]),
        started_at=float(row["started_at"]) + shift,
        updated_at=float(row["updated_at"]) + shift,
        figures=figures,
        finished_at=None if finished is None else float(finished) + shift,
        exit_status=None if status is None else int(status),
        host=str(row["host"]),
    )


class RunLog(Protocol):
    """Where a run writes its record; blocking, like the journal's calls. A write that fails
    raises OSError or JournalError: the caller reports it and goes on."""

    def write(self, record: RunRecord) -> None: ...

    def close(self) -> None: ...


def run_log(journal: JournalLocation, me: RunIdentity) -> RunLog:
    """The runs table of a PostgreSQL journal, or the file beside a SQLite one."""
    if isinstance(journal, JournalUrl):
        return _TableLog(journal, me)
    return _FileLog(journal)


@dataclass(frozen=True, slots=True)
class _FileLog:
    journal: Path

    def write(self, record: RunRecord) -> None:
        run_status.write(self.journal, record)

    def close(self) -> None:
        pass


class _TableLog:
    """The runs table, through a connection of the record's own: made at the first write, and
    again RETRY_AFTER seconds after a write failed (a network blip costs a few records, not the
    rest); the records in between are left out, the failure having been raised once."""

    def __init__(self, url: JournalUrl, me: RunIdentity) -> None:
        self._url = url
        self._me = me
        self._db: Database | None = None
        self._paused_until = 0.0  # time.monotonic()

    def write(self, record: RunRecord) -> None:
        import psycopg  # only for a PostgreSQL journal, as the journal's own connection

        from bulkimport.journal import postgres

        if time.monotonic() < self._paused_until:
            return
        try:
            if self._db is None:
                self._db = postgres.open_for_records(self._url)
            publish(self._db, self._me, replace(record, host=self._me.host))
        except (psycopg.Error, JournalError) as exc:
            self.close()
            self._paused_until = time.monotonic() + RETRY_AFTER
            if isinstance(exc, JournalError):
                raise  # the connection's, which says why in its own words
            reason = " ".join(str(exc).split())
            raise JournalError(f"cannot record the run in {self._url}: {reason}") from None

    def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            db.close()
