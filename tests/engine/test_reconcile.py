"""`reconcile` against the emulator: an imported archive matches; a revision removed in Procore
is missing; a drawing made by someone else is extra; a day Procore filed differently differs.
Every assertion on cost is on what reached the emulator."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from bulkimport.emulator import EmulatorConfig, RunningEmulator, serve
from bulkimport.pipeline import run_import
from bulkimport.reconcile.compare import Status
from bulkimport.reconcile.report import exit_code, summary_text
from bulkimport.reconcile.run import Reconciliation, reconcile
from bulkimport.report import exit_code as run_exit_code
from bulkimport.settings import Settings, parse_settings
from tests.journals import JournalPlace

from .conftest import (
    CREDENTIALS,
    config_dict,
    emulator_state,
    emulator_token,
    run_env,
    write_config,
    write_pdf,
)

pytestmark = pytest.mark.anyio

ARCHIVE = (
    "Building A/A-101 Plan.pdf",
    "Building A/A-102 Section.pdf",
    "Building A/A-102 Section_Rev1.pdf",
    "Building B/S-201 Foundations.pdf",
    "Building B/S-202 Framing.pdf",
    "Building B/M-301 Ducts.pdf",
)


def raw_config(
    emu: RunningEmulator, root: Path, journal: str | None = None, **target: Any
) -> dict[str, Any]:
    raw = config_dict(emu, root, **({"journal": journal} if journal else {}))
    raw["source"]["layout"] = "{drawing_area}/*.pdf"
    raw["target"] |= target
    return raw


def settings_for(
    emu: RunningEmulator, root: Path, journal: str | None = None, **target: Any
) -> Settings:
    return parse_settings(raw_config(emu, root, journal, **target), base=root.parent)


async def imported(
    emu: RunningEmulator, tmp_path: Path, check: bool = True, journal: str | None = None
) -> Settings:
    """The six-file archive in two areas, imported by the engine (into `journal`, if given)."""
    root = tmp_path / "drawings"
    for seed, rel in enumerate(ARCHIVE):
        write_pdf(root / rel, seed=seed)
    settings = settings_for(emu, root, journal)
    result = await run_import(settings, CREDENTIALS, progress=False)
    if check:
        assert run_exit_code(result) == 0, result.missing
    return settings


async def reconciled(
    emu: RunningEmulator, settings: Settings
) -> tuple[Reconciliation, Counter[str]]:
    """The reconciliation, and the requests it made as the emulator counted them."""
    before = Counter(emu.world.ledger.requests)
    result = await reconcile(settings, CREDENTIALS)
    made = Counter(emu.world.ledger.requests)
    made.subtract(before)
    return result, +made


def statuses(result: Reconciliation) -> dict[str, Status]:
    return {o.rel: o.status for o in result.outcomes}


async def revision_id(emu: RunningEmulator, number: str) -> int:
    state = await emulator_state(emu, "drawings")
    (drawing,) = [d for d in state["drawings"] if d["number"] == number]
    (revision,) = drawing["revisions"]
    return int(revision["id"])


async def remove_revision(emu: RunningEmulator, revision: int) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{emu.api_base}/_emulator/revisions", json={"revision_id": revision, "remove": True}
        ) as response,
    ):
        assert response.status == 200
        assert (await response.json())["removed"] is True


async def create_drawing_elsewhere(emu: RunningEmulator, area: str, number: str) -> None:
    """Another tool (or a person) adds a drawing straight through the API."""
    info = emu.startup_info()
    (area_id,) = [a["id"] for a in info["drawing_areas"] if a["name"] == area]
    async with aiohttp.ClientSession() as http:
        token = await emulator_token(emu, http)
        async with http.post(
            f"{emu.api_base}/rest/v1.1/drawing_areas/{area_id}/drawings",
            params={"project_id": str(info["project_id"])},
            headers={
                "Authorization": f"Bearer {token}",
                "Procore-Company-Id": str(info["company_id"]),
            },
            json={
                "drawing": {
                    "number": number,
                    "title": "Added by hand",
                    "drawing_discipline": {"name": "General"},
                }
            },
        ) as response:
            assert response.status == 201, await response.text()


@pytest.fixture
async def emu() -> Any:
    async with serve(EmulatorConfig(processing_delay=0)) as running:
        yield running


async def test_an_imported_archive_matches_with_list_calls_only(
    emu: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    settings = await imported(emu, tmp_path, journal=journal_location.setting)
    result, made = await reconciled(emu, settings)

    assert statuses(result) == dict.fromkeys(ARCHIVE, Status.MATCHING)
    assert {o.expected.compared_with for o in result.outcomes if o.expected} == {"journal"}
    assert result.extras == []
    assert result.complete
    assert exit_code(result) == 0
    assert result.areas == 2
    # Reads only: the token, the areas, the sets, each area's drawings, and Building A's
    # revisions (A-102 revision 0 is not its drawing's current revision); Building B's files
    # are all current revisions, which the drawings list already shows.
    assert dict(made) == {
        "POST /oauth/token": 1,
        "GET /rest/v1.1/projects/{project_id}/drawing_areas": 1,
        "GET /rest/v1.0/projects/{project_id}/drawing_sets": 1,
        "GET /rest/v1.1/drawing_areas/{drawing_area_id}/drawings": 2,
        "GET /rest/v1.0/projects/{project_id}/drawing_revisions": 1,
    }
    assert sum(result.requests.values()) == sum(made.values()) == 6
    text = summary_text(result)
    assert "6 files in 2 areas: 6 matching, 0 missing, 0 differs" in text
    assert "6 Procore requests: " in text


async def test_a_revision_removed_in_procore_is_missing(emu: RunningEmulator, tmp_path: Path):
    settings = await imported(emu, tmp_path)
    await remove_revision(emu, await revision_id(emu, "S-201"))

    result, made = await reconciled(emu, settings)

    gone = "Building B/S-201 Foundations.pdf"
    assert statuses(result) == dict.fromkeys(ARCHIVE, Status.MATCHING) | {gone: Status.MISSING}
    (outcome,) = [o for o in result.outcomes if o.rel == gone]
    assert outcome.reason is not None
    assert "S-201 has no revision 0" in outcome.reason
    assert "the journal says: verified" in outcome.reason
    assert exit_code(result) == 1
    assert all(e.startswith("GET ") or e == "POST /oauth/token" for e in made)
    assert f"MISSING  {gone}: drawing S-201 has no revision 0" in summary_text(result)


async def test_a_deleted_revision_is_missing_and_an_obsolete_one_matches(
    emu: RunningEmulator, tmp_path: Path
):
    settings = await imported(emu, tmp_path)
    for number, flag in (("A-101", "deleted"), ("M-301", "obsolete")):
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{emu.api_base}/_emulator/revisions",
                json={"revision_id": await revision_id(emu, number), flag: True},
            ) as response,
        ):
            assert response.status == 200

    result, _ = await reconciled(emu, settings)

    found = {o.rel: o for o in result.outcomes}
    assert found["Building A/A-101 Plan.pdf"].status is Status.MISSING
    assert "deleted in Procore" in str(found["Building A/A-101 Plan.pdf"].reason)
    assert found["Building B/M-301 Ducts.pdf"].status is Status.MATCHING
    assert found["Building B/M-301 Ducts.pdf"].reason == "obsolete in Procore"


async def test_a_drawing_no_file_names_is_extra_and_alone_exits_0(
    emu: RunningEmulator, tmp_path: Path
):
    settings = await imported(emu, tmp_path)
    await create_drawing_elsewhere(emu, "Building B", "Z-9")

    result, _ = await reconciled(emu, settings)

    assert statuses(result) == dict.fromkeys(ARCHIVE, Status.MATCHING)
    (extra,) = result.extras
    assert (extra.area, extra.drawing.number, extra.drawing.current) == ("Building B", "Z-9", None)
    assert exit_code(result) == 0  # listed, not a failure: nothing of the archive is missing
    assert "EXTRA    Z-9 in 'Building B', current revision none" in summary_text(result)


async def test_revisions_procore_will_not_list_leave_only_the_current_ones_known(
    tmp_path: Path,
):
    async with serve(EmulatorConfig(processing_delay=0, revisions_access=False)) as emu:
        settings = await imported(emu, tmp_path, check=False)  # it cannot read back either
        result, _ = await reconciled(emu, settings)

    # Every file that is its drawing's current revision is proven by the drawings list; the
    # earlier revision of A-102 cannot be, and is not called missing.
    assert statuses(result) == dict.fromkeys(ARCHIVE, Status.MATCHING) | {
        "Building A/A-102 Section.pdf": Status.UNKNOWN
    }
    (unknown,) = [o for o in result.outcomes if o.status is Status.UNKNOWN]
    assert "revisions could not be read" in str(unknown.reason)
    assert exit_code(result) == 1


async def test_another_day_in_procore_differs_and_says_what_procore_has(tmp_path: Path):
    # A project at UTC+13 files noon UTC on the next calendar day (README, "File names").
    async with serve(EmulatorConfig(processing_delay=0, project_utc_offset=13)) as emu:
        root = tmp_path / "drawings"
        write_pdf(root / "Building A" / "A-101 Plan.pdf")
        settings = settings_for(emu, root)
        await run_import(settings, CREDENTIALS, progress=False)

        result, _ = await reconciled(emu, settings)

    (outcome,) = result.outcomes
    assert outcome.status is Status.DIFFERS
    assert outcome.expected is not None
    assert outcome.procore is not None
    assert f"drawing date {outcome.expected.drawing_date}" not in outcome.procore
    assert "revision 0 in set 'Issued for Construction'" in outcome.procore
    assert exit_code(result) == 1


async def test_files_that_cannot_be_proven_say_why(emu: RunningEmulator, tmp_path: Path):
    """Nothing imported: a missing area, a broken PDF, a name without a number, a review
    import whose number Procore reads itself."""
    root = tmp_path / "drawings"
    write_pdf(root / "Building A" / "A-101 Plan.pdf")
    write_pdf(root / "Building Z" / "A-102 Plan.pdf")
    (root / "Building A" / "A-900 Broken.pdf").parent.mkdir(parents=True, exist_ok=True)
    (root / "Building A" / "A-900 Broken.pdf").write_bytes(b"not a pdf")
    write_pdf(root / "Building A" / "Scan of sheet.pdf")

    direct = (await reconciled(emu, settings_for(emu, root)))[0]
    found = {o.rel: o for o in direct.outcomes}
    assert statuses(direct) == {
        "Building A/A-101 Plan.pdf": Status.MISSING,
        "Building Z/A-102 Plan.pdf": Status.MISSING,
        "Building A/A-900 Broken.pdf": Status.INVALID,
        "Building A/Scan of sheet.pdf": Status.INVALID,
    }
    assert "no drawing A-101 in area 'Building A'" in str(found["Building A/A-101 Plan.pdf"].reason)
    assert "'Building Z' is not in project" in str(found["Building Z/A-102 Plan.pdf"].reason)
    assert "%PDF-" in str(found["Building A/A-900 Broken.pdf"].reason)
    assert "no drawing number" in str(found["Building A/Scan of sheet.pdf"].reason)

    review = (await reconciled(emu, settings_for(emu, root, mode="review")))[0]
    scan = {o.rel: o for o in review.outcomes}["Building A/Scan of sheet.pdf"]
    assert scan.status is Status.UNKNOWN
    assert "cannot be matched" in str(scan.reason)
    assert exit_code(review) == 1


async def test_cli_writes_private_json_and_csv_reports(emu: RunningEmulator, tmp_path: Path):
    settings = await imported(emu, tmp_path)
    await remove_revision(emu, await revision_id(emu, "A-101"))
    await create_drawing_elsewhere(emu, "Building A", "Z-9")
    config = tmp_path / "bulkimport.toml"
    write_config(config, raw_config(emu, settings.source.root))
    report = tmp_path / "out" / "reconcile.json"

    with anyio.fail_after(120):
        done = await anyio.run_process(
            [
                sys.executable,
                "-m",
                "bulkimport",
                "reconcile",
                "--config",
                str(config),
                "--report",
                str(report),
                "--log-format",
                "json",
            ],
            env=run_env(),
            check=False,
        )

    assert done.returncode == 1, done.stderr
    out = done.stdout.decode()
    assert "5 matching, 1 missing" in out
    assert "; 1 extra (in Procore, not in the archive)" in out
    assert f"see the report: {report}" in out
    assert "6 Procore requests: 1 GET /rest/v1.0/projects/{id}/drawing_revisions" in out
    body = json.loads(report.read_text())
    assert body["totals"]["matching"] == 5
    assert body["totals"]["missing"] == 1
    assert body["totals"]["procore_requests"]["POST /oauth/token"] == 1
    (missing,) = [f for f in body["files"] if f["status"] == "missing"]
    assert (missing["path"], missing["number"], missing["compared_with"]) == (
        "Building A/A-101 Plan.pdf",
        "A-101",
        "journal",
    )
    assert [(x["number"], x["drawing_area"]) for x in body["extra"]] == [("Z-9", "Building A")]
    table = report.with_suffix(".csv")
    assert table.read_bytes().startswith(b"\xef\xbb\xbf")
    lines = table.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("path,status,number,revision")
    assert len(lines) == 1 + 6 + 1
    assert any(",extra,Z-9," in line for line in lines)
    assert report.stat().st_mode & 0o777 == 0o600
    assert table.stat().st_mode & 0o777 == 0o600
    events = [json.loads(line)["event"] for line in done.stderr.decode().splitlines()]
    assert "reconcile.area" in events
    assert CREDENTIALS.client_secret not in done.stderr.decode() + out
