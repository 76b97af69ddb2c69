"""The runs of a PostgreSQL journal, as `bulkimport status` shows them from any machine: a run
leaves its record in the journal's runs table, not in a file beside a config, so a status run
from another folder (another host, a fresh runner) shows the last run's outcome and figures,
every run or worker going, and a run that stopped writing (killed) as ended. Whether a record
is live is its age by the database's clock: the tests age a record by setting its time, never
by waiting."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkimport import journal_location
from bulkimport.emulator import RunningEmulator
from bulkimport.errors import JournalError
from bulkimport.journal import runs
from bulkimport.journal.runs import RunIdentity, run_log
from bulkimport.journal.store import Journal
from bulkimport.journal_location import JournalUrl
from bulkimport.run_status import RunRecord
from tests.journals import JournalPlace

from .conftest import config_dict, run_env, write_config
from .test_cli import bulkimport, emu, project
from .test_postgres_journal import closed_port

pytestmark = pytest.mark.anyio

__all__ = ["emu"]  # the fixture, shared with test_cli


def elsewhere(emu: RunningEmulator, folder: Path, url: str) -> Path:
    """A config on another machine: its own folder (its archive empty), the same journal."""
    (folder / "drawings").mkdir(parents=True)
    config = folder / "bulkimport.toml"
    write_config(config, config_dict(emu, folder / "drawings", journal=url))
    return config


def location(url: str, folder: Path) -> JournalUrl:
    found = journal_location.parse("engine.journal", url)
    assert isinstance(found, JournalUrl)
    return found.anchored(folder)


def worker(host: str, pid: int) -> RunIdentity:
    return RunIdentity(f"{host}/{pid}/0000abcd", host, pid, "7")


def going(figures: dict[str, Any], elapsed: float = 90.0) -> RunRecord:
    """A record as a running run writes it: its times give only how long it has gone."""
    return RunRecord(1, 1_000.0, 1_000.0 + elapsed, figures)


async def status(config: Path) -> str:
    done = await bulkimport("status", "--config", str(config))
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


async def finished_run(emu: RunningEmulator, tmp_path: Path, url: str) -> dict[str, Any]:
    """A run of four files on the journal at `url`; the figures of its final record."""
    config = project(emu, tmp_path / "runner", journal=url)
    done = await bulkimport("run", "--config", str(config))
    assert done.returncode == 0, done.stderr
    place = JournalPlace("postgresql", url, tmp_path)
    ((raw,),) = place.rows("SELECT figures FROM runs")
    figures: dict[str, Any] = json.loads(raw)
    return figures


async def test_the_last_run_is_shown_on_another_machine_with_its_exit_status_and_figures(
    emu: RunningEmulator, tmp_path: Path, postgres_url: str
):
    (tmp_path / "runner").mkdir()
    figures = await finished_run(emu, tmp_path, postgres_url)
    assert figures["files"] == 4
    place = JournalPlace("postgresql", postgres_url, tmp_path)
    ((pid, host, projects, finished, code),) = place.rows(
        "SELECT pid, host, projects, finished_at, exit_status FROM runs"
    )
    assert (finished is not None, code) == (True, 0)
    assert projects == str(config_dict(emu, tmp_path)["procore"]["project_id"])
    # Nothing of the run is kept on the runner's disk: no status file, no pid file.
    assert sorted(p.name for p in (tmp_path / "runner").iterdir()) == [
        "bulkimport.toml",
        "drawings",
    ]
    out = await status(elsewhere(emu, tmp_path / "other-host", postgres_url))
    assert "verified   4" in out
    last = out.rstrip().splitlines()[-1]
    assert last.startswith(f"last run: pid {pid} on {host}, started "), last
    assert "exit status 0: 4 of 4 files handled (verified 4)" in last
    place.rows("UPDATE runs SET figures = 'written by another version'")
    out = await status(elsewhere(emu, tmp_path / "third-host", postgres_url))
    assert "exit status 0: figures unreadable" in out


async def test_every_live_worker_is_shown_and_a_stale_one_as_ended(
    emu: RunningEmulator, tmp_path: Path, postgres_url: str
):
    (tmp_path / "runner").mkdir()
    figures = await finished_run(emu, tmp_path, postgres_url)
    place = JournalPlace("postgresql", postgres_url, tmp_path)
    # That run ended an hour ago; the workers below are the ones of now.
    place.rows(
        "UPDATE runs SET started_at = started_at - 3600, updated_at = updated_at - 3600,"
        " finished_at = finished_at - 3600"
    )
    url = location(postgres_url, tmp_path)
    for me in (worker("host-a", 4242), worker("host-b", 4343)):
        record_to = run_log(url, me)
        record_to.write(going(figures))
        record_to.close()
    config = elsewhere(emu, tmp_path / "other-host", postgres_url)
    lines = (await status(config)).rstrip().splitlines()
    shown = [line for line in lines if line.startswith("running: ")]
    assert len(shown) == 2, lines
    assert shown[0].startswith("running: pid 4242 on host-a, started ")
    assert shown[1].startswith("running: pid 4343 on host-b, started ")
    assert all("4 of 4 files handled (verified 4)" in line for line in shown)
    assert not any(line.startswith("last run:") for line in lines)  # shown only with none going

    # host-a stops writing (killed): 60 seconds on, by the database's clock, it is not going.
    place.rows("UPDATE runs SET updated_at = updated_at - 60 WHERE host = 'host-a'")
    lines = (await status(config)).rstrip().splitlines()
    assert [line.split(",")[0] for line in lines if line.startswith("running")] == [
        "running: pid 4343 on host-b"
    ]
    place.rows("UPDATE runs SET updated_at = updated_at - 30 WHERE host = 'host-b'")
    last = (await status(config)).rstrip().splitlines()[-1]
    assert last.startswith("last run: pid 4343 on host-b, started "), last
    assert "ended without a final record (killed?)" in last
    assert "the journal keeps the state: run again to resume" in last


async def test_status_watch_follows_the_workers_until_the_last_one_ends(
    emu: RunningEmulator, tmp_path: Path, postgres_url: str
):
    (tmp_path / "runner").mkdir()
    figures = await finished_run(emu, tmp_path, postgres_url)
    url = location(postgres_url, tmp_path)
    me = worker("host-a", 4242)
    record_to = run_log(url, me)
    record_to.write(going(figures))
    config = elsewhere(emu, tmp_path / "other-host", postgres_url)
    command = [sys.executable, "-m", "bulkimport", "status", "--config", str(config), "--watch"]
    try:
        async with await anyio.open_process(command, env=run_env()) as watcher:
            assert watcher.stdout is not None
            seen = b""
            with anyio.fail_after(60):
                while b"running: pid 4242 on host-a" not in seen:
                    seen += await watcher.stdout.receive()
            record_to.write(RunRecord(1, 1_000.0, 1_090.0, figures, 1_090.0, exit_status=1))
            with anyio.fail_after(30):
                async for chunk in watcher.stdout:
                    seen += chunk
                assert await watcher.wait() == 0
    finally:
        record_to.close()
    final = seen.decode().rstrip().splitlines()[-1]
    assert final.startswith("last run: pid 4242 on host-a, started "), final
    assert "exit status 1: 4 of 4 files handled (verified 4)" in final


async def test_a_journal_made_before_the_runs_table_gets_it_when_a_run_opens_it(
    emu: RunningEmulator, tmp_path: Path, postgres_url: str
):
    url = location(postgres_url, tmp_path)
    await (await Journal.open(url, projects=(7,))).close()
    place = JournalPlace("postgresql", postgres_url, tmp_path)
    place.rows("DROP TABLE runs")  # a schema-5 journal as it was before the table
    config = elsewhere(emu, tmp_path / "other-host", postgres_url)
    assert "no run has recorded its progress in this journal yet" in await status(config)
    reader = await Journal.open(url, readonly=True)
    try:
        assert await reader.run_records() == runs.Runs((), None)
    finally:
        await reader.close()
    await (await Journal.open(url, projects=(7,))).close()
    assert place.rows("SELECT COUNT(*) FROM runs") == [(0,)]


async def test_old_records_are_kept_bounded_and_a_live_one_is_never_deleted(
    tmp_path: Path, postgres_url: str
):
    url = location(postgres_url, tmp_path)
    await (await Journal.open(url, projects=(7,))).close()
    live = run_log(url, worker("host-live", 1))
    live.write(going({}))
    for n in range(runs.KEEP + 5):  # ended runs, each aged a second more than the last
        record_to = run_log(url, worker(f"host-{n}", 100 + n))
        record_to.write(going({}))
        record_to.close()
    place = JournalPlace("postgresql", postgres_url, tmp_path)
    place.rows(
        "UPDATE runs SET updated_at = updated_at - 3600 - pid, finished_at = updated_at - 3600"
        " WHERE host <> 'host-live'"
    )
    live.write(RunRecord(1, 1_000.0, 1_010.0, {}, 1_010.0, exit_status=0))  # prunes, as it ends
    live.close()
    kept = place.rows("SELECT host FROM runs ORDER BY updated_at DESC")
    assert len(kept) == runs.KEEP
    assert kept[0] == ("host-live",)
    # The oldest went: those aged the most (by their pid, 199 to 204), 6 beyond the 100.
    gone = {f"host-{n}" for n in range(runs.KEEP + 5)} - {host for (host,) in kept}
    assert gone == {f"host-{n}" for n in range(runs.KEEP - 1, runs.KEEP + 5)}


async def test_a_record_that_cannot_be_written_is_an_error_the_run_reports_and_goes_on(
    tmp_path: Path,
):
    url = location(f"postgresql://importer@127.0.0.1:{closed_port()}/journal", tmp_path)
    record_to = run_log(url, worker("host-a", 1))
    with pytest.raises(JournalError, match="cannot reach the journal database"):
        record_to.write(going({}))
    record_to.write(going({}))  # not tried again at once: the failure was said
    record_to.close()


async def test_a_sqlite_journal_keeps_its_runs_in_the_file_beside_it(tmp_path: Path):
    path = tmp_path / "journal.sqlite3"
    await (await Journal.open(path, projects=(7,))).close()
    reader = await Journal.open(path, readonly=True)
    try:
        assert await reader.run_records() == runs.Runs((), None)  # its table stays empty
    finally:
        await reader.close()
    record_to = run_log(path, worker("host-a", 1))
    record_to.write(going({}))
    record_to.close()
    written = json.loads((tmp_path / "journal.sqlite3.status.json").read_text())
    assert "host" not in written  # the file as before: the host is this one
