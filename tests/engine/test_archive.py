"""Real archives: a messy export with a manifest, many areas and sets, broken PDFs, revisions
in order, review mode, odd names; checked against what reached the emulator."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bulkimport.dry_run import plan_only
from bulkimport.emulator import EmulatorConfig, RunningEmulator, serve
from bulkimport.models import Plan
from bulkimport.outcome import RunResult
from bulkimport.pipeline import run_import
from bulkimport.report import exit_code, plan_text, report_entries, write_report
from bulkimport.samples import write_archive
from bulkimport.settings import Settings, parse_settings

from .conftest import CREDENTIALS, config_dict, emulator_state, write_pdf
from .messy_archive import MessyArchive, build

pytestmark = pytest.mark.anyio


def messy_settings(emu: RunningEmulator, archive: MessyArchive) -> Settings:
    raw = config_dict(emu, archive.root)
    raw["source"] |= {
        "manifest": str(archive.manifest),
        "layout": "{drawing_area}/{drawing_set}/*.pdf",
        "multipage": "review",
    }
    raw["target"] = {"create_missing_set": True}  # no default: every file says where it goes
    return parse_settings(raw, archive.root.parent)


async def test_dry_run_shows_every_problem_before_anything_is_sent(
    emulator: RunningEmulator, tmp_path: Path
):
    archive = build(tmp_path)
    summary = await plan_only(messy_settings(emulator, archive))
    text = plan_text(summary)
    for rel, words in archive.bad.items():
        assert rel in text
        assert words in summary.reasons[rel][1]
    assert "manifest  line 4: missing/Z-999 Gone.pdf: no such file under the source root" in text
    assert summary.counts[Plan.NEW] == len(archive.good)
    assert summary.waves == 2  # S-201 comes in two revisions
    assert sum(emulator.world.ledger.requests.values()) == 0


async def test_a_messy_archive_imports_every_good_file_once_and_reports_every_bad_one(
    emulator: RunningEmulator, tmp_path: Path
):
    archive = build(tmp_path)
    result = await run_import(messy_settings(emulator, archive), CREDENTIALS, progress=False)
    assert exit_code(result) == 1  # bad files and a manifest row naming nothing
    state = await emulator_state(
        emulator, "uploads", "drawings", "drawing_uploads", "drawing_sets", "violations"
    )
    assert state["violations"] == []

    # Nothing was sent for a bad file; every good file's bytes were attached exactly once.
    names = Counter(u["response_filename"] for u in state["uploads"])
    assert names == Counter(Path(rel).name for rel in archive.good)
    assert all(u["attached_to"] and u["post_count"] == 1 for u in state["uploads"])

    info = emulator.startup_info()
    area_ids = {a["name"]: a["id"] for a in info["drawing_areas"]}
    set_ids = {s["name"]: s["id"] for s in state["drawing_sets"]}
    by_uuid = {u["uuid"]: u["response_filename"] for u in state["uploads"]}
    revisions = {
        by_uuid[r["upload_uuid"]]: (d, r) for d in state["drawings"] for r in d["revisions"]
    }
    imports = {
        by_uuid[i["upload_uuid"]]: (du, i) for du in state["drawing_uploads"] for i in du["imports"]
    }
    for rel, want in archive.good.items():
        upload, entry = imports[Path(rel).name]
        assert upload["drawing_area_id"] == area_ids[want.area], rel
        assert upload["drawing_set_id"] == set_ids[want.drawing_set], rel
        assert entry["default_revision"] == want.revision, rel
        if want.review:
            assert upload["get_info_from_filename"] is True
            assert entry["drawing_id"] is None
            assert upload["status"] == "ready_for_review"
            continue
        drawing, revision = revisions[Path(rel).name]
        assert (drawing["number"], drawing["title"]) == (want.number, want.title), rel
        assert revision["revision_number"] == want.revision
        assert revision["drawing_set_id"] == set_ids[want.drawing_set]
    assert revisions["scan0001.pdf"][1]["drawing_date"] == "2024-03-05"  # from the register
    direct = [du for du, entry in imports.values() if entry["drawing_id"] is not None]
    assert not any(du["get_info_from_filename"] for du in direct)

    # The two revisions of S-201 went in order, each in its own drawing upload.
    (s201,) = [d for d in state["drawings"] if d["number"] == "S-201"]
    assert [r["revision_number"] for r in s201["revisions"]] == ["1", "2"]
    first, second = (r["drawing_upload_id"] for r in s201["revisions"])
    assert first < second

    report = {e["path"]: e async for e in report_entries(result)}
    for rel, words in archive.bad.items():
        assert report[rel]["state"] == "failed", rel
        assert words in report[rel]["note"], rel
    assert report["missing/Z-999 Gone.pdf"]["note"].startswith("manifest line 4: no such file")
    assert {report[rel]["state"] for rel in archive.good} == {"verified"}
    assert [s for s in state["drawing_sets"] if s["name"] == "Addendum 1"]  # created once


async def test_the_csv_report_keeps_odd_names_intact(emulator: RunningEmulator, tmp_path: Path):
    archive = build(tmp_path)
    result = await run_import(messy_settings(emulator, archive), CREDENTIALS, progress=False)
    table = await write_report(tmp_path / "out" / "report.json", result)
    assert table == tmp_path / "out" / "report.csv"
    assert table.stat().st_mode & 0o777 == 0o600
    with table.open(encoding="utf-8-sig", newline="") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    quoted = 'Building A/Issued for Construction/A-102 "Quoted" Façade, North Élévation.pdf'
    assert rows[quoted]["title"] == '"Quoted" Façade, North Élévation'
    assert rows[quoted]["state"] == "verified"
    assert rows["Building A/Issued for Construction/E-401 Locked.pdf"]["state"] == "failed"
    assert set(rows) >= set(archive.good) | set(archive.bad)


async def test_multipage_pdfs_are_reported_when_review_is_not_allowed(
    emulator: RunningEmulator, tmp_path: Path
):
    from .messy_archive import multipage_pdf

    root = tmp_path / "src"
    root.mkdir()
    (root / "M-301 Sheets.pdf").write_bytes(multipage_pdf(3))
    result = await run(emulator, root)
    report = {e["path"]: e async for e in report_entries(result)}
    assert "has 3 pages" in report["M-301 Sheets.pdf"]["note"]
    assert 'source.multipage = "review"' in report["M-301 Sheets.pdf"]["note"]
    assert (
        emulator.world.ledger.requests.get("POST /rest/v1.1/projects/{project_id}/uploads") is None
    )


async def run(emu: RunningEmulator, root: Path, **changes: Any) -> RunResult:
    raw = config_dict(emu, root)
    for section, values in changes.items():
        raw[section] |= values
    return await run_import(parse_settings(raw, root.parent), CREDENTIALS, progress=False)


async def test_review_mode_costs_about_one_request_per_drawing(tmp_path: Path):
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        paths = write_archive(tmp_path / "src", 100, min_size=1_000, max_size=3_000)
        # Batches flush when full or at the end, never on a timer a slow machine would reach.
        full = {"batch_max_wait": 600.0}
        result = await run(emu, tmp_path / "src", target={"mode": "review"}, engine=full)
        assert exit_code(result) == 0
        state = await emulator_state(emu, "drawing_uploads", "drawings", "requests")
        assert state["drawings"] == []  # no Create Drawing: Procore reads the sheets itself
        assert {du["status"] for du in state["drawing_uploads"]} == {"ready_for_review"}
        assert sum(len(du["imports"]) for du in state["drawing_uploads"]) == len(paths)
        import_calls = {
            k: v
            for k, v in state["requests"].items()
            if k.startswith("POST /rest/v1.1/projects") or "drawings" in k
        }
        per_drawing = sum(import_calls.values()) / len(paths)
        figure = f"review mode: {per_drawing:.2f} import requests per drawing: {import_calls}"
        print(figure)  # noqa: T201 - the figure the README quotes
        assert per_drawing == pytest.approx(1.02, abs=0.01)


async def test_revisions_of_one_number_arrive_in_order_whatever_the_listing_order(
    emulator: RunningEmulator, tmp_path: Path
):
    root = tmp_path / "src"
    for seed, revision in enumerate(("10", "B", "2", "A", "1")):
        write_pdf(root / f"A-301 Section Rev {revision}.pdf", seed=seed)
    write_pdf(root / "copy" / "A-301 Section Rev 2.pdf", seed=77)  # a second copy of rev 2
    result = await run(emulator, root)
    assert exit_code(result) == 0
    state = await emulator_state(emulator, "drawings")
    (drawing,) = state["drawings"]
    assert [r["revision_number"] for r in drawing["revisions"]] == ["1", "2", "10", "A", "B"]
    report = {e["path"]: e async for e in report_entries(result)}
    skipped = [p for p, e in report.items() if e["state"] == "skipped"]
    assert len(skipped) == 1
    assert "the same drawing, revision, set and dates as" in report[skipped[0]]["note"]


async def test_links_leading_out_are_followed_only_when_allowed(
    emulator: RunningEmulator, tmp_path: Path
):
    root = tmp_path / "src"
    write_pdf(root / "A-1 Inside.pdf", seed=1)
    outside = write_pdf_path(tmp_path / "elsewhere" / "A-2 Outside.pdf")
    (root / "A-2 Outside.pdf").symlink_to(outside)
    (root / "A-3 Alias.pdf").symlink_to(root / "A-1 Inside.pdf")
    refused = await run(emulator, root)
    report = {e["path"]: e async for e in report_entries(refused)}
    assert report["A-2 Outside.pdf"]["state"] == "failed"
    assert "source.follow_links" in report["A-2 Outside.pdf"]["note"]
    assert report["A-3 Alias.pdf"]["state"] == "verified"  # a link that stays inside is fine
    followed = await run(emulator, root, source={"follow_links": True})
    assert exit_code(followed) == 0
    assert followed.plans["A-2 Outside.pdf"] == Plan.RETRY


def write_pdf_path(path: Path) -> Path:
    write_pdf(path, seed=5)
    return path
