"""The CLI where a run cannot start or cannot finish, as a user meets it: a subprocess, the exit
status and the one line that says why. (The paths a run takes are in test_cli.py.)"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkimport import run_status
from bulkimport.emulator import EmulatorConfig, Faults, RunningEmulator, serve
from bulkimport.journal_location import beside
from tests.journals import JournalPlace

from .conftest import config_dict, run_env, write_config
from .test_cli import bulkimport, project

pytestmark = pytest.mark.anyio

# Procore's API answers nothing (every connection dropped); the token still comes.
UNREACHABLE = Faults(drop_rate=1.0, scope=frozenset({"api"}))


@pytest.fixture
async def emu() -> Any:
    async with serve(EmulatorConfig(processing_delay=0)) as running:
        yield running


def impatient(emu: RunningEmulator, tmp_path: Path) -> Path:
    """A project whose Procore calls are tried once: a dropped connection is final."""
    config = project(emu, tmp_path)
    raw = config_dict(emu, tmp_path / "drawings")
    raw["procore"]["max_attempts"] = 1
    write_config(config, raw)
    return config


async def test_a_source_that_is_not_a_folder_is_a_usage_error(emu: RunningEmulator, tmp_path: Path):
    config = project(emu, tmp_path)
    nowhere = tmp_path / "nowhere"
    done = await bulkimport("run", "--config", str(config), "--source", str(nowhere))
    assert done.returncode == 2
    assert f"source root {nowhere} is not a folder" in done.stderr.decode()
    assert emu.world.ledger.requests == {}


async def test_a_dry_run_with_refused_credentials_stops_with_exit_3(
    emu: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    config = project(emu, tmp_path)
    done = await bulkimport("run", "--config", str(config), "--dry-run", secret="wrong")
    assert done.returncode == 3
    assert "stopped: Procore refused the client credentials" in done.stderr.decode()
    assert done.stdout == b""  # no plan printed as if it were priced
    assert not journal_location.exists()


async def test_a_dry_run_with_a_missing_manifest_is_a_usage_error(
    emu: RunningEmulator, tmp_path: Path
):
    config = project(emu, tmp_path)
    raw = config_dict(emu, tmp_path / "drawings")
    raw["source"]["manifest"] = str(tmp_path / "register.csv")
    write_config(config, raw)
    done = await bulkimport("run", "--config", str(config), "--dry-run", secret=None)
    assert done.returncode == 2
    assert f"cannot read manifest {tmp_path / 'register.csv'}" in done.stderr.decode()


async def test_procore_out_of_reach_stops_the_run_with_exit_1(tmp_path: Path):
    async with serve(EmulatorConfig(processing_delay=0, faults=UNREACHABLE)) as emu:
        done = await bulkimport("run", "--config", str(impatient(emu, tmp_path)))
        uploads = emu.world.ledger.requests.get("POST /rest/v1.1/projects/{project_id}/uploads")
    assert done.returncode == 1
    assert "bulkimport: the run stopped:" in done.stderr.decode()
    assert uploads is None  # it stopped before sending any file


@pytest.mark.sqlite_only(
    "the record beside a SQLite journal; a PostgreSQL journal keeps it in its runs table "
    "(test_run_records.py)"
)
async def test_an_unwritable_status_record_is_logged_and_the_run_goes_on(
    emu: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    config = project(emu, tmp_path)
    journal = beside(journal_location.location)
    run_status.status_path(journal).mkdir()  # a folder where the record goes: OSError
    done = await bulkimport("run", "--config", str(config), "--log-format", "json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.decode().splitlines()]
    assert "status.unwritten" in {e["event"] for e in events}
    assert "4 files: 4 new" in done.stdout.decode()


async def test_status_without_a_journal_or_with_a_foreign_file_exits_2(
    emu: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    config = project(emu, tmp_path)
    done = await bulkimport("status", "--config", str(config))
    assert done.returncode == 2
    assert f"no journal at {journal_location.setting}: nothing has run yet" in done.stderr.decode()
    if journal_location.backend != "sqlite":
        return  # a foreign file in the journal's place: SQLite's alone
    journal = tmp_path / "journal.sqlite3"
    journal.write_bytes(b"these are not the rows you are looking for\n" * 100)
    done = await bulkimport("status", "--config", str(config))
    assert done.returncode == 2
    assert str(journal) in done.stderr.decode()
    assert journal.read_bytes().startswith(b"these are not")  # read only: left as it was


@pytest.mark.sqlite_only(
    "the record beside a SQLite journal; a PostgreSQL journal keeps it in its runs table "
    "(test_run_records.py)"
)
async def test_status_watch_off_a_terminal_prints_a_line_a_second_until_the_run_ends(
    emu: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    """A run recorded as going (its pid alive and named by the journal's lock) is followed;
    when its final record appears, watching ends with the outcome."""
    config = project(emu, tmp_path)
    journal = beside(journal_location.location)  # where the run's record and pid go
    assert (await bulkimport("run", "--config", str(config))).returncode == 0
    last = run_status.read(journal)
    assert last is not None
    me = os.getpid()  # alive for as long as the test runs
    # The record as it was while that run went on, but naming this process as the run.
    running = replace(last, pid=me, finished_at=None, exit_status=None)
    run_status.write(journal, running)
    await anyio.Path(f"{journal}.lock").write_text(str(me))
    command = [sys.executable, "-m", "bulkimport", "status", "--config", str(config), "--watch"]
    async with await anyio.open_process(command, env=run_env()) as watcher:
        assert watcher.stdout is not None
        seen = b""
        with anyio.fail_after(60):
            while b"running: pid" not in seen:
                seen += await watcher.stdout.receive()
        run_status.write(journal, replace(running, finished_at=running.updated_at, exit_status=0))
        with anyio.fail_after(30):
            async for chunk in watcher.stdout:
                seen += chunk
            assert await watcher.wait() == 0
    out = seen.decode()
    assert f"running: pid {me}" in out
    assert "4 of 4 files handled (verified 4)" in out
    final = out.rstrip().splitlines()[-1]
    assert final.startswith(f"last run: pid {me}")
    assert "exit status 0" in final


async def test_reconcile_says_why_it_could_not_finish(tmp_path: Path):
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        config = project(emu, tmp_path)
        refused = await bulkimport("reconcile", "--config", str(config), secret="wrong")
        raw = config_dict(emu, tmp_path / "drawings")
        raw["procore"]["project_id"] = 999_999
        other = tmp_path / "other.toml"
        write_config(other, raw)
        unknown = await bulkimport("reconcile", "--config", str(other))
    assert refused.returncode == 3
    assert "stopped: Procore refused the client credentials" in refused.stderr.decode()
    assert unknown.returncode == 2
    assert "answered 404: Project not found" in unknown.stderr.decode()  # Procore's words
    async with serve(EmulatorConfig(processing_delay=0, faults=UNREACHABLE)) as emu:
        down = await bulkimport("reconcile", "--config", str(impatient(emu, tmp_path)))
    assert down.returncode == 1
    assert "bulkimport: reconcile stopped:" in down.stderr.decode()


async def test_a_demo_of_no_files_is_a_usage_error():
    done = await bulkimport("demo", "--files", "0")
    assert done.returncode == 2
    assert "--files must be at least 1" in done.stderr.decode()


@pytest.mark.sqlite_only(
    "the record beside a SQLite journal; a PostgreSQL journal keeps it in its runs table "
    "(test_run_records.py)"
)
async def test_status_tells_a_killed_run_and_a_record_it_cannot_read(
    emu: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    config = project(emu, tmp_path)
    journal = beside(journal_location.location)
    assert (await bulkimport("run", "--config", str(config))).returncode == 0
    last = run_status.read(journal)
    assert last is not None  # the finished run's process is gone, like a killed one's
    run_status.write(journal, replace(last, finished_at=None, exit_status=None))
    killed = (await bulkimport("status", "--config", str(config))).stdout.decode()
    assert f"last run: pid {last.pid}" in killed
    assert "ended without a final record (killed?)" in killed
    assert "4 of 4 files handled (verified 4)" in killed
    assert "the journal keeps the state: run again to resume" in killed

    run_status.write(journal, replace(last, figures={"written by": "another version"}))
    unreadable = (await bulkimport("status", "--config", str(config))).stdout.decode()
    assert "exit status 0: figures unreadable" in unreadable
    assert "verified   4" in unreadable  # the journal's counts do not depend on it

    await anyio.Path(run_status.status_path(journal)).unlink()
    done = await bulkimport("status", "--config", str(config))
    assert done.returncode == 0
    assert "no run has recorded its progress beside this journal yet" in done.stdout.decode()
