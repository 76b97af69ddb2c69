"""The engine against each reading of Procore's published contract (procore-api.md, section 13).

Every test here switches on the emulator mode that exercises one corrected point: the strict
reading where the reference is clear, the alternative where it is silent or sources disagree.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import aiohttp
import anyio
import pytest

from bulkimport.emulator import EmulatorConfig, Faults, RateLimits, RunningEmulator, serve
from bulkimport.models import FileState, Plan
from bulkimport.pipeline import run_import
from bulkimport.procore.boundary import rate_limit_wait
from bulkimport.procore.client import ProcoreClient
from bulkimport.report import exit_code, report_entries, totals
from bulkimport.settings import parse_settings
from bulkimport.stages.sender import date_time

from .clocks import EmulatorClock
from .conftest import (
    CREDENTIALS,
    advance_clock,
    config_dict,
    emulator_state,
    emulator_token,
    make_settings,
    other_journal,
    report_of,
    write_pdf,
)
from .conftest import (
    import_archive as run,
)

pytestmark = pytest.mark.anyio

DRAWING_UPLOADS = "POST /rest/v1.1/projects/{project_id}/drawing_uploads"


# Units ------------------------------------------------------------------------------------


def test_a_429_waits_for_retry_after_else_for_reset():
    now = 1_000.0
    assert rate_limit_wait({"Retry-After": "7"}, now) == 7.0
    assert rate_limit_wait({"X-Rate-Limit-Reset": "1042", "X-Rate-Limit-Remaining": "0"}, now) == 42
    # Remaining need not say 0: a 429 is itself the news that the window is spent.
    assert rate_limit_wait({"X-Rate-Limit-Reset": "1030", "X-Rate-Limit-Remaining": "3"}, now) == 30
    assert rate_limit_wait({"X-Rate-Limit-Reset": "900"}, now) == 0.0  # already past
    assert rate_limit_wait({}, now) is None  # nothing said: the caller backs off


def test_dates_go_as_noon_utc():
    assert date_time("2026-03-17") == "2026-03-17T12:00:00Z"


# 1. Create Drawing Set ------------------------------------------------------------------------


async def test_a_missing_set_is_created_with_the_documented_flat_body(tmp_path: Path):
    """The emulator refuses a nested-only body, as an integrator reports Procore does."""
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        write_pdf(tmp_path / "src" / "A-1 Plan.pdf")
        raw = config_dict(emu, tmp_path / "src")
        raw["target"] |= {"drawing_set": "Addendum 7", "create_missing_set": True}
        result = await run_import(parse_settings(raw, tmp_path), CREDENTIALS, progress=False)
        assert exit_code(result) == 0
        state = await emulator_state(emu, "drawing_sets", "violations")
        assert "Addendum 7" in [s["name"] for s in state["drawing_sets"]]
        assert state["violations"] == []


# 2, 4, 8. The strict readings together: project_id required, date-times only, no v1.0 uploads,
# 429 without Retry-After ------------------------------------------------------------------------


@pytest.mark.parametrize("zone", [-11.0, 11.0])
async def test_a_run_passes_the_strictest_reading(tmp_path: Path, zone: float):
    """Area calls must name the project, dates must be date-times, and they must land on the
    file's calendar day in the project's zone (UTC-11 and UTC+11 here)."""
    config = EmulatorConfig(
        processing_delay=0,
        require_project_id=True,
        strict_dates=True,
        project_utc_offset=zone,
        v10_uploads=False,
    )
    async with serve(config) as emu:
        root = tmp_path / "src"
        for n in range(1, 4):
            write_pdf(root / f"A-{n} Plan.pdf", seed=n)
        result = await run(emu, root)
        assert exit_code(result) == 0
        assert set(result.states) == {FileState.VERIFIED}
        state = await emulator_state(emu, "drawings", "requests", "violations")
        assert state["violations"] == []
        days = {r["drawing_date"] for d in state["drawings"] for r in d["revisions"]}
        journal_days = {e["drawing_date"] async for e in report_entries(result)}
        assert days == journal_days  # the calendar day the file meant, in the project's zone
        assert not [e for e in state["requests"] if e.startswith("POST /rest/v1.0/")]


# 3. A batch refused without naming its bad entries ----------------------------------------------


async def test_a_batch_refused_as_a_whole_is_split_until_the_bad_files_stand_alone(
    tmp_path: Path,
):
    """Two uploads an earlier run left are deleted by Procore's attach deadline; the batch that
    carries them with 18 good files is refused with a 400 that names no entry. Every good file
    is imported exactly once, each bad one fails with Procore's text, and the extra calls stay
    within 2·log2(batch) per bad file."""
    from .test_resilience import upload_without_batching

    async with serve(EmulatorConfig(processing_delay=0, refusal_style="batch")) as emu:
        root = tmp_path / "src"
        left = []
        for n in (1, 2):
            write_pdf(root / f"A-{n} Left.pdf", seed=n)
            left.append(root / f"A-{n} Left.pdf")
        await upload_without_batching(emu, root, left)
        await advance_clock(emu, 8 * 24 * 3600)
        others = []
        for n in range(3, 21):
            write_pdf(root / f"A-{n} Other.pdf", seed=n)
            others.append(root / f"A-{n} Other.pdf")
        # One batch of all 20, whatever the machine's speed: the age flush is out of reach, so
        # every Create Drawing Upload after the first is one of the split's.
        result = await run(
            emu, root, attach_deadline=30 * 24 * 3600.0, batch_size=50, batch_max_wait=60
        )
        assert exit_code(result) == 1
        report = await report_of(result)
        refusals = set()
        for path in left:
            assert report[path.name]["state"] == "failed"
            assert report[path.name]["note"].startswith("Procore refused it: ")
            refusals.add(report[path.name]["note"])
        assert {report[p.name]["state"] for p in others} == {"verified"}

        state = await emulator_state(emu, "uploads", "drawing_uploads")
        attached = [i["upload_uuid"] for du in state["drawing_uploads"] for i in du["imports"]]
        assert len(attached) == len(set(attached)) == len(others)  # each good file once
        calls = emu.world.ledger.requests[DRAWING_UPLOADS]
        bound = 2 * math.ceil(math.log2(20)) * len(left)
        assert result.stats.split_calls == calls - 1
        assert 0 < result.stats.split_calls <= bound
        assert totals(result)["batch_split_calls"] == result.stats.split_calls
        # Procore's own words reach the report, not a message of ours.
        assert all("Bad Request" in note or "invalid" in note for note in refusals)


async def test_a_split_interrupted_by_a_crash_resends_its_parts_not_the_whole(tmp_path: Path):
    """The parts of a split are journalled before the refused batch is closed; what a later
    run finds pending are the parts, with their own tokens."""
    from bulkimport.journal.store import Journal

    async with serve(EmulatorConfig(processing_delay=0, refusal_style="batch")) as emu:
        from .test_resilience import upload_without_batching

        root = tmp_path / "src"
        write_pdf(root / "A-1 Left.pdf", seed=1)
        await upload_without_batching(emu, root, [root / "A-1 Left.pdf"])
        await advance_clock(emu, 8 * 24 * 3600)
        for n in range(2, 6):
            write_pdf(root / f"A-{n} Other.pdf", seed=n)
        result = await run(emu, root, attach_deadline=30 * 24 * 3600.0)
        project = make_settings(emu, root).procore.project_id
        journal = await Journal.open(result.journal, readonly=True, projects=(project,))
        try:
            assert await journal.pending_batches() == []
        finally:
            await journal.close()
        again = await run(emu, root, attach_deadline=30 * 24 * 3600.0)
        assert again.plans["A-1 Left.pdf"] == Plan.RETRY
        assert {again.plans[f"A-{n} Other.pdf"] for n in range(2, 6)} == {Plan.UNCHANGED}


# 5. Multi-sheet drawings -------------------------------------------------------------------------


async def test_a_multi_sheet_drawing_is_matched_by_its_drawing_number(tmp_path: Path):
    seed = {
        "clients": [
            {"client_id": CREDENTIALS.client_id, "client_secret": CREDENTIALS.client_secret}
        ],
        "companies": [
            {
                "name": "Sheets Inc.",
                "projects": [
                    {
                        "name": "Tower",
                        "drawing_areas": [
                            {
                                "name": "Building A",
                                "drawings": [
                                    {
                                        "number": "A-100",
                                        "title": "Plan",
                                        "sheet_number": "2",
                                        "discipline": "Architectural",
                                    },
                                    {
                                        "number": "A-100",
                                        "title": "Plan",
                                        "sheet_number": "1",
                                        "discipline": "Architectural",
                                    },
                                ],
                            }
                        ],
                        "drawing_sets": [{"name": "Issued for Construction"}],
                    }
                ],
            }
        ],
    }
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(seed))
    async with serve(EmulatorConfig(processing_delay=0, seed_file=seed_file)) as emu:
        root = tmp_path / "src"
        write_pdf(root / "A-100 Plan_Rev1.pdf")
        result = await run(emu, root)
        assert exit_code(result) == 0
        state = await emulator_state(emu, "drawings", "requests")
        assert "POST /rest/v1.1/drawing_areas/{drawing_area_id}/drawings" not in state["requests"]
        sheets = {d["sheet_number"]: d for d in state["drawings"]}
        assert len(state["drawings"]) == 2  # not created a third time
        assert [r["revision_number"] for r in sheets["1"]["revisions"]] == ["1"]
        assert sheets["2"]["revisions"] == []


# 6. Obsolete and deleted revisions ---------------------------------------------------------------


@pytest.mark.parametrize("flag", ["obsolete", "deleted"])
async def test_a_hidden_revision_procore_has_is_seen_before_sending(tmp_path: Path, flag: str):
    """A revision marked obsolete (or deleted) is hidden from the default list, yet Procore
    refuses it again; the engine asks for hidden ones and skips the file instead of sending it
    into a refusal."""
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        root = tmp_path / "src"
        write_pdf(root / "A-1 Plan.pdf", seed=1)
        assert exit_code(await run(emu, root)) == 0
        drawings = (await emulator_state(emu, "drawings"))["drawings"]
        revision_id = drawings[0]["revisions"][0]["id"]
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{emu.api_base}/_emulator/revisions", json={"revision_id": revision_id, flag: True}
            ) as response,
        ):
            assert response.status == 200
        # Another machine, another journal: only Procore knows the revision is there.
        result = await run(emu, root, journal=other_journal(tmp_path / "elsewhere.sqlite3"))
        report = await report_of(result)
        assert report["A-1 Plan.pdf"]["state"] == "skipped"
        assert "already has revision 0" in report["A-1 Plan.pdf"]["note"]
        assert emu.world.ledger.requests[DRAWING_UPLOADS] == 1  # only the first run's


# 9. A failed optional read never fails a file ------------------------------------------------------


async def test_an_unreadable_revisions_list_sends_the_file_and_procore_decides(tmp_path: Path):
    """Without permission to list revisions (404), the files are sent; Procore accepts the new
    revision and refuses the one it has, each file with its own outcome. Nothing is confirmed
    either, since the read-back needs the same list: those files say so and the run exits 1."""
    async with serve(EmulatorConfig(processing_delay=0, revisions_access=False)) as emu:
        root = tmp_path / "src"
        write_pdf(root / "A-1 Plan.pdf", seed=1)
        first = await run(emu, root)
        assert exit_code(first) == 1
        assert "drawing log could not be read" in (await report_of(first))["A-1 Plan.pdf"]["note"]
        write_pdf(root / "A-2 Plan.pdf", seed=2)
        result = await run(emu, root, journal=other_journal(tmp_path / "elsewhere.sqlite3"))
        report = await report_of(result)
        assert report["A-2 Plan.pdf"]["state"] == "imported"  # sent, not failed by the read
        assert report["A-1 Plan.pdf"]["state"] == "failed"
        assert "already exists on this drawing" in report["A-1 Plan.pdf"]["note"]
        drawings = (await emulator_state(emu, "drawings"))["drawings"]
        assert sorted(len(d["revisions"]) for d in drawings) == [1, 1]


# 7. 429 without Retry-After; 503 with Retry-After --------------------------------------------------


async def spend(emu: RunningEmulator, calls: int) -> None:
    """Another integration of the same client spends the window."""
    async with aiohttp.ClientSession() as http:
        token = await emulator_token(emu, http)
        info = emu.startup_info()
        for _ in range(calls):
            async with http.get(
                f"{emu.api_base}/rest/v1.1/projects/{info['project_id']}/drawing_areas",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Procore-Company-Id": str(info["company_id"]),
                },
            ) as response:
                await response.read()


async def test_a_429_without_retry_after_waits_until_reset(tmp_path: Path):
    """The client waits on the emulator's clock (EmulatorClock): its sleeps move Procore's
    time, so a 60 s window passes without a real second."""
    limits = RateLimits(spike_limit=3, spike_window=60.0, retry_after=False)
    async with serve(EmulatorConfig(rate_limits=limits)) as emu:
        settings = make_settings(emu, tmp_path)
        async with aiohttp.ClientSession() as session:
            clock = EmulatorClock(emu)
            client = ProcoreClient(settings.procore, CREDENTIALS, session, None, clock)
            await spend(emu, 3)
            areas = await client.drawing_areas()
        assert [a.name for a in areas] == ["Building A", "Building B"]
        assert client.budget.rate_limited == 1  # one 429, then it waited for the window
        assert emu.world.ledger.rate_limited == 1
        # The window's Reset, not a quick retry: it slept the rest of the 60 s window (all but
        # the moment the calls before the 429 took).
        assert sum(clock.slept) >= 59.0


async def test_a_503_with_retry_after_holds_every_worker(tmp_path: Path):
    faults = Faults(error_rate=0.3, retry_after_503=0.5, scope=frozenset({"api"}), seed=3)
    async with serve(EmulatorConfig(faults=faults)) as emu:
        settings = make_settings(emu, tmp_path)
        async with aiohttp.ClientSession() as session:
            patient = dataclasses.replace(settings.procore, max_attempts=10)
            client = ProcoreClient(patient, CREDENTIALS, session)
            results: list[int] = []

            async def one() -> None:
                results.append(len(await client.drawing_areas()))

            async with anyio.create_task_group() as tg:
                for _ in range(12):
                    tg.start_soon(one)
        assert results == [2] * 12
        assert emu.world.ledger.faults["503"] >= 1
        assert client.budget.throttled >= 1
        assert client.budget.waited > 0  # the others were held, not only the one that met it
