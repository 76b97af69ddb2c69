"""Engine tests run the real engine against the emulator on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from bulkimport.emulator import EmulatorConfig, RunningEmulator, serve
from bulkimport.outcome import RunResult
from bulkimport.pipeline import run_import
from bulkimport.procore.client import ProcoreClient
from bulkimport.report import report_entries
from bulkimport.samples import pdf_frame
from bulkimport.settings import Credentials, ProcoreSettings, Settings, parse_settings
from tests import postgres_server as postgres
from tests.journals import JournalPlace, picks_the_journal
from tests.postgres_server import PostgresServer

CREDENTIALS = Credentials("emulator-client-id", "emulator-client-secret")


def pdf_bytes(size: int, seed: int = 0) -> bytes:
    """A valid one-page PDF of exactly `size` bytes (at least about 700) whose content depends
    on `seed`."""
    filler = hashlib.sha256(str(seed).encode()).hexdigest().encode()
    padding = size
    for _ in range(3):  # the frame's length depends on the padding's digits: settle it
        head, tail = pdf_frame("X-1", f"sample {seed}", padding)
        padding = size - len(head) - len(tail)
    assert padding >= 0, f"a PDF needs more than {size} bytes"
    body = (filler * (padding // len(filler) + 1))[:padding]
    head, tail = pdf_frame("X-1", f"sample {seed}", padding)
    return head + body + tail


def write_pdf(path: Path, size: int = 2048, seed: int = 0) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    content = pdf_bytes(size, seed)
    path.write_bytes(content)
    return content


def config_dict(emu: RunningEmulator, root: Path, **engine: Any) -> dict[str, Any]:
    """A config for a run over `root` into the emulator; its journal is the test's (on the
    backend the test runs on: `default_journal`) unless `engine` names one."""
    journal = engine.pop("journal") if "journal" in engine else default_journal(root)
    return _config(emu, root, journal=journal, **engine)


def _config(emu: RunningEmulator, root: Path, **engine: Any) -> dict[str, Any]:
    info = emu.startup_info()
    return {
        "procore": {
            "api_base": emu.api_base,
            "login_base": emu.login_base,
            "company_id": info["company_id"],
            "project_id": info["project_id"],
            "max_attempts": 4,
        },
        "source": {"root": str(root)},
        "target": {"drawing_area": "Building A", "drawing_set": "Issued for Construction"},
        "engine": {
            "batch_max_wait": 0.5,
            "verify_interval": 0.05,
            "expiry_margin": 0.0,
            **engine,
        },
    }


def make_settings(emu: RunningEmulator, root: Path, **engine: Any) -> Settings:
    return parse_settings(config_dict(emu, root, **engine), base=root.parent)


def procore_settings(emu: RunningEmulator) -> ProcoreSettings:
    """The emulator's Procore settings alone, for tests of the client: no journal in them."""
    root = Path(os.devnull).parent
    return parse_settings(_config(emu, root, journal=os.devnull), base=root).procore


@dataclass
class _Journals:
    """The journals of the running test: its own, on the backend it runs on (None for a test
    marked no_journal), the others it asks for (`other_journal`), and the files handed to a
    test marked no_journal, which must not exist after it."""

    place: JournalPlace | None
    request: pytest.FixtureRequest
    unopened: list[Path] = field(default_factory=list)


_running: _Journals | None = None


@pytest.fixture(autouse=True)
def _test_journals(journal_backend: str | None, request: pytest.FixtureRequest) -> Iterator[None]:
    """Make the test's journal (when it has one) the settings builders' default."""
    global _running
    if journal_backend is not None:
        _running = _Journals(request.getfixturevalue("journal_location"), request)
    elif request.node.get_closest_marker("no_journal") is not None:
        _running = _Journals(None, request)
    try:
        yield
        unopened = _running.unopened if _running is not None else []
        opened = [str(path) for path in unopened if path.exists()]
        assert opened == [], f"a test marked no_journal made a journal: {opened}"
    finally:
        _running = None


