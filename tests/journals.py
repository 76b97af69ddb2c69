"""Where a test's journal is: a SQLite file in its tmp_path, or a fresh database on the
tests' own PostgreSQL server. Tests that take the `journal_location` fixture run on both; what
they read of the journal behind the engine's back, they read through `rows`."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bulkimport import journal_location
from bulkimport.journal_location import JournalLocation, JournalUrl


@dataclass(frozen=True, slots=True)
class JournalPlace:
    backend: str  # "sqlite" or "postgresql"
    setting: str  # what engine.journal says: a file path or a URL
    folder: Path  # the test's folder, where a config would be

    @property
    def location(self) -> JournalLocation:
        """The journal as the settings carry it (a URL's local files in the test's folder)."""
        found = journal_location.parse("engine.journal", self.setting)
        return found.anchored(self.folder) if isinstance(found, JournalUrl) else found

    @property
    def integrity_error(self) -> type[Exception]:
        """What the database raises for a key written twice."""
        return sqlite3.IntegrityError if self.backend == "sqlite" else psycopg.IntegrityError

    def exists(self) -> bool:
        """Whether a journal was made: the file, or the database's tables."""
        if self.backend == "sqlite":
            return Path(self.setting).exists()
        return self.rows("SELECT to_regclass('meta')") != [(None,)]

    def index_exists(self, name: str) -> bool:
        if self.backend == "sqlite":
            return bool(self.rows("SELECT 1 FROM sqlite_master WHERE name=?", (name,)))
        return self.rows("SELECT to_regclass(?)", (name,)) != [(None,)]

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """`sql` (with `?` placeholders) run on a connection of its own."""
        if self.backend == "sqlite":
            with closing(sqlite3.connect(self.setting)) as db, db:  # committed on the way out
                return db.execute(sql, params).fetchall()
        with psycopg.connect(self.setting, autocommit=True) as pg:
            cursor = pg.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []
