from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres_server as postgres
from tests.journals import BACKENDS, JournalPlace, uses_a_journal
from tests.postgres_server import PostgresServer


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only."""
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session. Without the binaries the tests that need it
    skip, except in CI (CI=true), where a missing server must not pass for a green suite."""
    try:
        server = postgres.start()
    except postgres.Unavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the PostgreSQL tests: {exc}")
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database for one test, dropped after it."""
    name = postgres.database_name()
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that has a journal runs once per backend: `journal_backend` is parametrised for
    every test that takes `journal_location`, and for every engine test whose code builds
    settings with the default journal (tests/journals.py, `uses_a_journal`). A test marked
    `sqlite_only` (its subject is the SQLite file) runs on SQLite alone, one marked
    `no_journal` (it builds settings, but what it runs never opens a journal) runs once, and one
    that takes `postgres_url` (its subject is PostgreSQL: shared workers, the advisory lock) on
    PostgreSQL alone."""
    names = metafunc.fixturenames
    if "journal_backend" not in names:
        return
    marked = metafunc.definition.get_closest_marker
    if marked("sqlite_only") is not None:
        backends = ["sqlite"]  # and said in its id
    elif marked("no_journal") is not None:
        return
    elif "journal_location" in names or uses_a_journal(metafunc.function):
        backends = ["postgresql"] if "postgres_url" in names else list(BACKENDS)
    else:
        return
    metafunc.parametrize("journal_backend", backends, indirect=True)


@pytest.fixture
def journal_backend(request: pytest.FixtureRequest) -> str | None:
    """The backend of the test's journals, or None for a test that has no journal."""
    backend: str | None = getattr(request, "param", None)
    return backend


@pytest.fixture
def journal_location(
    journal_backend: str | None, request: pytest.FixtureRequest, tmp_path: Path
) -> JournalPlace:
    """The test's journal, on each backend in turn."""
    assert journal_backend is not None, "journal_backend is parametrised for this test"
    if journal_backend == "sqlite":
        return JournalPlace("sqlite", str(tmp_path / "journal.sqlite3"), tmp_path)
    return JournalPlace("postgresql", request.getfixturevalue("postgres_url"), tmp_path)