def _journals() -> _Journals:
    if _running is None:
        raise AssertionError(
            "this test builds settings with the default journal, yet runs on no backend: "
            "tests/journals.py did not see it reach the journal (through a fixture?); "
            "let the test take the journal_location fixture"
        )
    return _running


@picks_the_journal
def default_journal(root: Path) -> str:
    """The journal of a run over `root`: a SQLite file beside `root`, or the test's database."""
    journals = _journals()
    if journals.place is None or journals.place.backend == "sqlite":
        path = root.parent / "journal.sqlite3"
        if journals.place is None:
            journals.unopened.append(path)
        return str(path)
    return journals.place.setting


@picks_the_journal
def other_journal(path: Path) -> str:
    """Another journal, as another machine would have, on the test's backend: the SQLite file
    `path`, or a database of its own (dropped after the test)."""
    journals = _journals()
    if journals.place is None or journals.place.backend == "sqlite":
        if journals.place is None:
            journals.unopened.append(path)
        return str(path)
    server: PostgresServer = journals.request.getfixturevalue("postgres_server")
    name = postgres.database_name()
    url = server.create_database(name)
    journals.request.addfinalizer(lambda: server.drop_database(name))
    return url


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with serve(EmulatorConfig(processing_delay=0.0)) as emu:
        yield emu


@pytest.fixture
async def client(emulator: RunningEmulator) -> AsyncIterator[ProcoreClient]:
    async with aiohttp.ClientSession() as session:
        yield ProcoreClient(procore_settings(emulator), CREDENTIALS, session)


def write_config(path: Path, raw: dict[str, dict[str, Any]]) -> None:
    """A TOML file from a config dict (strings, numbers and booleans are spelled as in JSON)."""
    lines = []
    for section, values in raw.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")


def run_command(config: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bulkimport",
        "run",
        "--config",
        str(config),
        "--log-format",
        "json",
    ]


def run_env(secret: str | None = CREDENTIALS.client_secret) -> dict[str, str]:
    """This process's environment with the emulator's credentials (or none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCORE_")}
    if secret is not None:
        env |= {"PROCORE_CLIENT_ID": CREDENTIALS.client_id, "PROCORE_CLIENT_SECRET": secret}
    return env


async def wait_for(emu: RunningEmulator, endpoint: str, count: int, limit: float = 60) -> None:
    """Until the emulator has received `count` calls to `endpoint`."""
    ledger = emu.world.ledger
    with anyio.fail_after(limit):
        await ledger.until(lambda: ledger.requests.get(endpoint, 0) >= count)


async def advance_clock(emu: RunningEmulator, seconds: float) -> None:
    """Move the emulator's clock: tokens, policies and the attach deadline age at once."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emu.api_base}/_emulator/clock", json={"advance": seconds}) as response,
    ):
        assert response.status == 200


async def emulator_state(emu: RunningEmulator, *sections: str) -> dict[str, Any]:
    query = f"?sections={','.join(sections)}" if sections else ""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{emu.api_base}/_emulator/state{query}") as response,
    ):
        assert response.status == 200
        result: dict[str, Any] = await response.json()
        return result


async def emulator_token(emu: RunningEmulator, http: aiohttp.ClientSession) -> str:
    """An access token for the emulator's client, got the way any other integration gets one."""
    async with http.post(
        f"{emu.login_base}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CREDENTIALS.client_id,
            "client_secret": CREDENTIALS.client_secret,
        },
    ) as answer:
        token: str = (await answer.json())["access_token"]
        return token


async def import_archive(emu: RunningEmulator, root: Path, **engine: Any) -> RunResult:
    """A run of the real engine over `root` into the emulator, with engine settings changed."""
    return await run_import(make_settings(emu, root, **engine), CREDENTIALS, progress=False)


async def report_of(result: RunResult) -> dict[str, dict[str, Any]]:
    """The run's report entries by path."""
    return {f["path"]: f async for f in report_entries(result)}
