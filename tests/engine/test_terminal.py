"""The operator's view, as a person sees it: `bulkimport run` and `status --watch` in a
pseudo-terminal against the emulator (its own process, rate-limited), the screen read through a
terminal emulator. Off a terminal, the same run writes JSON lines only."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bulkimport.journal_location import beside
from tests.journals import JournalPlace

from .conftest import default_journal, run_env, write_config, write_pdf
from .terminal import Terminal

FILES = 16
LOG_MARK = re.compile(r"\[\s*(debug|info|warning|error)\s*\]")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
DISPLAY = re.compile(r"^(stages|done|upload|procore|budget|time) |of \d+ files handled\s+\d+%$")
ETA = re.compile(r"ETA \d+(\.\d)? (s|min|h)\b")


def emulator_process(*extra: str) -> Iterator[dict[str, Any]]:
    """A rate-limited emulator in its own process: 15 calls per 3 s, storage a second slow."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "bulkimport", "emulator", "--port", "0", "--s3-port", "0"),
            *("--spike-limit", "15", "--spike-window", "3", "--s3-latency", "1"),
            *("--processing-delay", "0.2", "-q", *extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def emulator() -> Iterator[dict[str, Any]]:
    yield from emulator_process()


@pytest.fixture
def two_projects() -> Iterator[dict[str, Any]]:
    yield from emulator_process("--projects", "2")


def project(info: dict[str, Any], tmp_path: Path, **engine: Any) -> Path:
    root = tmp_path / "drawings"
    for n in range(FILES):
        write_pdf(root / f"A-1{n:02d} Plan.pdf", seed=n)
    config = tmp_path / "bulkimport.toml"
    raw = {
        "procore": {
            "api_base": info["api_base"],
            "login_base": info["login_base"],
            "company_id": info["company_id"],
            "project_id": info["project_id"],
        },
        "source": {"root": str(root)},
        "target": {"drawing_area": "Building A", "drawing_set": "Issued for Construction"},
        "engine": {
            "journal": default_journal(root),
            "batch_size": 4,
            "batch_max_wait": 0.5,
            "verify_interval": 0.2,
            "upload_workers": 4,
            **engine,
        },
    }
    write_config(config, raw)
    return config


def bulkimport(*args: str) -> list[str]:
    return [sys.executable, "-m", "bulkimport", *args]


def display_lines(screen: list[str]) -> list[str]:
    return [line for line in screen if DISPLAY.search(line)]


def test_a_run_on_a_terminal_shows_the_live_display_then_the_summary(
    emulator: dict[str, Any], tmp_path: Path
):
    config = project(emulator, tmp_path)
    term = Terminal(bulkimport("run", "--config", str(config)), run_env())
    try:
        # The total, while no upload has ended (storage takes a second for each).
        term.wait_for(
            lambda s: (
                any(f"0 of {FILES} files handled" in line for line in s)
                and any(line.startswith("upload   0 files sent") for line in s)
            ),
            60,
            "the total before the first upload ended",
        )
        term.wait_for(
            lambda s: any(line.startswith("time ") and ETA.search(line) for line in s),
            60,
            "a numeric ETA",
        )
        term.wait_for(
            lambda s: any(line.startswith("budget   waiting for the rate limit: ") for line in s),
            60,
            "the budget line while the run waits on the rate limit",
        )
        status = term.finish(90)
    finally:
        term.kill()
    assert status == 0, "\n".join(term.lines())
    shown = [line for screen in term.seen for line in display_lines(screen)]
    assert shown, "the display never showed"
    for line in shown:  # the display's own lines carry no log text...
        assert not LOG_MARK.search(line), line
        assert not TIMESTAMP.search(line), line
    for screen in term.seen:  # ...and each log record has whole lines of its own
        for line in screen:
            if LOG_MARK.search(line):
                assert TIMESTAMP.match(line), line
                assert not DISPLAY.search(line), line
    end = "\n".join(term.lines())
    assert f"bulkimport: {FILES} files" in end
    assert re.search(rf"verified\s+{FILES}", end)  # the state table
    assert re.search(r"POST /rest/v1.1/projects/\{id\}/uploads\s+16", end)  # by endpoint
    assert "calls held by the budget" in end
    assert not display_lines(term.lines())  # the live view is gone
    assert not term.screen.cursor.hidden
    batch_logs = [line for line in term.lines() if "batch.sent" in line]
    assert batch_logs, "milestones are logged at info"
    assert not any("drawing.created" in line for line in term.lines())  # per drawing: debug


def test_ctrl_c_stops_the_run_and_leaves_the_terminal_clean(
    emulator: dict[str, Any], tmp_path: Path
):
    config = project(emulator, tmp_path)
    term = Terminal(bulkimport("run", "--config", str(config)), run_env())
    try:
        term.wait_for(lambda s: bool(display_lines(s)), 60, "the live display")
        term.interrupt()
        term.wait_for(
            lambda s: any("run.stopping" in line for line in s), 30, "the drain announced"
        )
        status = term.finish(60)
    finally:
        term.kill()
    assert status == 3
    end = term.lines()
    assert not display_lines(end), "\n".join(end)
    assert not term.screen.cursor.hidden
    assert any("stopped on request" in line for line in end)
    assert term.raw.endswith(b"\r\n") or term.raw.endswith(b"\n")  # the prompt starts clean


def published(place: JournalPlace) -> bool:
    """Whether a run has published its figures: beside a SQLite journal, in a PostgreSQL
    journal's runs table."""
    if place.backend == "sqlite":
        return Path(f"{beside(place.location)}.status.json").exists()
    return place.exists() and place.rows("SELECT COUNT(*) FROM runs") != [(0,)]


def test_status_watch_follows_a_running_import(
    emulator: dict[str, Any], tmp_path: Path, journal_location: JournalPlace
):
    config = project(emulator, tmp_path)
    run = subprocess.Popen(
        bulkimport("run", "--config", str(config)),
        env=run_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not published(journal_location):  # the run publishes its figures once going
            assert time.monotonic() < deadline, "the run never published its figures"
            assert run.poll() is None, "the run ended early"
            time.sleep(0.05)
        term = Terminal(bulkimport("status", "--config", str(config), "--watch"), run_env())
        try:
            term.wait_for(
                lambda s: any(f"pid {run.pid}" in line for line in s), 30, "the run's pid"
            )
            ended = term.finish(90)
        finally:
            term.kill()
    finally:
        run.wait(timeout=60)
    assert ended == 0
    done = []
    for screen in term.seen:
        for line in screen:
            found = re.search(rf"(\d+) of {FILES} files handled\s+\d+%$", line)
            if found:
                done.append(int(found[1]))
    assert len(set(done)) >= 2, done  # the counts advanced while it watched
    assert done == sorted(done)
    assert any(ETA.search(line) for screen in term.seen for line in screen)
    assert re.search(r"last run: pid \d+( on \S+)?, .* exit status 0", "\n".join(term.lines()))


def test_off_a_terminal_a_run_writes_json_lines_with_progress_events(
    emulator: dict[str, Any], tmp_path: Path
):
    config = project(emulator, tmp_path, progress_interval=0.5)
    done = subprocess.run(
        bulkimport("run", "--config", str(config)),
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines()]  # JSON, every line
    progress = [e for e in events if e["event"] == "progress"]
    assert progress
    assert progress[0]["files"] == FILES  # the total from the start
    assert {"done", "states", "eta_s", "requests", "budget_remaining", "waiting_s"} <= set(
        progress[-1]
    )
    assert "drawing.created" not in {e["event"] for e in events}
    assert "\x1b" not in done.stdout + done.stderr
    assert f"bulkimport: {FILES} files: {FILES} new" in done.stdout


def shows(project_id: int, folder: str, screen: list[str]) -> bool:
    """The live display's line for the project, with its folder's count of files."""
    line = re.compile(rf"^project {project_id}\s+\d+ of {FILES // 2} handled · {folder}$")
    return any(line.search(text) for text in screen)


def test_a_run_over_two_projects_shows_a_line_for_each_then_a_table(
    two_projects: dict[str, Any], tmp_path: Path
):
    """[[targets]] on a terminal: under the run's own lines, one per project, how far it is;
    at the end a table of the projects."""
    info = two_projects
    root = tmp_path / "drawings"
    folders = ("Tower A", "Tower B")
    for n in range(FILES):
        write_pdf(root / folders[n % 2] / f"A-1{n:02d} Plan.pdf", seed=n)
    config = project(info, tmp_path)
    first, second = info["project_ids"]
    text = config.read_text().replace(f"project_id = {info['project_id']}\n", "")
    for project_id, folder in zip((first, second), folders, strict=True):
        text += f'[[targets]]\nproject_id = {project_id}\nfolder = "{folder}"\n'
    config.write_text(text)
    term = Terminal(bulkimport("run", "--config", str(config)), run_env())
    try:
        for project_id, folder in zip((first, second), folders, strict=True):
            term.wait_for(partial(shows, project_id, folder), 60, f"{folder}'s line")
        status = term.finish(90)
    finally:
        term.kill()
    end = "\n".join(term.lines())
    assert status == 0, end
    assert f"bulkimport: {FILES} files" in end
    assert "Projects" in end
    for project_id, folder in zip((first, second), folders, strict=True):
        assert re.search(rf"{project_id}\s+{re.escape(str(root / folder))}\s+{FILES // 2}\s+0", end)
    assert not any(line.startswith("project ") for line in term.lines())  # the live view is gone
