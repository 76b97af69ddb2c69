"""The SQLite journal: one file in WAL mode, private to its owner, with `<file>.lock` held for
as long as a run lasts (lock.py)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from bulkimport.errors import JournalError
from bulkimport.journal.database import SQLITE, Database
from bulkimport.journal.lock import hold_run_lock
from bulkimport.journal.schema import check_version, prepare


def open_file(path: Path, readonly: bool, projects: Sequence[int] = ()) -> Database:
    """The journal at `path`, its schema made current (created, or migrated) for a run on
    `projects`, and the run's lock held: one lock for the file, whatever the projects;
    read-only, neither lock nor change, so a reader never blocks a run."""
    lock = None if readonly else hold_run_lock(path)
    db: Database | None = None
    try:
        if readonly:
            connection = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
            )
            connection.row_factory = sqlite3.Row
            db = Database(connection, SQLITE)
            check_version(db, str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created private: it names every file of the archive.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            connection.row_factory = sqlite3.Row
            db = Database(connection, SQLITE, release=lock.close if lock else None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            prepare(db, str(path), projects)
    except (sqlite3.Error, JournalError) as exc:
        if db is not None:
            db.close()  # and the lock with it
        elif lock is not None:
            lock.close()
        if isinstance(exc, JournalError):
            raise
        raise JournalError(f"cannot open journal {path}: {exc}") from exc
    return db
