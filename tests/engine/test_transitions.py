"""The journal's transitions, each on a real SQLite file and on a real PostgreSQL database, and
the ledger that makes each one journalled, counted and logged by one call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from bulkimport.journal.rows import UNCONFIRMED, FileRow
from bulkimport.journal.store import Journal
from bulkimport.ledger import Ledger
from bulkimport.models import Batch, BatchState, DrawingFile, FileState, Plan, Target, Uploaded
from bulkimport.progress import RunStats
from tests.journals import JournalPlace

pytestmark = pytest.mark.anyio

ROOT = Path("/archive")
TARGET = Target(5, 3)
PROJECT = 7  # the project the journal is opened for


def drawing(n: int, **values: Any) -> DrawingFile:
    rel = f"A-{n} Plan.pdf"
    fields: dict[str, Any] = {
        "path": ROOT / rel,
        "rel": rel,
        "size": 1000 + n,
        "mtime_ns": n,
        "number": f"A-{n}",
        "title": "Plan",
        "revision": "0",
        "discipline": "Architectural",
        "drawing_date": "2026-03-17",
        "area": "Building A",
        "drawing_set": "IFC",
    }
    return DrawingFile(**(fields | values))


def uploaded(n: int) -> Uploaded:
    return Uploaded(drawing(n), f"uuid-{n}", 100 + n, TARGET)


@pytest.fixture
async def journal(journal_location: JournalPlace) -> AsyncIterator[Journal]:
    opened = await Journal.open(journal_location.location, projects=(PROJECT,))
    yield opened
    await opened.close()


async def one(journal: Journal, n: int) -> FileRow:
    return (await journal.lookup([drawing(n).rel]))[drawing(n).rel]


@pytest.fixture
def batches(journal_location: JournalPlace) -> Callable[[], dict[str, Any]]:
    """token -> (status, drawing upload, error), read by another connection."""

    def read() -> dict[str, Any]:
        rows = journal_location.rows("SELECT token, status, drawing_upload_id, error FROM batches")
        return {token: (status, upload, error) for token, status, upload, error in rows}

    return read


async def up_to_uploaded(journal: Journal, *numbers: int) -> None:
    """Files planned, on their way, and in storage: what a batch is made of."""
    await journal.plan([drawing(n) for n in numbers])
    for n in numbers:
        await journal.uploading(drawing(n).rel, 100 + n, TARGET, None)
        await journal.uploaded(drawing(n).rel, f"uuid-{n}", 1_800_000_000.0, f"sha-{n}")


# The journal --------------------------------------------------------------------------------


async def test_a_file_goes_planned_uploading_uploaded(journal: Journal):
    await journal.plan([drawing(1)])
    planned = await one(journal, 1)
    assert (planned.state, planned.number, planned.upload_uuid) == (FileState.PLANNED, "A-1", None)
    await journal.uploading(drawing(1).rel, 101, TARGET, "2026-04-01", "a note")
    on_its_way = await one(journal, 1)
    assert on_its_way.state == FileState.UPLOADING
    assert (on_its_way.drawing_id, on_its_way.area_id, on_its_way.set_id) == (101, 5, 3)
    assert (on_its_way.received_date, on_its_way.error) == ("2026-04-01", "a note")
    await journal.uploaded(drawing(1).rel, "uuid-1", 1_800_000_000.0, "sha-1")
    done = await one(journal, 1)
    assert (done.state, done.upload_uuid, done.uploaded_at, done.sha256) == (
        FileState.UPLOADED,
        "uuid-1",
        1_800_000_000.0,
        "sha-1",
    )


async def test_planning_again_forgets_earlier_progress(journal: Journal):
    await up_to_uploaded(journal, 1)
    await journal.plan([drawing(1, revision="B")])
    again = await one(journal, 1)
    assert (again.state, again.revision, again.upload_uuid, again.drawing_id) == (
        FileState.PLANNED,
        "B",
        None,
        None,
    )


async def test_reject_touch_skip_and_fail(journal: Journal):
    await journal.reject("bad.pdf", 10, 1, "not a PDF")
    await journal.reject("copy.pdf", 10, 1, "a duplicate", FileState.SKIPPED)
    rows = await journal.lookup(["bad.pdf", "copy.pdf"])
    assert (rows["bad.pdf"].state, rows["bad.pdf"].error) == (FileState.FAILED, "not a PDF")
    assert (rows["copy.pdf"].state, rows["copy.pdf"].error) == (FileState.SKIPPED, "a duplicate")
    await up_to_uploaded(journal, 1, 2)
    await journal.touch(drawing(1).rel, 2000, 99)
    touched = await one(journal, 1)
    assert (touched.state, touched.size, touched.mtime_ns) == (FileState.UPLOADED, 2000, 99)
    await journal.skipped(drawing(1).rel, "Procore has it", 7, "held")
    skipped = await one(journal, 1)
    assert (skipped.state, skipped.drawing_id, skipped.held_sha256, skipped.error) == (
        FileState.SKIPPED,
        7,
        "held",
        "Procore has it",
    )
    await journal.failed([drawing(2).rel], "storage refused it")
    assert (await one(journal, 2)).state == FileState.FAILED


async def test_a_batch_is_journalled_pending_then_sent(journal: Journal, batches):
    await up_to_uploaded(journal, 1, 2)
    await journal.batch_created(Batch("t-1", TARGET, (uploaded(1), uploaded(2))))
    assert batches() == {"t-1": (BatchState.PENDING, None, None)}
    assert {(await one(journal, n)).state for n in (1, 2)} == {FileState.BATCHED}
    (pending,) = await journal.pending_batches()
    assert (pending.token, [r.rel for r in pending.rows]) == (
        "t-1",
        [drawing(1).rel, drawing(2).rel],
    )
    # What a resumed run sends again: the same token, the same uploads.
    assert pending.batch(ROOT) == Batch("t-1", TARGET, (uploaded(1), uploaded(2)))
    await journal.batch_sent("t-1", 900)
    assert batches() == {"t-1": (BatchState.SENT, 900, None)}
    assert {(await one(journal, n)).drawing_upload_id for n in (1, 2)} == {900}
    assert {(await one(journal, n)).state for n in (1, 2)} == {FileState.IMPORTED}
    assert await journal.pending_batches() == []
    assert await journal.unverified() == {900: 2}


async def test_a_closed_batch_fails_the_files_still_in_it(journal: Journal, batches):
    await up_to_uploaded(journal, 1, 2)
    await journal.batch_created(Batch("t-1", TARGET, (uploaded(1), uploaded(2))))
    await journal.failed([drawing(2).rel], "refused by name")
    await journal.batch_closed("t-1", "Procore refused the batch (403): no access")
    assert batches() == {
        "t-1": (BatchState.CLOSED, None, "Procore refused the batch (403): no access")
    }
    assert (await one(journal, 1)).error == "Procore refused the batch (403): no access"
    assert (await one(journal, 2)).error == "refused by name"  # not in it any more


async def test_a_split_fails_the_named_files_and_moves_the_rest_in_one_step(
    journal: Journal, batches
):
    await up_to_uploaded(journal, 1, 2, 3)
    await journal.batch_created(Batch("t-1", TARGET, (uploaded(1), uploaded(2), uploaded(3))))
    parts = [Batch("t-2", TARGET, (uploaded(1),)), Batch("t-3", TARGET, (uploaded(3),))]
    await journal.batch_split("t-1", [(drawing(2).rel, "Procore refused it: bad")], parts, "why")
    assert batches() == {
        "t-1": (BatchState.CLOSED, None, "why"),
        "t-2": (BatchState.PENDING, None, None),
        "t-3": (BatchState.PENDING, None, None),
    }
    assert [(await one(journal, n)).batch_id for n in (1, 3)] == ["t-2", "t-3"]
    failed = await one(journal, 2)
    assert (failed.state, failed.error) == (FileState.FAILED, "Procore refused it: bad")
    assert [p.token for p in await journal.pending_batches()] == ["t-2", "t-3"]


async def test_a_split_that_cannot_be_written_changes_nothing(
    journal: Journal, batches, journal_location: JournalPlace
):
    """One transaction: a part that cannot be journalled (its token is taken) leaves the old
    batch pending with all its files, and fails none of them."""
    await up_to_uploaded(journal, 1, 2, 3)
    await journal.batch_created(Batch("t-1", TARGET, (uploaded(1), uploaded(2), uploaded(3))))
    await journal.batch_created(Batch("t-taken", TARGET))
    parts = [Batch("t-2", TARGET, (uploaded(1),)), Batch("t-taken", TARGET, (uploaded(3),))]
    with pytest.raises(journal_location.integrity_error):
        await journal.batch_split("t-1", [(drawing(2).rel, "bad")], parts, "why")
    assert batches()["t-1"] == (BatchState.PENDING, None, None)
    assert "t-2" not in batches()
    assert [(await one(journal, n)).state for n in (1, 2, 3)] == [FileState.BATCHED] * 3
    assert {(await one(journal, n)).batch_id for n in (1, 2, 3)} == {"t-1"}


async def test_processing_and_read_back_settle_imported_files(journal: Journal):
    await up_to_uploaded(journal, 1, 2, 3)
    await journal.batch_created(Batch("t-1", TARGET, (uploaded(1), uploaded(2), uploaded(3))))
    await journal.batch_sent("t-1", 900)
    await journal.annotate([drawing(3).rel], f"{UNCONFIRMED}: the log could not be read")
    await journal.settled(
        [
            (drawing(1).rel, FileState.VERIFIED, None),
            (drawing(2).rel, FileState.NEEDS_REVIEW, "waits in Items to Review"),
        ]
    )
    verified, review = await one(journal, 1), await one(journal, 2)
    assert (verified.state, verified.held_sha256) == (FileState.VERIFIED, "sha-1")
    assert (review.state, review.error, review.held_sha256) == (
        FileState.NEEDS_REVIEW,
        "waits in Items to Review",
        None,
    )
    assert await journal.unverified() == {900: 2}  # needs_review still waits for the log
    await journal.outcome(900, "Procore could not process drawing upload 900")
    assert [(await one(journal, n)).state for n in (1, 2, 3)] == [
        FileState.VERIFIED,  # settled already: untouched
        FileState.FAILED,
        FileState.FAILED,
    ]
    assert await journal.unverified() == {}


async def test_leftovers_are_what_earlier_runs_left_part_way(journal: Journal):
    await up_to_uploaded(journal, 1, 2, 3, 4)
    await journal.plan([drawing(5)])  # planned only: uploaded again, not a leftover
    await journal.batch_created(Batch("t-1", TARGET, (uploaded(2),)))
    await journal.batch_created(Batch("t-2", TARGET, (uploaded(3),)))
    await journal.batch_sent("t-2", 900)
    # An upload with no drawing cannot be attached as a direct import.
    await journal.uploading(drawing(4).rel, None, TARGET, None)
    left = await journal.leftovers(ROOT)
    assert dict(left.uploads) == {drawing(1).rel: uploaded(1)}
    assert [b.token for b in left.batches] == ["t-1"]
    assert dict(left.unverified) == {900: 1}


# The ledger ---------------------------------------------------------------------------------


async def test_each_transition_is_journalled_counted_and_logged_by_one_call(journal: Journal):
    stats = RunStats()
    ledger = Ledger(journal, stats)
    with capture_logs() as logs:
        await ledger.plan([drawing(n) for n in (1, 2, 3, 4)])
        await ledger.decided("bad.pdf", 1, 1, Plan.INVALID, "not a drawing", restat=False)
        await ledger.decided("copy.pdf", 1, 1, Plan.SKIPPED, "a duplicate", restat=False)
        for n in (1, 2, 3, 4):
            await ledger.decided(drawing(n).rel, 1, 1, Plan.NEW, None, restat=False)
            ledger.queued(drawing(n))
            await ledger.uploading(drawing(n), 100 + n, TARGET, None)
        ledger.rerequested(drawing(1).rel, "uuid-0", "expired")
        for n in (1, 2, 3):
            await ledger.uploaded(uploaded(n), 1_800_000_000.0, f"sha-{n}")
        await ledger.upload_failed(drawing(4).rel, "storage refused it")
        await ledger.batch_created(Batch("t-1", TARGET, (uploaded(1), uploaded(2), uploaded(3))))
        ledger.sending()
        await ledger.entries_refused(
            "t-1",
            [(drawing(3).rel, "Procore refused it: bad")],
            Batch("t-2", TARGET, (uploaded(1), uploaded(2))),
            "split",
        )
        ledger.sending()
        await ledger.batch_sent("t-2", 900, [drawing(1).rel, drawing(2).rel])
        await ledger.settled(
            [
                (drawing(1).rel, FileState.VERIFIED, None),
                (drawing(2).rel, FileState.NEEDS_REVIEW, "in Items to Review"),
            ]
        )
    rows = await journal.lookup([drawing(n).rel for n in (1, 2, 3, 4)])
    states = {rel: r.state for rel, r in rows.items()}
    assert states == {
        drawing(1).rel: FileState.VERIFIED,
        drawing(2).rel: FileState.NEEDS_REVIEW,
        drawing(3).rel: FileState.FAILED,
        drawing(4).rel: FileState.FAILED,
    }
    assert stats.planned == {Plan.INVALID: 1, Plan.SKIPPED: 1, Plan.NEW: 4}
    assert (stats.to_upload, stats.bytes_to_upload) == (4, sum(1000 + n for n in (1, 2, 3, 4)))
    assert (stats.uploaded, stats.bytes_uploaded) == (3, 1001 + 1002 + 1003)
    assert (stats.batches, stats.imported, stats.verified, stats.needs_review) == (2, 2, 1, 1)
    assert (stats.failed, stats.skipped, stats.rerequested) == (3, 1, {"expired": 1})
    # Every file that failed in this run has one event saying so.
    assert [(e["event"], e.get("file")) for e in logs if e["log_level"] == "error"] == [
        ("upload.failed", drawing(4).rel),
        ("import.rejected", drawing(3).rel),
    ]
    assert [e["event"] for e in logs if e["log_level"] != "error"] == [
        "upload.rerequested",
        "upload.posted",
        "upload.posted",
        "upload.posted",
        "batch.sent",
        "readback.needs_review",
    ]
