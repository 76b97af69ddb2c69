"""The engine end to end, against the emulator: exactly once, batches, drawings, expiry,
re-runs, revisions and bad files."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bulkimport import pipeline
from bulkimport.clock import SYSTEM, Clock
from bulkimport.dry_run import plan_only
from bulkimport.emulator import EmulatorConfig, RunningEmulator, Wan, serve
from bulkimport.errors import ConfigError
from bulkimport.models import FileState, Plan, Ticket
from bulkimport.pipeline import run_import
from bulkimport.procore.client import ProcoreClient
from bulkimport.procore.pacing import RateBudget
from bulkimport.report import exit_code, report_entries
from bulkimport.samples import write_archive
from bulkimport.settings import TargetSettings
from tests.journals import JournalPlace

from .clocks import EmulatorClock
from .conftest import CREDENTIALS, advance_clock, emulator_state, make_settings, write_pdf
from .conftest import import_archive as run

pytestmark = pytest.mark.anyio


def write_path(path: Path, size: int = 2048, seed: int = 0) -> Path:
    write_pdf(path, size=size, seed=seed)
    return path


def later(path: Path, days: int = 1) -> None:
    """Move a file's mtime (and so its drawing date) `days` ahead."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + days * 86_400 * 10**9))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def assert_exactly_once(emu: RunningEmulator, paths: list[Path]) -> dict[str, Any]:
    """Every file's bytes are attached once, and each became one revision."""
    state = await emulator_state(emu, "uploads", "drawings", "drawing_uploads", "violations")
    attached = Counter(u["sha256"] for u in state["uploads"] if u["attached_to"] is not None)
    assert {sha(p): attached[sha(p)] for p in paths} == {sha(p): 1 for p in paths}
    assert sum(attached.values()) == len(paths)
    revisions = [r for d in state["drawings"] for r in d["revisions"]]
    assert len(revisions) == len(paths)
    assert state["violations"] == []
    return state


