"""`bulkimport check` as a user runs it: a subprocess against the emulator, real exit codes."""

from __future__ import annotations

import sqlite3
import sys
from email.utils import formatdate
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkimport.emulator import EmulatorConfig, RateLimits, RunningEmulator, serve
from bulkimport.preflight import Status, clock_check

from .conftest import CREDENTIALS, config_dict, run_env, write_config, write_pdf

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.no_journal("bulkimport check reads the config and asks Procore, never the journal"),
]


async def check(
    config: Path, secret: str | None = CREDENTIALS.client_secret
) -> tuple[int, list[str]]:
    """The exit status and the lines on stdout after the journal's, which comes first (as a
    run opens its journal first); stderr must hold no secret."""
    status, lines = await check_all(config, secret)
    if lines:
        assert lines[0].startswith(("ok   journal ", "FAIL journal: ")), lines
    return status, lines[1:]


async def check_all(
    config: Path, secret: str | None = CREDENTIALS.client_secret
) -> tuple[int, list[str]]:
    """The exit status and every line on stdout; stderr must hold no secret."""
    with anyio.fail_after(120):
        done = await anyio.run_process(
            [sys.executable, "-m", "bulkimport", "check", "--config", str(config)],
            env=run_env(secret),
            check=False,
        )
    assert CREDENTIALS.client_secret not in done.stderr.decode() + done.stdout.decode()
    return done.returncode, done.stdout.decode().splitlines()


def project(
    emu: RunningEmulator, tmp_path: Path, **changes: dict[str, Any]
) -> tuple[Path, dict[str, Any]]:
    """A config for the emulator's project, with sections changed as given."""
    root = tmp_path / "drawings"
    write_pdf(root / "A-100 Plan.pdf")
    raw = config_dict(emu, root)
    for section, values in changes.items():
        raw[section] |= values
    config = tmp_path / "bulkimport.toml"
    write_config(config, raw)
    return config, emu.startup_info()


def read_only(emu: RunningEmulator) -> None:
    writes = [e for e in emu.world.ledger.requests if not e.startswith("GET")]
    assert writes in ([], ["POST /oauth/token"])


@pytest.fixture
async def emu() -> Any:
    async with serve(EmulatorConfig(processing_delay=0)) as running:
        yield running


async def test_a_good_config_passes_every_check(emu: RunningEmulator, tmp_path: Path):
    config, info = project(emu, tmp_path)
    status, lines = await check_all(config)
    assert status == 0, lines
    assert all(line.startswith("ok   ") for line in lines), lines
    pid = info["project_id"]
    journal = tmp_path / "journal.sqlite3"
    assert lines.pop(0) == f"ok   journal {journal}: none yet; the first run creates it"
    assert lines[0] == "ok   credentials accepted (token valid for 90 min)"
    assert lines[1] == (
        f"ok   project {pid} (company {info['company_id']}) reachable: "
        "2 drawing areas, 2 drawing sets"
    )
    assert lines[2].startswith("ok   drawing area 'Building A' (id ")
    assert lines[3].startswith("ok   drawing set 'Issued for Construction' (id ")
    assert lines[4].startswith("ok   drawings of drawing area 'Building A' (id ")
    assert lines[4].endswith("listable (0 drawings on the first page)")
    assert lines[5] == "ok   budget: no rate-limit headers seen"
    assert lines[6].startswith("ok   clock: ")
    assert lines[6].endswith(" s from Procore's")
    assert len(lines) == 7
    assert not journal.exists()  # looked for, not made
    read_only(emu)
    # A handful: token, token info, the probe, areas, sets, one page of drawings.
    assert sum(emu.world.ledger.requests.values()) == 6


async def test_refused_credentials_exit_3(emu: RunningEmulator, tmp_path: Path):
    config, _ = project(emu, tmp_path)
    status, lines = await check(config, secret="wrong")
    assert status == 3
    assert len(lines) == 1
    assert lines[0].startswith("FAIL Procore refused the client credentials")
    assert "wrong" not in lines[0]


async def test_missing_credentials_are_a_usage_error(emu: RunningEmulator, tmp_path: Path):
    config, _ = project(emu, tmp_path)
    status, lines = await check(config, secret=None)
    assert status == 2
    assert lines == []
    assert emu.world.ledger.requests == {}


async def test_a_project_out_of_reach_exits_2(emu: RunningEmulator, tmp_path: Path):
    config, info = project(emu, tmp_path, procore={"project_id": 999999})
    status, lines = await check(config)
    assert status == 2
    assert lines[0].startswith("ok   credentials accepted")
    assert lines[1] == (
        f"FAIL project 999999 is not reachable in company {info['company_id']} "
        "(Project not found): check procore.project_id, and that the app has access to the "
        "project"
    )
    assert len(lines) == 2


async def test_a_company_out_of_reach_exits_2(emu: RunningEmulator, tmp_path: Path):
    config, _ = project(emu, tmp_path, procore={"company_id": 999999})
    status, lines = await check(config)
    assert status == 2
    assert lines[1].startswith("FAIL company 999999 is not reachable with these credentials")


