from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres_server as postgres
from tests.journals import JournalPlace
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


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_location(request: pytest.FixtureRequest, tmp_path: Path) -> JournalPlace:
    """The test's journal, on each backend in turn."""
    if request.param == "sqlite":
        return JournalPlace("sqlite", str(tmp_path / "journal.sqlite3"), tmp_path)
    return JournalPlace("postgresql", request.getfixturevalue("postgres_url"), tmp_path)