async def test_a_few_hundred_files_arrive_exactly_once_in_full_batches(
    emulator: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    paths = write_archive(tmp_path / "src", 240, min_size=1_000, max_size=40_000)
    result = await run(
        emulator,
        tmp_path / "src",
        batch_size=50,
        batch_max_wait=30,
        journal=journal_location.setting,
    )
    assert exit_code(result) == 0
    assert result.stats.planned[Plan.NEW] == 240
    assert set(result.states) == {FileState.VERIFIED}
    state = await assert_exactly_once(emulator, paths)
    sizes = sorted(len(du["imports"]) for du in state["drawing_uploads"])
    assert sizes == [40, 50, 50, 50, 50]  # full batches, the rest at the end of input
    assert {du["status"] for du in state["drawing_uploads"]} == {"reviewed"}
    # Each import carries the revision its file name gives ("_Rev1"), else the default "0".
    by_uuid = {u["uuid"]: u["response_filename"] for u in state["uploads"]}
    revisions = {
        by_uuid[i["upload_uuid"]]: i["default_revision"]
        for du in state["drawing_uploads"]
        for i in du["imports"]
    }
    assert revisions == {p.name: "1" if "_Rev1" in p.name else "0" for p in paths}


async def test_existing_numbers_are_reused_and_new_ones_created_once(
    tmp_path: Path, journal_location: JournalPlace
):
    async with serve(EmulatorConfig(processing_delay=0, max_per_page=3)) as emu:
        root = tmp_path / "src"
        for n in range(5):  # five drawings exist already: the listing spans two pages
            write_pdf(root / f"A-10{n} Existing.pdf", seed=n)
        await run(emu, root, journal=journal_location.setting)
        for n in range(5):  # revised a day later: Procore needs the set or a date to differ
            later(write_path(root / f"A-10{n} Existing.pdf", seed=100 + n))
        write_pdf(root / "A-200 New Sheet.pdf", seed=7)
        write_pdf(root / "A-200_New Sheet_Rev1.pdf", seed=8)  # same number twice in one run
        result = await run(emu, root, journal=journal_location.setting)
        assert exit_code(result) == 0
        assert result.stats.planned[Plan.CHANGED] == 5
        state = await emulator_state(emu, "drawings", "requests")
        numbers = Counter(d["number"] for d in state["drawings"])
        assert numbers == Counter({f"A-10{n}": 1 for n in range(5)} | {"A-200": 1})
        assert state["requests"]["POST /rest/v1.1/drawing_areas/{drawing_area_id}/drawings"] == 6
        revisions = {d["number"]: len(d["revisions"]) for d in state["drawings"]}
        assert revisions == {**{f"A-10{n}": 2 for n in range(5)}, "A-200": 2}


def client_on(
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock = SYSTEM,
    client: Callable[..., ProcoreClient] = ProcoreClient,
) -> None:
    """Runs started from here on make their Procore client with `client` and give it `clock`
    (its request budget, retries, token and tickets read it). `run_import` takes no clock, so
    the pipeline's names are replaced for the test."""
    monkeypatch.setattr(pipeline, "ProcoreClient", partial(client, clock=clock))
    monkeypatch.setattr(pipeline, "RateBudget", partial(RateBudget, clock=clock))


class AgingClient(ProcoreClient):
    """A client after whose `nth` ticket Procore's clock jumps `age` seconds: that ticket, and
    any other not yet POSTed, is that much older before a POST worker looks at it."""

    def __init__(
        self, *args: Any, emu: RunningEmulator, age: float, nth: int = 1, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._emu, self._age, self._nth = emu, age, nth
        self.issued = 0

    async def create_upload(self, filename: str) -> Ticket:
        ticket = await super().create_upload(filename)
        self.issued += 1
        if self.issued == self._nth:
            self._emu.world.clock.advance(self._age)
        return ticket


async def test_expiring_tickets_are_requested_again_and_files_still_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Tickets live an hour; the engine renews one with less than its 600 s margin left. The
    client reads Procore's clock, which jumps 3,300 s after the second ticket: that one (and
    any other still waiting for its POST) is within the margin, not yet expired."""
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        client_on(monkeypatch, EmulatorClock(emu), partial(AgingClient, emu=emu, age=3300, nth=2))
        paths = write_archive(tmp_path / "src", 12, min_size=1_000, max_size=5_000)
        result = await run(emu, tmp_path / "src", upload_workers=2, expiry_margin=600)
        assert exit_code(result) == 0
        renewed = result.stats.rerequested
        assert set(renewed) == {"near_expiry"}  # before storage could refuse any
        assert renewed["near_expiry"] > 0
        state = await assert_exactly_once(emu, paths)
        unattached = [u for u in state["uploads"] if u["attached_to"] is None]
        assert len(unattached) == renewed["near_expiry"]


async def test_policy_expired_from_storage_is_retried_with_a_new_ticket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """No margin, and the client keeps the system's time while Procore's jumps past the first
    ticket's life before its POST: the engine only learns of the expiry from storage's 403."""
    async with serve(EmulatorConfig(processing_delay=0, upload_ttl=60)) as emu:
        client_on(monkeypatch, SYSTEM, partial(AgingClient, emu=emu, age=61))
        paths = write_archive(tmp_path / "src", 3, min_size=1_000, max_size=2_000)
        result = await run(emu, tmp_path / "src", upload_workers=1)
        assert exit_code(result) == 0
        assert set(result.stats.rerequested) == {"expired"}  # it could not see it coming
        assert result.stats.rerequested["expired"] > 0
        await assert_exactly_once(emu, paths)
        rejections = (await emulator_state(emu, "rejections"))["rejections"]
        assert rejections["policy_expired"] == result.stats.rerequested["expired"]


async def test_second_run_on_an_unchanged_folder_uploads_nothing(
    emulator: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    write_archive(tmp_path / "src", 20, min_size=1_000, max_size=5_000)
    await run(emulator, tmp_path / "src", journal=journal_location.setting)
    before = (await emulator_state(emulator, "requests"))["requests"]
    again = await run(emulator, tmp_path / "src", journal=journal_location.setting)
    after = (await emulator_state(emulator, "requests"))["requests"]
    assert exit_code(again) == 0
    assert again.stats.planned[Plan.UNCHANGED] == 20
    # Nothing to send, so nothing to ask: the targets are resolved when a file needs them
    # (a nightly run over an unchanged archive spends none of the budget; issue 14).
    asked = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
    assert set(asked) <= {"POST /oauth/token"}


async def test_a_touched_but_identical_file_is_not_imported_again(
    emulator: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    write_pdf(tmp_path / "src" / "A-1 Plan.pdf")
    await run(emulator, tmp_path / "src", journal=journal_location.setting)
    os.utime(tmp_path / "src" / "A-1 Plan.pdf", ns=(1, 10**18))
    again = await run(emulator, tmp_path / "src", journal=journal_location.setting)
    assert again.stats.planned[Plan.UNCHANGED] == 1
    assert again.stats.uploaded == 0


async def test_a_changed_file_becomes_a_new_revision(
    emulator: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    path = tmp_path / "src" / "S201_Foundation Plan_Rev3.pdf"
    write_pdf(path, seed=1)
    await run(emulator, tmp_path / "src", journal=journal_location.setting)
    later(write_path(path, size=4096, seed=2))  # Rev3 corrected the next day
    write_pdf(path.with_name("S201_Foundation Plan_Rev4.pdf"), size=3000, seed=3)
    result = await run(emulator, tmp_path / "src", journal=journal_location.setting)
    assert exit_code(result) == 0
    assert result.stats.planned[Plan.CHANGED] == 1
    assert result.stats.planned[Plan.NEW] == 1
    (drawing,) = (await emulator_state(emulator, "drawings"))["drawings"]
    assert sorted(r["revision_number"] for r in drawing["revisions"]) == ["3", "3", "4"]


async def test_bad_files_are_reported_and_the_others_import(
    emulator: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    root = tmp_path / "src"
    good = [write_pdf(root / f"A-{n} Good.pdf", seed=n) for n in range(3)]
    (root / "A-9 Empty.pdf").write_bytes(b"")
    (root / "A-8 Renamed.pdf").write_bytes(b"PK\x03\x04 not a pdf")
    (root / "scan0001.pdf").write_bytes(b"%PDF-1.4 no number")
    result = await run(emulator, root, journal=journal_location.setting)
    assert exit_code(result) == 1
    report = {f["path"]: f async for f in report_entries(result)}
    assert report["A-9 Empty.pdf"]["note"] == "the file is empty (0 bytes)"
    assert "not a PDF" in report["A-8 Renamed.pdf"]["note"]
    assert "does not match" in report["scan0001.pdf"]["note"]
    assert {report[f"A-{n} Good.pdf"]["state"] for n in range(3)} == {"verified"}
    assert len(good) == 3
    state = await emulator_state(emulator, "uploads")
    assert len(state["uploads"]) == 3  # nothing was sent for a bad file


async def test_dry_run_plans_without_sending_or_writing(
    emulator: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    write_archive(tmp_path / "src", 6, min_size=1_000, max_size=2_000)
    (tmp_path / "src" / "notes.pdf").write_bytes(b"x")
    settings = make_settings(emulator, tmp_path / "src", journal=journal_location.setting)
    summary = await plan_only(settings)
    assert summary.counts == {Plan.NEW: 6, Plan.INVALID: 1}
    assert "notes.pdf" in summary.reasons
    assert not journal_location.exists()
    assert (await emulator_state(emulator, "requests_total"))["requests_total"] == 0


async def test_a_missing_set_is_created_only_when_allowed(tmp_path: Path):
    from bulkimport.errors import ConfigError
    from bulkimport.settings import parse_settings

    from .conftest import config_dict

    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        write_pdf(tmp_path / "src" / "A-1 Plan.pdf")
        raw = config_dict(emu, tmp_path / "src")
        raw["target"]["drawing_set"] = "Addendum 7"
        with pytest.raises(ConfigError, match="Addendum 7"):
            await run_import(parse_settings(raw, tmp_path), CREDENTIALS, progress=False)
        raw["target"]["create_missing_set"] = True
        result = await run_import(parse_settings(raw, tmp_path), CREDENTIALS, progress=False)
        assert exit_code(result) == 0
        sets = (await emulator_state(emu, "drawing_sets"))["drawing_sets"]
        assert "Addendum 7" in [s["name"] for s in sets]


async def test_company_level_uploads(tmp_path: Path):
    from bulkimport.settings import parse_settings

    from .conftest import config_dict

    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        write_pdf(tmp_path / "src" / "A-1 Plan.pdf")
        raw = config_dict(emu, tmp_path / "src")
        raw["procore"]["upload_scope"] = "company"
        result = await run_import(parse_settings(raw, tmp_path), CREDENTIALS, progress=False)
        assert exit_code(result) == 0
        requests = (await emulator_state(emu, "requests"))["requests"]
        assert requests["POST /rest/v1.1/companies/{company_id}/uploads"] == 1


async def test_a_revision_procore_already_has_is_skipped_with_a_note_under_skip(
    emulator: RunningEmulator, tmp_path: Path
):
    """Changed bytes, same revision label, same set and date, and `same_revision = "skip"`:
    Procore would refuse it, so it is skipped before anything is uploaded, the note says it was
    the policy, and later runs leave it alone."""
    root = tmp_path / "src"
    write_pdf(root / "A-1 Plan.pdf", seed=1)
    await run(emulator, root)
    write_pdf(root / "A-1 Plan.pdf", size=3000, seed=2)
    write_pdf(root / "A-2 Other.pdf", seed=3)
    result = await run(emulator, root, same_revision="skip")
    assert exit_code(result) == 0
    report = {f["path"]: f async for f in report_entries(result)}
    assert report["A-1 Plan.pdf"]["state"] == "skipped"
    assert "already has revision 0 of A-1" in report["A-1 Plan.pdf"]["note"]
    assert "engine.same_revision = skip" in report["A-1 Plan.pdf"]["note"]
    assert report["A-2 Other.pdf"]["state"] == "verified"
    requests = (await emulator_state(emulator, "requests"))["requests"]
    assert requests["POST /rest/v1.1/projects/{project_id}/uploads"] == 2  # none for the skip
    again = await run(emulator, root, same_revision="skip")
    assert again.plans["A-1 Plan.pdf"] == Plan.UNCHANGED


async def test_a_refused_entry_fails_alone_and_the_rest_of_its_batch_imports(tmp_path: Path):
    """Uploads an earlier run left are attached in the same batch as new ones; Procore has
    deleted them meanwhile (its clock moved past the attach deadline), so it refuses those
    entries by index: they fail with its reason and the others import."""
    from .test_resilience import upload_without_batching

    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        root = tmp_path / "src"
        left = [write_path(root / f"A-{n} Left.pdf", seed=n) for n in range(1, 3)]
        await upload_without_batching(emu, root, left)
        await advance_clock(emu, 8 * 24 * 3600)
        others = [write_path(root / f"A-{n} Other.pdf", seed=n) for n in range(3, 6)]
        result = await run(emu, root, attach_deadline=30 * 24 * 3600.0)
        assert exit_code(result) == 1
        report = {f["path"]: f async for f in report_entries(result)}
        for path in left:
            assert report[path.name]["state"] == "failed"
            assert "was deleted" in report[path.name]["note"]
        assert {report[p.name]["state"] for p in others} == {"verified"}
        assert (
            emu.world.ledger.requests["POST /rest/v1.1/projects/{project_id}/drawing_uploads"] == 2
        )


@pytest.mark.parametrize("seed", [1, 2])
async def test_under_faults_reruns_converge_to_exactly_once(tmp_path: Path, seed: int):
    """10% 500/503, 3% dropped connections, and 30% of Create Drawing Uploads applied with the
    answer lost. Retries and journalled tokens must never duplicate; a file that still failed
    is picked up by the next run."""
    from bulkimport.emulator import Faults
    from bulkimport.settings import parse_settings

    from .conftest import config_dict

    faults = Faults(error_rate=0.1, drop_rate=0.03, apply_drop_rate=0.3, seed=seed)
    async with serve(EmulatorConfig(processing_delay=0.05, faults=faults)) as emu:
        paths = write_archive(tmp_path / "src", 80, min_size=1_000, max_size=6_000)
        raw = config_dict(emu, tmp_path / "src", batch_size=20)
        raw["procore"]["max_attempts"] = 8
        settings = parse_settings(raw, tmp_path)
        for _ in range(3):
            result = await run_import(settings, CREDENTIALS, progress=False)
            if exit_code(result) == 0:
                break
        assert exit_code(result) == 0
        await assert_exactly_once(emu, paths)
        state = await emulator_state(emu, "faults", "drawings")
        assert state["faults"]["apply_then_drop"] > 0
        assert len(state["drawings"]) == len(paths)  # no drawing created twice


async def test_a_config_area_the_project_lacks_stops_the_run_before_any_upload(
    emulator: RunningEmulator, tmp_path: Path
):
    """The config's own area is checked when the first file needs a target (not before: an
    idle run asks nothing); a typo there is a configuration error that stops the run, not a
    refusal of each file."""
    write_pdf(tmp_path / "src" / "A-1 Plan.pdf")
    settings = make_settings(emulator, tmp_path / "src")
    settings = dataclasses.replace(settings, target=TargetSettings("Tower C", "Bid Set"))
    with pytest.raises(ConfigError, match="it has: 'Building A', 'Building B'"):
        await run_import(settings, CREDENTIALS, progress=False)  # as it is, not in a group
    requests = (await emulator_state(emulator, "requests"))["requests"]
    assert "POST /rest/v1.1/projects/{project_id}/uploads" not in requests


async def test_a_new_drawing_and_its_ticket_are_asked_for_at_once(tmp_path: Path):
    """A drawing the run creates has no revision to collide with, so its file's ticket is not
    held back until the drawing exists: the two calls reach Procore side by side, one 0.3 s
    round trip apart at most, never one after the other's answer."""
    write_pdf(tmp_path / "src" / "A-1 Plan.pdf", seed=1)
    async with serve(EmulatorConfig(processing_delay=0, wan=Wan(api_latency=0.3))) as emu:
        result = await run_import(make_settings(emu, tmp_path / "src"), CREDENTIALS, progress=False)
        assert exit_code(result) == 0
        arrived = {name: t for t, name in emu.world.ledger.timeline}
    drawing = arrived["POST /rest/v1.1/drawing_areas/{drawing_area_id}/drawings"]
    ticket = arrived["POST /rest/v1.1/projects/{project_id}/uploads"]
    assert abs(ticket - drawing) < 0.2