async def test_a_missing_area_exits_2_and_names_the_areas_there(
    emu: RunningEmulator, tmp_path: Path
):
    config, info = project(emu, tmp_path, target={"drawing_area": "Building Z"})
    status, lines = await check(config)
    assert status == 2
    assert (
        f"FAIL drawing area 'Building Z' is not in project {info['project_id']} "
        "(it has: 'Building A', 'Building B')"
    ) in lines
    assert [line for line in lines if line.startswith("FAIL")] == [lines[2]]
    assert not any("drawings of" in line for line in lines)  # no area to list them from


async def test_a_missing_set_exits_2_unless_it_may_be_created(emu: RunningEmulator, tmp_path: Path):
    config, info = project(emu, tmp_path, target={"drawing_set": "Addendum 3"})
    status, lines = await check(config)
    assert status == 2
    assert lines[3].startswith(
        f"FAIL drawing set 'Addendum 3' is not in project {info['project_id']} (it has: "
    )

    created, _ = project(
        emu, tmp_path, target={"drawing_set": "Addendum 3", "create_missing_set": True}
    )
    status, lines = await check(created)
    assert status == 0, lines
    assert lines[3] == (
        f"ok   drawing set 'Addendum 3' is not in project {info['project_id']}: it would be "
        "created (target.create_missing_set = true)"
    )
    read_only(emu)  # would be: it was not
    assert all(s["name"] != "Addendum 3" for s in emu.startup_info()["drawing_sets"])


async def test_areas_and_sets_of_the_layout_are_checked(emu: RunningEmulator, tmp_path: Path):
    config, info = project(
        emu,
        tmp_path,
        source={"layout": "{drawing_area}/{drawing_set}/*.pdf"},
        target={"create_missing_set": True},
    )
    root = tmp_path / "drawings"
    write_pdf(root / "Building B" / "Bid Set" / "A-200 Plan.pdf")
    write_pdf(root / "Building C" / "Bid Set" / "A-300 Plan.pdf")
    write_pdf(root / "building c" / "Addendum" / "A-301 Plan.pdf")
    status, lines = await check(config)
    assert status == 0, lines  # the run would start; only the files of Building C would fail
    pid = info["project_id"]
    assert "ok   by the folder layout: 3 drawing areas and 3 drawing sets for 4 files" in lines
    assert (
        f"warn drawing area 'Building C' is not in project {pid} "
        "(it has: 'Building A', 'Building B'): its 2 files would fail"
    ) in lines
    assert (
        f"ok   drawing set 'Addendum' is not in project {pid}: it would be created "
        "(target.create_missing_set = true)"
    ) in lines
    read_only(emu)


async def test_the_budget_line_reports_the_rate_limit_window(tmp_path: Path):
    limits = RateLimits(hourly_limit=3600, hourly_window=3600)
    async with serve(EmulatorConfig(processing_delay=0, rate_limits=limits)) as emu:
        config, _ = project(emu, tmp_path)
        status, lines = await check(config)
    assert status == 0, lines
    # The probe, areas, sets and one page of drawings count; the token calls do not.
    assert "ok   budget: 3,596 of 3,600 left; resets in 60 min" in lines


def test_the_clock_is_compared_with_procores_date():
    now = 1_800_000_000.0
    date = formatdate(now, usegmt=True)
    assert clock_check(date, now, now + 0.2).line == "ok   clock: 0.4 s from Procore's"
    ahead = clock_check(date, now + 90, now + 90)
    assert ahead.status is Status.WARN
    assert ahead.line.startswith("warn clock: 90 s ahead of Procore's: ticket expiry")
    assert "behind Procore's" in clock_check(date, now - 300, now - 300).line
    assert clock_check(None, now, now).status is Status.WARN
    assert clock_check("yesterday", now, now).status is Status.WARN


async def test_every_project_of_the_targets_is_checked(tmp_path: Path):
    async with serve(EmulatorConfig(processing_delay=0, projects=2)) as emu:
        config, info = project(emu, tmp_path)
        raw = config_dict(emu, tmp_path / "drawings")
        del raw["procore"]["project_id"]
        first, second = info["project_ids"]
        write_config(config, raw)
        config.write_text(
            config.read_text()
            + f"[[targets]]\nproject_id = {first}\n"
            + f'[[targets]]\nproject_id = {second}\ndrawing_area = "Building Z"\n'
        )
        status, lines = await check(config)
        read_only(emu)
    assert status == 2, lines
    assert lines[1].startswith(f"ok   project {first} ")
    assert f"ok   project {second} (company {info['company_id']}) reachable: " in " ".join(lines)
    assert (
        f"FAIL drawing area 'Building Z' is not in project {second} "
        "(it has: 'Building A', 'Building B')"
    ) in lines
    assert sum(line.startswith("ok   budget") for line in lines) == 1
    assert sum(line.startswith("ok   clock") for line in lines) == 1


async def test_a_journal_out_of_reach_or_too_new_is_named(emu: RunningEmulator, tmp_path: Path):
    config, _ = project(emu, tmp_path, engine={"journal": "postgresql://nobody@127.0.0.1:9/x"})
    status, lines = await check_all(config)
    assert status == 3, lines
    assert lines[0].startswith("FAIL journal: ")
    assert "127.0.0.1" in lines[0]

    journal = tmp_path / "newer.sqlite3"
    with sqlite3.connect(journal) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    config, _ = project(emu, tmp_path, engine={"journal": str(journal)})
    status, lines = await check_all(config)
    assert status == 2, lines
    assert lines[0].startswith(f"FAIL journal: {journal} was written by a newer bulkimport")
