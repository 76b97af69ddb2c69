"""One connection to the journal's database, SQLite or PostgreSQL, and the dialect its
statements are written in. The store, its queries and the schema talk only to this, in one
set of statements written for SQLite (`?` placeholders); `Dialect.sql` turns them into
PostgreSQL's (`%s`), and the few statements that cannot be shared are a dialect's fields.

Every call is blocking: the Journal runs each on its worker thread, one at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Protocol

Statement = tuple[str, Sequence[Any]]


class Row(Protocol):
    """A row that answers to column names and to positions, as sqlite3.Row does."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Connection(Protocol):
    """What the journal uses of a DB-API connection; sqlite3's and psycopg's both have it."""

    def execute(self, sql: str, params: Sequence[Any], /) -> Any: ...

    def cursor(self) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    # The statements are written with `?` (and never hold a literal one); PostgreSQL's driver
    # takes `%s`, and a literal `%` doubled.
    placeholder: str
    # One row when the journal's `meta` table exists (a journal, of some version, is there).
    has_meta: str
    # The type of the path column: paths are compared and ordered by their code points on
    # both, as Python orders them, whatever the database's default collation.
    key_text: str
    # Run first in the transaction that creates or migrates the schema, so that two processes
    # opening one new database do not race (SQLite: the file's write lock does it).
    setup_lock: str | None
    # Run before the connection is closed: the server drops a session's advisory locks only
    # once its backend has noticed the session ended, a moment after the close returns, and a
    # run started in that moment (the next step of a job) would be refused.
    unlock: str | None = None

    def sql(self, statement: str) -> str:
        if self.placeholder == "?":
            return statement
        return statement.replace("%", "%%").replace("?", self.placeholder)


def lock_key(name: str) -> int:
    """A PostgreSQL advisory lock's key for `name`: 64 bits of its hash, signed as a bigint."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    has_meta="SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'",
    key_text="TEXT",
    setup_lock=None,
)
POSTGRES = Dialect(
    name="postgresql",
    placeholder="%s",
    has_meta="SELECT 1 WHERE to_regclass('meta') IS NOT NULL",
    key_text='TEXT COLLATE "C"',
    # A transaction-level advisory lock: released at commit, and apart from the run's lock.
    setup_lock=f"SELECT pg_advisory_xact_lock({lock_key('bulkimport.schema')})",
    unlock="SELECT pg_advisory_unlock_all()",
)


class Database:
    def __init__(
        self,
        connection: Connection,
        dialect: Dialect,
        release: Callable[[], None] | None = None,
    ) -> None:
        self._connection = connection
        self.dialect = dialect
        self._release = release  # the run's lock, when its holder is not the connection

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        result: list[Row] = self._connection.execute(self.dialect.sql(sql), params).fetchall()
        return result

    def first(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._connection.execute(self.dialect.sql(sql), params)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction, rolled back whole on any error. Both connections are in
        autocommit mode (sqlite3's isolation_level=None, psycopg's autocommit), so BEGIN and
        COMMIT are the journal's own, the same on both."""
        self.run("BEGIN")
        try:
            yield
        except BaseException:
            # The first error is the one to see: a connection that is gone cannot roll back.
            with contextlib.suppress(Exception):
                self.run("ROLLBACK")
            raise
        self.run("COMMIT")

    def write(self, statements: Iterable[Statement]) -> None:
        """The statements in one transaction; a run of the same statement goes as one
        executemany (one round trip per batch of rows on PostgreSQL, not one per row). One
        statement alone is a transaction already (autocommit): no BEGIN and COMMIT around it,
        which on PostgreSQL would be two more round trips for most transitions."""
        pending = list(statements)
        if len(pending) == 1:
            self.run(*pending[0])
            return
        with self.transaction():
            cursor = self._connection.cursor()
            for sql, group in groupby(pending, key=lambda statement: statement[0]):
                cursor.executemany(self.dialect.sql(sql), [params for _, params in group])

    def close(self) -> None:
        try:
            if self.dialect.unlock is not None:
                # A connection that is gone has no lock left to let go of.
                with contextlib.suppress(Exception):
                    self.run(self.dialect.unlock)
            self._connection.close()
        finally:
            if self._release is not None:
                self._release()
