"""The journal in PostgreSQL as a user meets it through `bulkimport run` and `status`: a value
that is neither a path nor a postgresql:// URL, a password in the URL, a server out of reach
and a second run on the same project are each refused before anything is sent to Procore; the
password comes from where libpq looks for it (PGPASSWORD, a password file), never the config."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkimport import journal_location
from bulkimport.emulator import RunningEmulator
from bulkimport.errors import JournalBusy, JournalUnavailable
from bulkimport.journal.store import Journal
from bulkimport.journal_location import JournalUrl
from tests.postgres_server import PostgresServer

from .test_cli import bulkimport, emu, project

pytestmark = pytest.mark.anyio

__all__ = ["emu"]  # the fixture, shared with test_cli


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def at(url: str, folder: Path) -> JournalUrl:
    """The journal at `url`, its local files (the run's pid) in `folder`, as a config there
    would have them."""
    location = journal_location.parse("engine.journal", url)
    assert isinstance(location, JournalUrl)
    return location.anchored(folder)


async def run(config: Path, *args: str) -> tuple[int, str]:
    done = await bulkimport("run", "--config", str(config), "--log-format", "json", *args)
    return done.returncode, done.stderr.decode()


@pytest.mark.no_journal("it names its own journal, refused before any journal is opened")
@pytest.mark.parametrize(
    "journal", ["mysql://importer@db.example.com/drawings", "http://127.0.0.1/journal"]
)
async def test_a_journal_url_of_another_scheme_is_refused_before_anything_is_sent(
    emu: RunningEmulator, tmp_path: Path, journal: str
):
    config = project(emu, tmp_path, journal=journal)
    code, stderr = await run(config)
    assert code == 2, stderr
    scheme = journal.split(":")[0]
    assert f"must be a file path (SQLite) or a postgresql:// URL, not a {scheme}:// URL" in stderr
    # Before, such a value became a SQLite file in a folder named after the URL.
    left = sorted([p.name async for p in anyio.Path(tmp_path).iterdir()])
    assert left == ["bulkimport.toml", "drawings"]
    assert emu.world.ledger.requests == {}
    # The command line's --journal is checked as the config's is.
    code, stderr = await run(project(emu, tmp_path), "--journal", journal)
    assert code == 2, stderr
    assert f"not a {scheme}:// URL" in stderr


@pytest.mark.no_journal("it names its own journal, refused before any journal is opened")
@pytest.mark.parametrize(
    "journal",
    [
        "postgresql://importer:s3cret-pw@db.example.com/drawings",
        "postgres://importer@db.example.com/drawings?password=s3cret-pw",
    ],
)
async def test_a_password_in_the_journal_url_is_refused_and_never_repeated(
    emu: RunningEmulator, tmp_path: Path, journal: str
):
    code, stderr = await run(project(emu, tmp_path, journal=journal))
    assert code == 2, stderr
    assert "the password must not be in the journal URL" in stderr
    assert "set PGPASSWORD in the environment, or put the password in ~/.pgpass" in stderr
    assert "s3cret-pw" not in stderr
    assert emu.world.ledger.requests == {}


@pytest.mark.no_journal("it names its own journal, refused before any journal is opened")
async def test_a_server_out_of_reach_stops_the_run_before_anything_is_sent(
    emu: RunningEmulator, tmp_path: Path
):
    journal = f"postgresql://importer@127.0.0.1:{closed_port()}/drawings"
    config = project(emu, tmp_path, journal=journal)
    code, stderr = await run(config)
    assert code == 3, stderr
    assert f"stopped: cannot reach the journal database {journal}: " in stderr
    assert "Connection refused" in stderr
    assert emu.world.ledger.requests == {}  # not even a token
    # The dry run reads the journal too, and says the same.
    code, stderr = await run(config, "--dry-run")
    assert (code, "cannot reach the journal database" in stderr) == (3, True), stderr


async def test_the_advisory_lock_is_the_projects_and_names_its_holder(
    postgres_url: str, tmp_path: Path
):
    """A second run on the project is refused (at the command line: test_resilience's
    concurrent run, on both backends), naming the holder's session; another project's run in
    the same database is not held up."""
    location = at(postgres_url, tmp_path)
    running = await Journal.open(location, projects=(7,))
    try:
        with pytest.raises(JournalBusy, match="holds the lock on project 7 in the journal") as busy:
            await Journal.open(location, projects=(7,))
        assert f"bulkimport pid {os.getpid()} on {socket.gethostname()}" in str(busy.value)
        await (await Journal.open(location, projects=(8,))).close()
    finally:
        await running.close()


async def test_a_run_and_its_status_on_a_postgresql_journal(
    emu: RunningEmulator, tmp_path: Path, postgres_url: str
):
    config = project(emu, tmp_path, journal=postgres_url)
    done = await bulkimport("status", "--config", str(config))
    assert done.returncode == 2
    assert f"no journal at {postgres_url}: nothing has run yet" in done.stderr.decode()
    code, stderr = await run(config)
    assert code == 0, stderr
    done = await bulkimport("status", "--config", str(config))
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr
    assert f"journal {postgres_url}" in out
    assert "verified   4" in out
    assert "exit status 0" in out  # the record the run left in the journal's runs table
    # Run again: nothing changed, so nothing is sent but the token.
    before: dict[str, Any] = dict(emu.world.ledger.requests)
    code, stderr = await run(config)
    assert code == 0, stderr
    sent = {k: n - before.get(k, 0) for k, n in emu.world.ledger.requests.items()}
    assert {k for k, n in sent.items() if n} <= {"POST /oauth/token"}


async def test_the_password_comes_from_pgpassword_or_a_password_file(
    postgres_server: PostgresServer,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    url = postgres_server.password_role(postgres_url.rsplit("/", 1)[1], "right-pw")
    location = at(url, tmp_path)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no.pgpass"))  # not this machine's
    with pytest.raises(JournalUnavailable, match="set PGPASSWORD in the environment") as none:
        await Journal.open(location, projects=(7,))
    assert "password" in str(none.value)
    monkeypatch.setenv("PGPASSWORD", "wrong-pw")
    with pytest.raises(JournalUnavailable, match="password authentication failed") as wrong:
        await Journal.open(location, projects=(7,))
    assert "wrong-pw" not in str(wrong.value)
    monkeypatch.setenv("PGPASSWORD", "right-pw")
    await (await Journal.open(location, projects=(7,))).close()
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres_server.port}:*:importer:right-pw\n")
    passfile.chmod(0o600)  # libpq ignores a password file others can read
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    journal = await Journal.open(location, projects=(7,))
    assert await journal.counts() == {}
    await journal.close()
