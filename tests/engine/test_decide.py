"""The planner's `decide`, branch by branch: what a run does with one file, from its stat, its
journal row and what earlier runs left to attach. Real files on disk; no network."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from bulkimport.journal.rows import FileRow
from bulkimport.models import FileState, Plan, Target, Uploaded
from bulkimport.settings import Settings
from bulkimport.source.manifest import read_manifest
from bulkimport.source.planner import Context, Decision, Order, decide
from bulkimport.source.scan import Found, found_at

from .conftest import write_pdf
from .test_scan import settings_at

NOW = 1_800_000_000.0
NAME = "A-1 Plan.pdf"
WEEK = 7 * 24 * 3600.0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    write_pdf(tmp_path / NAME, seed=1)
    return settings_at(tmp_path)


def found(settings: Settings, rel: str = NAME) -> Found:
    here = found_at(settings.source, rel)
    assert here is not None
    return here


def row(here: Found, state: FileState, same_stat: bool = True, **values: Any) -> FileRow:
    """A journal row for the file; with `same_stat` off, an mtime the file no longer has."""
    fields: dict[str, Any] = dict.fromkeys(FileRow.__slots__)
    fields |= {"rel": here.rel, "size": here.size, "mtime_ns": here.mtime_ns, "review": False}
    fields |= {"state": state, "number": "A-1", "revision": "0", "drawing_date": "2026-03-17"}
    if not same_stat:
        fields["mtime_ns"] = here.mtime_ns - 1_000_000_000
    return FileRow(**(fields | values))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def decided(
    settings: Settings,
    journalled: FileRow | None,
    rel: str = NAME,
    uploads: dict[str, Uploaded] | None = None,
    order: Order | None = None,
    manifest_file: Path | None = None,
) -> Decision:
    manifest = read_manifest(manifest_file) if manifest_file else None
    ctx = Context(settings, manifest, order or Order(), NOW, uploads or {})
    return decide(found(settings, rel), journalled, ctx)


def test_a_file_the_journal_does_not_know_is_new(settings: Settings):
    d = decided(settings, None)
    assert (d.plan, d.opened, d.restat, d.uploaded) == (Plan.NEW, False, False, None)
    assert d.file is not None
    assert (d.file.number, d.file.title, d.file.previous_sha256) == ("A-1", "Plan", None)


@pytest.mark.parametrize("state", [FileState.IMPORTED, FileState.VERIFIED, FileState.NEEDS_REVIEW])
def test_a_file_procore_took_with_the_same_stat_is_unchanged_and_not_opened(
    settings: Settings, state: FileState
):
    d = decided(settings, row(found(settings), state, sha256="not read"))
    assert (d.plan, d.file, d.opened, d.restat) == (Plan.UNCHANGED, None, False, False)


def test_a_new_stat_over_the_same_bytes_is_unchanged_and_the_stat_recorded(settings: Settings):
    here = found(settings)
    d = decided(settings, row(here, FileState.VERIFIED, False, sha256=sha256(here.path)))
    assert (d.plan, d.file, d.opened, d.restat) == (Plan.UNCHANGED, None, True, True)


def test_changed_bytes_go_as_a_new_revision_remembering_what_procore_holds(settings: Settings):
    here = found(settings)
    d = decided(settings, row(here, FileState.VERIFIED, False, sha256="old", held_sha256="held"))
    assert (d.plan, d.opened, d.restat) == (Plan.CHANGED, True, False)
    assert d.file is not None
    assert d.file.previous_sha256 == "held"


def test_a_row_without_a_sha256_is_taken_as_changed_without_opening_the_file(
    settings: Settings,
):
    here = found(settings)
    d = decided(settings, row(here, FileState.IMPORTED, False, sha256=None))
    assert (d.plan, d.opened) == (Plan.CHANGED, False)
    assert d.file is not None
    assert d.file.previous_sha256 is None


def test_a_skipped_file_procore_had_is_unchanged_while_it_stays_the_same(settings: Settings):
    here = found(settings)
    assert decided(settings, row(here, FileState.SKIPPED, drawing_id=7)).plan == Plan.UNCHANGED
    # Changed since, or skipped for another reason (no drawing): looked at again.
    assert decided(settings, row(here, FileState.SKIPPED, False, drawing_id=7)).plan == Plan.RETRY
    assert decided(settings, row(here, FileState.SKIPPED, drawing_id=None)).plan == Plan.RETRY


def test_a_failed_file_is_retried_with_the_content_procore_holds_but_not_a_failed_upload(
    settings: Settings,
):
    here = found(settings)
    d = decided(settings, row(here, FileState.FAILED, sha256="failed upload"))
    assert d.plan == Plan.RETRY
    assert d.file is not None
    assert d.file.previous_sha256 is None  # the upload that failed never landed
    d = decided(settings, row(here, FileState.FAILED, sha256="x", held_sha256="held"))
    assert d.file is not None
    assert d.file.previous_sha256 == "held"


def test_a_batched_file_is_the_senders_to_resend(settings: Settings):
    d = decided(settings, row(found(settings), FileState.BATCHED, batch_id="bulkimport-1"))
    assert (d.plan, d.file, d.uploaded) == (Plan.RESUME, None, None)


def leftover(settings: Settings) -> Uploaded:
    here = found(settings)
    journalled = row(here, FileState.UPLOADED, upload_uuid="u-1", drawing_id=7)
    item = journalled.upload(settings.source.root, Target(5, 3))
    return item


@pytest.mark.parametrize(("age", "attached"), [(WEEK / 7, True), (6 * 24 * 3600.0 + 1, False)])
def test_an_earlier_upload_goes_straight_to_a_batch_while_it_can_be_attached(
    settings: Settings, age: float, attached: bool
):
    """engine.attach_deadline (6 days) is judged when the file is decided."""
    item = leftover(settings)
    journalled = row(found(settings), FileState.UPLOADED, upload_uuid="u-1", uploaded_at=NOW - age)
    d = decided(settings, journalled, uploads={NAME: item})
    assert d.plan == Plan.RESUME
    if attached:
        assert (d.uploaded, d.file) == (item, None)
    else:
        assert d.uploaded is None
        assert d.file is not None  # uploaded again


def test_an_upload_the_leftovers_do_not_hold_is_uploaded_again(settings: Settings):
    """Not attachable (no uuid, no place or no drawing), so the journal left it out."""
    journalled = row(found(settings), FileState.UPLOADED, uploaded_at=NOW)
    d = decided(settings, journalled, uploads={})
    assert (d.plan, d.uploaded) == (Plan.RESUME, None)
    assert d.file is not None


def test_an_upload_whose_file_changed_since_is_uploaded_again(settings: Settings):
    journalled = row(found(settings), FileState.UPLOADED, False, uploaded_at=NOW)
    d = decided(settings, journalled, uploads={NAME: leftover(settings)})
    assert (d.plan, d.uploaded) == (Plan.RESUME, None)
    assert d.file is not None


@pytest.mark.parametrize("state", [FileState.PLANNED, FileState.UPLOADING])
def test_a_file_an_earlier_run_stopped_on_is_resumed(settings: Settings, state: FileState):
    d = decided(settings, row(found(settings), state))
    assert d.plan == Plan.RESUME
    assert d.file is not None


def test_with_manifest_only_a_file_the_manifest_does_not_list_is_skipped(tmp_path: Path):
    write_pdf(tmp_path / NAME, seed=1)
    write_pdf(tmp_path / "A-2 Listed.pdf", seed=2)
    register = tmp_path / "register.csv"
    register.write_text("path\nA-2 Listed.pdf\n")
    settings = settings_at(tmp_path, manifest=str(register), manifest_only=True)
    d = decided(settings, None, manifest_file=register)
    assert (d.plan, d.file) == (Plan.SKIPPED, None)
    assert d.reason == "not in the manifest (source.manifest_only = true)"
    assert decided(settings, None, "A-2 Listed.pdf", manifest_file=register).plan == Plan.NEW


def test_a_second_copy_of_a_revision_in_this_run_is_skipped(settings: Settings):
    order = Order(duplicates={NAME: "other/A-1 Plan.pdf"})
    d = decided(settings, None, order=order)
    assert (d.plan, d.file) == (Plan.SKIPPED, None)
    assert d.reason == (
        "the same drawing, revision, set and dates as other/A-1 Plan.pdf: not sent twice"
    )


def test_a_file_that_cannot_be_a_drawing_is_invalid_and_says_whether_it_was_read(
    settings: Settings,
):
    path = settings.source.root / "scan0001.pdf"
    write_pdf(path, seed=3)
    d = decided(settings, None, "scan0001.pdf")
    assert (d.plan, d.file, d.opened) == (Plan.INVALID, None, False)
    assert d.reason is not None
    assert d.reason.startswith("no drawing number")
    # Once imported under an older name pattern and touched since: read for its sha256 first.
    before = path.stat().st_mtime_ns
    os.utime(path, ns=(before, before + 1))
    here = found(settings, "scan0001.pdf")
    journalled = row(here, FileState.VERIFIED, False, sha256="old")
    d = decided(settings, journalled, "scan0001.pdf")
    assert (d.plan, d.opened) == (Plan.INVALID, True)
