"""Where a test's journal is: a SQLite file in its tmp_path, or a fresh database on the
tests' own PostgreSQL server. A test that has a journal runs on both (tests/conftest.py,
`pytest_generate_tests`): one that takes the `journal_location` fixture, and an engine test
whose code reaches a function that picks the test's journal (`picks_the_journal`: the default
journal of tests/engine/conftest.py's settings builders). What tests read of the journal behind
the engine's back, they read through `rows`."""

from __future__ import annotations

import dis
import importlib.util
import inspect
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any, TypeVar

import psycopg

from bulkimport import journal_location
from bulkimport.journal_location import JournalLocation, JournalUrl

BACKENDS = ("sqlite", "postgresql")


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


F = TypeVar("F", bound=Callable[..., Any])
_PICKERS: set[Callable[..., Any]] = set()


def picks_the_journal(function: F) -> F:
    """Mark a helper that picks the journal of the test that runs it: a test whose code reaches
    one runs on both backends without saying so."""
    _PICKERS.add(function)
    return function


def uses_a_journal(function: Callable[..., Any]) -> bool:
    """Whether `function` reaches a journal picker: through the names its code uses, followed
    into the functions (and helper classes' methods) of the tests' own modules. Fixtures are not
    followed: one that builds settings takes `journal_location`, or its tests do; a test this
    misses stops at the picker, which finds no backend chosen."""
    return _reaches(function, set())


def _reaches(function: Callable[..., Any], seen: set[Callable[..., Any]]) -> bool:
    function = inspect.unwrap(function)
    if function in _PICKERS:
        return True
    code = getattr(function, "__code__", None)
    if code is None or function in seen:
        return False
    seen.add(function)
    for found in _used(function, code):
        if isinstance(found, ModuleType) or not _ours(found):
            continue
        if inspect.isclass(found):
            if any(_reaches(m, seen) for m in vars(found).values() if inspect.isfunction(m)):
                return True
        elif callable(found) and _reaches(found, seen):
            return True
    return False


def _used(function: Callable[..., Any], code: CodeType) -> Iterator[object]:
    """What the global names of `code` (its nested functions' included) stand for, and what
    it imports inside itself (`from .conftest import config_dict` in a test's body)."""
    namespace: dict[str, Any] = getattr(function, "__globals__", {})
    for inner in _codes(code):
        yield from (namespace[name] for name in inner.co_names if name in namespace)
        module: ModuleType | None = None
        steps = list(dis.get_instructions(inner))
        for n, step in enumerate(steps):
            if step.opname == "IMPORT_NAME":
                level = steps[n - 2].argval if n >= 2 else 0  # LOAD_CONST level, fromlist
                module = _imported(step.argval, level, namespace.get("__package__"))
            elif step.opname == "IMPORT_FROM" and module is not None:
                yield getattr(module, step.argval, None)


def _imported(name: str, level: object, package: str | None) -> ModuleType | None:
    """The module an import inside a test names, if it is one of the tests' own."""
    if not isinstance(level, int):
        return None
    try:
        full = importlib.util.resolve_name("." * level + name, package)
    except (ImportError, ValueError):
        return None
    return importlib.import_module(full) if full.startswith("tests.") else None


def _codes(code: CodeType) -> Iterator[CodeType]:
    """`code` and the code of the functions nested in it."""
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _codes(const)


def _ours(thing: object) -> bool:
    return str(getattr(thing, "__module__", "")).startswith("tests.")
