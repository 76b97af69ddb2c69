"""`bulkimport run`, `status` and `demo` as a user runs them: a subprocess, real exit codes."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import anyio
import pytest

from bulkimport.emulator import EmulatorConfig, RateLimits, RunningEmulator, serve
from tests.journals import JournalPlace

from .conftest import CREDENTIALS, config_dict, run_env, write_config, write_pdf

pytestmark = pytest.mark.anyio


async def bulkimport(
    *args: str, secret: str | None = CREDENTIALS.client_secret
) -> CompletedProcess[bytes]:
    with anyio.fail_after(120):
        return await anyio.run_process(
            [sys.executable, "-m", "bulkimport", *args], env=run_env(secret), check=False
        )


def project(emu: RunningEmulator, tmp_path: Path, **engine: Any) -> Path:
    root = tmp_path / "drawings"
    for n in range(4):
        write_pdf(root / f"A-10{n} Plan.pdf", seed=n)
    config = tmp_path / "bulkimport.toml"
    write_config(config, config_dict(emu, root, **engine))
    return config


@pytest.fixture
async def emu() -> Any:
    async with serve(EmulatorConfig(processing_delay=0)) as running:
        yield running


async def test_dry_run_without_credentials_calls_nothing(
    emu: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    config = project(emu, tmp_path)
    done = await bulkimport("run", "--config", str(config), "--dry-run", secret=None)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "dry run: nothing was sent or written" in out
    assert "4 new" in out
    assert "new       A-100 Plan.pdf" in out
    assert "set PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET to price the plan" in out
    assert not journal_location.exists()
    assert emu.world.ledger.requests == {}


async def test_dry_run_prices_the_plan_with_reads_only(
    tmp_path: Path, journal_location: JournalPlace
):
    limits = RateLimits(hourly_limit=600, hourly_window=3600)
    async with serve(EmulatorConfig(processing_delay=0, rate_limits=limits)) as emu:
        config = project(emu, tmp_path)
        done = await bulkimport("run", "--config", str(config), "--dry-run")
        assert done.returncode == 0, done.stderr
        out = done.stdout.decode()
        # 4 new numbers: 4 drawings + 4 uploads + 1 batch + 1 verification.
        assert "Procore requests needed: about 10" in out
        assert "4 POST /rest/v1.1/drawing_areas/{id}/drawings" in out
        assert "Rate limit: 59" in out  # of 600 left after the reads
        assert "time at the current budget: 0 s" in out
        writes = [e for e in emu.world.ledger.requests if not e.startswith("GET")]
        assert writes == ["POST /oauth/token"]
        assert not journal_location.exists()


async def test_dry_run_learns_the_budget_scope_from_the_headers(tmp_path: Path):
    """The same plan priced under one shared budget and under one budget per endpoint
    (procore-api.md C12): the reads before it show which, and per endpoint the writes go side
    by side, so the plan takes a fraction of the time."""
    seconds = {}
    for scope in ("client", "endpoint"):
        limits = RateLimits(spike_limit=3, spike_window=10, scope=scope)
        async with serve(EmulatorConfig(processing_delay=0, rate_limits=limits)) as emu:
            done = await bulkimport("run", "--config", str(project(emu, tmp_path)), "--dry-run")
            assert done.returncode == 0, done.stderr
            out = done.stdout.decode()
            found = re.search(r"time at the current budget: (\d+) s", out)
            assert found is not None, out
            seconds[scope] = int(found.group(1))
            side_by_side = "Procore counts each endpoint apart" in out
            assert side_by_side == (scope == "endpoint"), out
    # 10 requests, 3 per 10 s: about 40 s on one budget; at most 4 per endpoint, about 13 s.
    assert seconds["client"] >= 30
    assert seconds["endpoint"] <= seconds["client"] / 2


async def test_run_writes_a_private_report_and_logs_json(
    emu: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    config = project(emu, tmp_path)
    report = tmp_path / "out" / "report.json"
    done = await bulkimport("run", "--config", str(config), "--report", str(report))
    assert done.returncode == 0, done.stderr
    assert "4 files: 4 new" in done.stdout.decode()
    assert report.stat().st_mode & 0o777 == 0o600
    if journal_location.backend == "sqlite":  # a file: private to its owner
        assert (tmp_path / "journal.sqlite3").stat().st_mode & 0o777 == 0o600
    body = json.loads(report.read_text())
    assert body["totals"]["states"] == {"verified": 4}
    assert {f["state"] for f in body["files"]} == {"verified"}
    events = [json.loads(line)["event"] for line in done.stderr.decode().splitlines()]
    assert "run.started" in events
    assert "batch.sent" in events
    assert CREDENTIALS.client_secret not in done.stderr.decode()

    status = await bulkimport("status", "--config", str(config))
    assert status.returncode == 0
    assert "verified   4" in status.stdout.decode()


async def test_failed_files_exit_1_with_their_reason(emu: RunningEmulator, tmp_path: Path):
    config = project(emu, tmp_path)
    (tmp_path / "drawings" / "A-900 Broken.pdf").write_bytes(b"not a pdf")
    done = await bulkimport("run", "--config", str(config))
    assert done.returncode == 1
    assert "NOT IMPORTED A-900 Broken.pdf: not a PDF" in done.stdout.decode()
    status = await bulkimport("status", "--config", str(config))
    assert "FAILED A-900 Broken.pdf: not a PDF" in status.stdout.decode()


async def test_refused_credentials_stop_the_run_with_exit_3(emu: RunningEmulator, tmp_path: Path):
    config = project(emu, tmp_path)
    done = await bulkimport("run", "--config", str(config), secret="wrong")
    assert done.returncode == 3
    assert "Procore refused the client credentials" in done.stderr.decode()
    assert "wrong" not in done.stderr.decode()


async def test_usage_errors_exit_2(emu: RunningEmulator, tmp_path: Path):
    config = project(emu, tmp_path)
    missing = await bulkimport("run", "--config", str(config), secret=None)
    assert missing.returncode == 2
    assert "PROCORE_CLIENT_ID" in missing.stderr.decode()
    bad = tmp_path / "bad.toml"
    bad.write_text('[procore]\napi_base = "ftp://x"\n')
    assert (await bulkimport("run", "--config", str(bad))).returncode == 2
    no_area = tmp_path / "area.toml"
    raw = config_dict(emu, tmp_path / "drawings")
    raw["target"]["drawing_area"] = "Building Z"
    write_config(no_area, raw)
    done = await bulkimport("run", "--config", str(no_area))
    assert done.returncode == 2
    assert "drawing area 'Building Z' is not in project" in done.stderr.decode()
    assert "'Building A'" in done.stderr.decode()


async def test_demo_imports_and_checks_every_file(tmp_path: Path):
    done = await bulkimport("demo", "--files", "24", "--keep", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    assert "all 24 drawings arrived exactly once with the right bytes" in done.stdout.decode()
    assert len(list((tmp_path / "demo" / "drawings").iterdir())) == 24
