"""Nothing counts as done unless Procore shows it: the read-back, drawings left in Items to
Review, changed content under the same revision, and batches found instead of resent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulkimport.emulator import EmulatorConfig, Faults, serve
from bulkimport.journal.rows import FileRow
from bulkimport.models import FileState, Plan
from bulkimport.pipeline import run_import
from bulkimport.procore.answers import Revision
from bulkimport.report import exit_code, summary_text, totals
from bulkimport.samples import write_archive
from bulkimport.stages.readback import LogIndex, outcome, row_key

from .conftest import (
    CREDENTIALS,
    advance_clock,
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
UPLOADS = "POST /rest/v1.1/projects/{project_id}/uploads"


def reexport(path: Path, seed: int) -> None:
    """New content under the same name, on the same day: the drawing date stays."""
    before = path.stat().st_mtime_ns
    write_pdf(path, size=3000, seed=seed)
    os.utime(path, ns=(before, before + 1_000_000))  # a later time of the same day


# Read-back ---------------------------------------------------------------------------------------


def row(**values: Any) -> FileRow:
    defaults: dict[str, Any] = dict.fromkeys(FileRow.__slots__)
    defaults |= {"rel": "A-1.pdf", "size": 1, "mtime_ns": 1, "review": False}
    defaults |= {"state": FileState.IMPORTED, "number": "A-1", "revision": "2"}
    defaults |= {"drawing_id": 7, "set_id": 3, "drawing_date": "2026-03-17"}
    defaults |= {"drawing_upload_id": 99}
    return FileRow(**(defaults | values))


def listed(*keys: tuple[int, str, int, str, str | None]) -> LogIndex:
    index = LogIndex()
    for drawing, label, set_id, day, received in keys:
        index.add(
            Revision.of(
                {
                    "drawing_id": drawing,
                    "revision_number": label,
                    "drawing_set": {"id": set_id},
                    "drawing_date": day,
                    "received_date": received,
                }
            )
        )
    return index


def test_a_processed_import_missing_from_the_log_fails_with_what_procore_has():
    meant = row()
    state, note = outcome(meant, "reviewed", listed((7, "1", 3, "2026-01-02", None)))
    assert state is FileState.FAILED
    assert note is not None
    assert "does not show drawing A-1 (id 7), revision 2 in set 3 dated 2026-03-17" in note
    there = listed((7, "2", 3, "2026-03-17T12:00:00Z", None))  # answered as a date-time
    assert outcome(meant, "reviewed", there) == (FileState.VERIFIED, None)
    # Sent without a received date: one Procore filled in still matches.
    filled = listed((7, "2", 3, "2026-03-17", "2026-03-18"))
    assert outcome(meant, "reviewed", filled) == (FileState.VERIFIED, None)
    dated = row(received_date="2026-03-20")
    assert outcome(dated, "reviewed", filled)[0] is FileState.FAILED
    waiting, why = outcome(meant, "ready_for_review", listed())
    assert waiting is FileState.NEEDS_REVIEW
    assert why is not None
    assert "Items to Review" in why
    answered = (7, "2", 3, "2026-03-17", None)
    assert row_key(row(drawing_date="2026-03-17T12:00:00Z")) == answered


async def test_every_file_is_read_back_for_one_request_per_area_and_set(tmp_path: Path):
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        write_archive(tmp_path / "src", 120, min_size=1_000, max_size=4_000)
        result = await run(emu, tmp_path / "src", batch_size=50)
        assert exit_code(result) == 0
        assert set(result.states) == {FileState.VERIFIED}
        figures = totals(result)
        assert figures["readback_requests"] == 1  # one area, one set, one page
        made = sum(figures["procore_requests"].values())
        assert figures["readback_requests"] / made < 0.01


async def test_direct_imports_left_in_items_to_review_are_not_done(tmp_path: Path):
    """Procore could not assign one sheet: its drawing upload ends ready_for_review. That file
    is needs_review and fails the run; the others of the same upload are in the log."""
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        root = tmp_path / "src"
        for n in range(1, 5):
            write_pdf(root / f"A-{n} Plan.pdf", seed=n)
        write_pdf(root / "A-5 Plan [review].pdf", seed=5)
        result = await run(emu, root)
        assert exit_code(result) == 1
        report = await report_of(result)
        assert report["A-5 Plan [review].pdf"]["state"] == "needs_review"
        assert "waits in Items to Review" in report["A-5 Plan [review].pdf"]["note"]
        assert {report[f"A-{n} Plan.pdf"]["state"] for n in range(1, 5)} == {"verified"}
        assert "IN ITEMS TO REVIEW A-5 Plan [review].pdf" in summary_text(result)
        statuses = {
            u["status"] for u in (await emulator_state(emu, "drawing_uploads"))["drawing_uploads"]
        }
        assert statuses == {"ready_for_review"}

        again = await run(emu, root)  # read back again; never uploaded a second time
        assert again.plans["A-5 Plan [review].pdf"] == Plan.UNCHANGED
        assert (await report_of(again))["A-5 Plan [review].pdf"]["state"] == "needs_review"
        assert exit_code(again) == 1
        assert emu.world.ledger.requests[UPLOADS] == 5


# Changed content, same revision label and dates -----------------------------------------------


@pytest.mark.parametrize("policy", ["received-date", "fail"])
async def test_changed_content_under_the_same_revision(tmp_path: Path, policy: str):
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        root = tmp_path / "src"
        names = [f"A-{n} Plan.pdf" for n in range(1, 4)]
        for n, name in enumerate(names):
            write_pdf(root / name, seed=n)
        assert exit_code(await run(emu, root)) == 0
        for n, name in enumerate(names):
            reexport(root / name, seed=100 + n)
        result = await run(emu, root, same_revision=policy)
        report = await report_of(result)
        assert {result.plans[name] for name in names} == {Plan.CHANGED}
        drawings = (await emulator_state(emu, "drawings"))["drawings"]
        if policy == "received-date":
            assert exit_code(result) == 0
            assert {report[name]["state"] for name in names} == {"verified"}
            assert all("as a new revision received" in report[name]["note"] for name in names)
            for drawing in drawings:
                first, second = drawing["revisions"]
                assert first["received_date"] is None
                assert second["received_date"] is not None
                assert (first["revision_number"], first["drawing_date"]) == (
                    second["revision_number"],
                    second["drawing_date"],
                )
        else:
            assert exit_code(result) == 1
            for name in names:
                assert report[name]["state"] == "failed"
                assert "give it a new revision label or drawing date" in report[name]["note"]
            assert [len(d["revisions"]) for d in drawings] == [1, 1, 1]
            again = await run(emu, root, same_revision=policy)  # stays failed, never quiet
            assert exit_code(again) == 1


async def test_a_new_file_procore_already_holds_is_skipped_not_changed(tmp_path: Path):
    """The journal never saw this content: Procore's revision is taken as this file (another
    machine imported it), not as changed content to re-date."""
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        root = tmp_path / "src"
        write_pdf(root / "A-1 Plan.pdf", seed=1)
        assert exit_code(await run(emu, root)) == 0
        result = await run(emu, root, journal=other_journal(tmp_path / "other.sqlite3"))
        assert exit_code(result) == 0
        assert (await report_of(result))["A-1 Plan.pdf"]["state"] == "skipped"
        assert emu.world.ledger.requests[UPLOADS] == 1


# Exactly once without trusting the token's memory -------------------------------------------------


async def test_a_batch_procore_made_is_found_not_resent_when_tokens_are_forgotten(tmp_path: Path):
    """The first run's Create Drawing Upload takes effect, but its answer is lost and the run
    gives up on it (the batch stays journalled). Procore then forgets the token; the next run
    finds the drawing upload by its imports instead of sending the batch again."""
    faults = Faults(apply_drop_rate=1.0, scope=frozenset({"api"}))
    async with serve(EmulatorConfig(processing_delay=0, faults=faults)) as emu:
        root = tmp_path / "src"
        for n in range(1, 4):
            write_pdf(root / f"A-{n} Plan.pdf", seed=n)
        settings = make_settings(emu, root)
        patient = make_settings(emu, root)
        raw_procore = settings.procore
        from dataclasses import replace

        once = replace(settings, procore=replace(raw_procore, max_attempts=1))
        first = await run_import(once, CREDENTIALS, progress=False)
        assert exit_code(first) == 1
        assert {r["state"] for r in (await report_of(first)).values()} == {"batched"}
        assert emu.world.ledger.requests[DRAWING_UPLOADS] == 1

        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{emu.api_base}/_emulator/idempotency", json={"forget": True}) as answer,
        ):
            assert (await answer.json())["forgotten"] == 1
        again = await run_import(patient, CREDENTIALS, progress=False)
        assert exit_code(again) == 0
        assert emu.world.ledger.requests[DRAWING_UPLOADS] == 1  # found, not sent again
        state = await emulator_state(emu, "drawing_uploads", "violations")
        assert len(state["drawing_uploads"]) == 1
        assert state["violations"] == []


# Found in review: each fix has its case -----------------------------------------------------------


async def test_changed_content_whose_upload_never_landed_is_still_changed(tmp_path: Path):
    """The changed file reaches storage, but Procore refuses its batch (the upload was deleted
    by the attach deadline). The journal's hash of that upload is not what Procore holds: the
    next run still sees changed content and imports it with a received date."""
    from .test_resilience import upload_without_batching

    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        root = tmp_path / "src"
        path = root / "A-1 Plan.pdf"
        write_pdf(path, seed=1)
        assert exit_code(await run(emu, root)) == 0
        reexport(path, seed=2)
        await upload_without_batching(emu, root, [path])
        await advance_clock(emu, 8 * 24 * 3600)
        refused = await run(emu, root, attach_deadline=30 * 24 * 3600.0)
        assert (await report_of(refused))["A-1 Plan.pdf"]["state"] == "failed"
        again = await run(emu, root)
        assert exit_code(again) == 0
        report = await report_of(again)
        assert report["A-1 Plan.pdf"]["state"] == "verified"
        assert "as a new revision received" in report["A-1 Plan.pdf"]["note"]
        (drawing,) = (await emulator_state(emu, "drawings"))["drawings"]
        assert len(drawing["revisions"]) == 2


async def test_a_refusal_of_whole_batches_is_split_once_then_not_again(tmp_path: Path):
    """Every file of two batches is refused with a 400 that names none: the first batch is
    split to the last file (2n-2 extra calls), and the second, refused the same way, is failed
    whole instead of costing two calls per file again."""
    from .test_resilience import upload_without_batching

    async with serve(EmulatorConfig(processing_delay=0, refusal_style="batch")) as emu:
        root = tmp_path / "src"
        paths = []
        for n in range(1, 11):
            write_pdf(root / f"A-{n} Left.pdf", seed=n)
            paths.append(root / f"A-{n} Left.pdf")
        await upload_without_batching(emu, root, paths)
        await advance_clock(emu, 8 * 24 * 3600)
        result = await run(emu, root, attach_deadline=30 * 24 * 3600.0, batch_size=5)
        assert exit_code(result) == 1
        report = await report_of(result)
        assert {report[p.name]["state"] for p in paths} == {"failed"}
        assert result.stats.split_calls == 2 * 5 - 2
        assert emu.world.ledger.requests[DRAWING_UPLOADS] == 1 + 8 + 1
        unsplit = [p.name for p in paths if "was not split" in report[p.name]["note"]]
        assert len(unsplit) == 5


async def test_an_upload_deleted_from_items_to_review_is_sent_again(tmp_path: Path):
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        root = tmp_path / "src"
        write_pdf(root / "A-5 Plan [review].pdf", seed=5)
        first = await run(emu, root)
        assert (await report_of(first))["A-5 Plan [review].pdf"]["state"] == "needs_review"
        (upload,) = (await emulator_state(emu, "drawing_uploads"))["drawing_uploads"]
        async with aiohttp.ClientSession() as http:
            token = await emulator_token(emu, http)
            info = emu.startup_info()
            async with http.delete(
                f"{emu.api_base}/rest/v1.1/projects/{info['project_id']}/drawing_uploads/"
                f"{upload['id']}",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Procore-Company-Id": str(info["company_id"]),
                },
            ) as answer:
                assert answer.status == 200
        second = await run(emu, root)
        note = (await report_of(second))["A-5 Plan [review].pdf"]["note"]
        assert "is no longer in Procore" in note
        third = await run(emu, root)
        assert third.plans["A-5 Plan [review].pdf"] == Plan.RETRY
        assert emu.world.ledger.requests[UPLOADS] == 2


def test_an_older_drawing_upload_is_never_taken_for_a_pending_batch():
    from bulkimport.journal.rows import PendingBatch
    from bulkimport.procore.answers import ListedDrawingUpload
    from bulkimport.stages.prior_imports import same_batch

    rows = (row(rel="a/page1.pdf", drawing_id=None, review=True, state=FileState.BATCHED),)
    batch = PendingBatch("t", 5, 3, True, rows, created_at=1_800_000_000.0, project_id=7)
    entry = {
        "filename": "page1.pdf",
        "drawing_id": None,
        "default_revision": "2",
        "drawing_date": "2026-03-17",
        "drawing_set_id": 3,
    }
    upload = {"drawing_area_id": 5, "drawing_set_id": 3, "drawing_log_imports": [entry]}
    newer = ListedDrawingUpload.of(upload | {"id": 1, "created_at": "2027-01-15T08:00:00Z"})
    older = ListedDrawingUpload.of(upload | {"id": 2, "created_at": "2026-01-15T08:00:00Z"})
    assert same_batch(batch, newer)
    assert not same_batch(batch, older)
    assert not same_batch(batch, ListedDrawingUpload.of(upload | {"id": 3}))  # no time: no proof
    empty = PendingBatch("e", 5, 3, True, (), created_at=0.0, project_id=7)
    assert not same_batch(empty, newer)


async def test_a_failure_quotes_what_procore_has_for_the_drawing(tmp_path: Path):
    """The note of a file the log does not show names the drawing's revisions, read for that
    drawing alone (every set, obsolete and deleted included)."""
    from bulkimport.procore.client import ProcoreClient
    from bulkimport.stages.readback import what_procore_has

    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        root = tmp_path / "src"
        write_pdf(root / "A-1 Plan_Rev1.pdf", seed=1)
        write_pdf(root / "A-2 Plan.pdf", seed=2)
        assert exit_code(await run(emu, root)) == 0
        drawings = {d["number"]: d for d in (await emulator_state(emu, "drawings"))["drawings"]}
        a1 = drawings["A-1"]
        settings = make_settings(emu, root)
        async with aiohttp.ClientSession() as session:
            client = ProcoreClient(settings.procore, CREDENTIALS, session)
            meant = row(drawing_id=a1["id"], area_id=a1["drawing_area_id"])
            quote = await what_procore_has(client, meant)
        day = a1["revisions"][0]["drawing_date"]
        assert (
            quote
            == f"Procore has: revision 1 in set {a1['revisions'][0]['drawing_set_id']} dated {day}"
        )
