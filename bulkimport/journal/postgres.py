"""The PostgreSQL journal: the same tables in a database several machines can reach, for
runners that do not keep their disk (CI jobs, containers) and, later, several workers.

The password never comes from the config (journal_location refuses a URL with one): libpq
reads it from PGPASSWORD, or from ~/.pgpass or the file PGPASSFILE names.

One run per project: the run holds a session-level advisory lock for each of its projects, its
key derived from the project id, on the connection the journal writes through, for as long as
the run lasts. The
server drops it when the session ends, however the run ends (a SIGKILL, a lost network), as
the kernel drops the SQLite journal's flock. A reader (status, the dry run, the report) takes
no lock and opens its session read-only. Nothing is kept on the runner's disk: the run's
record for `bulkimport status` is a row of the journal's runs table (runs.py).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import structlog
from psycopg.rows import RowMaker

from bulkimport.errors import JournalBusy, JournalError, JournalUnavailable
from bulkimport.journal.database import POSTGRES, Database, lock_key
from bulkimport.journal.schema import check_version, prepare, stored_version
from bulkimport.journal_location import PASSWORD_HINT, JournalUrl

log = structlog.get_logger("bulkimport.journal")

CONNECT_TIMEOUT = 10  # seconds; a server that does not answer stops the run before it starts


class Record:
    """A row that answers to column names and to positions, as sqlite3.Row does."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._index[key] if isinstance(key, str) else key]

    def keys(self) -> list[str]:
        return list(self._index)


def records(cursor: psycopg.Cursor[Any]) -> RowMaker[Record]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> Record:
        return Record(values, index)

    return make


def run_lock_key(project_id: int) -> int:
    """The advisory lock's key for runs on a project. Advisory locks are per database, so one
    key per project in one journal."""
    return lock_key(f"bulkimport.run:{project_id}")


def open_database(
    url: JournalUrl, readonly: bool, projects: Sequence[int] = (), shared: bool = False
) -> Database:
    """The journal in the database at `url`, its schema made current for a run on `projects`
    and the lock of each held (`shared`: the workers' shared lock, which a single run's
    excludes and which excludes a single run); read-only, neither lock nor change."""
    db = Database(_connect(url, readonly), POSTGRES)
    with _closed_on_failure(db, url):
        if readonly:
            check_version(db, str(url))
        else:
            # In one order for every run, so two runs on overlapping projects never each hold
            # a lock the other waits for (neither waits: the one that finds a lock taken stops).
            for project in sorted(set(projects)):
                _hold_run_lock(db, url, project, shared)
            prepare(db, str(url), projects)
    return db


def open_for_records(url: JournalUrl) -> Database:
    """A connection of a run's record of its own (journal/runs.py): it writes one row of the
    runs table, which the run's open made; it takes no lock and changes no schema."""
    return Database(_connect(url, readonly=False), POSTGRES)


def open_if_present(url: JournalUrl) -> Database | None:
    """The journal read-only, or None when the database holds none yet (no run made it)."""
    db = Database(_connect(url, readonly=True), POSTGRES)
    with _closed_on_failure(db, url):
        if stored_version(db) is None:
            db.close()
            return None
        check_version(db, str(url))
    return db


@contextlib.contextmanager
def _closed_on_failure(db: Database, url: JournalUrl) -> Iterator[None]:
    """On a failure the session ends, and any lock it took with it; the driver's errors
    become the journal's."""
    try:
        yield
    except JournalError:
        db.close()
        raise
    except psycopg.Error as exc:
        db.close()
        raise JournalError(f"cannot open journal {url}: {_reason(exc)}") from None


def _connect(url: JournalUrl, readonly: bool) -> psycopg.Connection[Record]:
    options: dict[str, Any] = {
        # Who holds a lock, as pg_stat_activity shows it to a run that is refused.
        "application_name": f"bulkimport pid {os.getpid()} on {socket.gethostname()}"[:63],
    }
    if "connect_timeout" not in url.url:
        options["connect_timeout"] = CONNECT_TIMEOUT
    if readonly:
        options["options"] = "-c default_transaction_read_only=on"
    try:
        return psycopg.connect(url.url, autocommit=True, row_factory=records, **options)
    except psycopg.Error as exc:
        reason = _reason(exc)
        hint = f"; {PASSWORD_HINT}" if "password" in reason else ""
        raise JournalUnavailable(
            f"cannot reach the journal database {url}: {reason}{hint}"
        ) from None


def _reason(exc: psycopg.Error) -> str:
    """libpq's message on one line (it names the server and the user, never the password)."""
    return " ".join(str(exc).split())


def _hold_run_lock(db: Database, url: JournalUrl, project_id: int, shared: bool = False) -> None:
    key = run_lock_key(project_id)
    kind = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    taken = db.first(f"SELECT {kind}(?)", (key,))
    if taken is not None and taken[0]:
        log.debug("journal.locked", journal=str(url), project=project_id)
        return
    holder = _holder(db, key) or "another session"
    # The locks taken before this one go with the session, which the caller closes.
    raise JournalBusy(
        f"another bulkimport run ({holder}) holds the lock on project {project_id} in the "
        f"journal {url}; this run was not started"
    )


def _holder(db: Database, key: int) -> str | None:
    """Who holds the lock, as its session named itself; None when that cannot be seen."""
    unsigned = key % 2**64  # pg_locks shows a bigint key as two oids: high and low 32 bits
    found = db.first(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
        " AND l.classid::bigint = ? AND l.objid::bigint = ?"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (unsigned >> 32, unsigned & 0xFFFFFFFF),
    )
    return str(found[0]) if found and found[0] else None
