"""Verify against the emulator, on a fake clock: each outcome a drawing upload can end in
(reviewed, ready_for_review, failed), the backoff while nothing changes, the timeout, and a
stopping run that leaves the checks to the next one. No test sleeps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import pytest
from structlog.testing import capture_logs

from bulkimport.models import FileState, Sent, Uploaded
from bulkimport.stages.verify import MAX_WAIT, verify_uploads
from bulkimport.stopping import Stop

from .fake_clock import FakeClock
from .stage_bench import Bench, bench, send

pytestmark = pytest.mark.anyio

INTERVAL = 1.0
GIVE_UP_AFTER = 60.0


async def imported(b: Bench, *groups: Sequence[Uploaded]) -> list[int]:
    """The groups sent as drawing uploads; their ids, in order."""
    sent = await send(b.sender(), *groups)
    assert len(sent) == len(groups)
    rows = [await b.row(next(iter(files))) for files in sent]
    return [int(r.drawing_upload_id or 0) for r in rows]


async def verify(
    b: Bench,
    sent: Sequence[Sent] = (),
    unverified: Mapping[int, int] | None = None,
    stop: Stop | None = None,
) -> FakeClock:
    """Verify the `sent` uploads (and those left `unverified`) to the end; the clock it ran on."""
    clock = FakeClock()
    tx, rx = anyio.create_memory_object_stream[Sent](len(sent) + 1)
    async with tx:
        for item in sent:
            await tx.send(item)
    await verify_uploads(
        rx, b.client, b.ledger, INTERVAL, GIVE_UP_AFTER, stop or Stop(), unverified, clock
    )
    return clock


async def states(b: Bench, *names: str) -> list[FileState]:
    return [(await b.row(name)).state for name in names]


async def test_reviewed_uploads_are_read_back_as_verified(tmp_path: Path):
    """One upload arrives from the sender, one was left unverified by an earlier run."""
    async with bench(tmp_path) as b:
        items = await b.uploads("A-1 Plan.pdf", "A-2 Plan.pdf", "A-3 Plan.pdf")
        first, earlier = await imported(b, items[:2], items[2:])
        with capture_logs() as logs:
            clock = await verify(
                b, [Sent(first, ("A-1 Plan.pdf", "A-2 Plan.pdf"))], unverified={earlier: 1}
            )
        done = {e["drawing_upload"]: e["status"] for e in logs if e["event"] == "verify.done"}
        assert done == {first: "reviewed", earlier: "reviewed"}
        assert (
            await states(b, "A-1 Plan.pdf", "A-2 Plan.pdf", "A-3 Plan.pdf")
            == [FileState.VERIFIED] * 3
        )
        assert (b.stats.verified, b.stats.failed) == (3, 0)
        assert clock.slept == [INTERVAL]  # one wait, one check: both were processed


async def test_ready_for_review_leaves_the_unassigned_file_in_items_to_review(tmp_path: Path):
    """A direct import Procore could not assign makes the upload ready_for_review; the
    read-back tells that file (needs_review) from its neighbour that went in (verified)."""
    async with bench(tmp_path) as b:
        names = ("A-1 Plan.pdf", "A-2 Plan [review].pdf")
        (upload,) = await imported(b, await b.uploads(*names))
        with capture_logs() as logs:
            await verify(b, [Sent(upload, names)])
        assert [e["status"] for e in logs if e["event"] == "verify.done"] == ["ready_for_review"]
        assert await states(b, *names) == [FileState.VERIFIED, FileState.NEEDS_REVIEW]
        assert (b.stats.verified, b.stats.needs_review) == (1, 1)


async def test_an_upload_procore_could_not_process_fails_its_files(tmp_path: Path):
    async with bench(tmp_path) as b:
        names = ("A-1 Plan.pdf", "A-2 Plan.pdf")
        (upload,) = await imported(b, await b.uploads(*names, not_pdf=[names[1]]))
        with capture_logs() as logs:
            await verify(b, [Sent(upload, names)])
        assert [(e["event"], e["files"]) for e in logs if e["event"].startswith("verify.")] == [
            ("verify.failed", 2)
        ]
        for name in names:
            row = await b.row(name)
            assert (row.state, row.error) == (
                FileState.FAILED,
                f"Procore could not process drawing upload {upload}",
            )
        assert (b.stats.failed, b.stats.verified) == (2, 0)
        assert "readback.done" not in [e["event"] for e in logs]  # nothing to read back


async def test_the_wait_doubles_while_nothing_changes_and_verify_gives_up_in_time(
    tmp_path: Path,
):
    """Processing that never ends: checks at 1, 3, 7, 15, 31 and 61 s after input ended,
    then the timeout (60 s). The files stay imported for the next run to check."""
    async with bench(tmp_path, processing_delay=1e9) as b:
        names = ("A-1 Plan.pdf", "A-2 Plan.pdf")
        (upload,) = await imported(b, await b.uploads(*names))
        with capture_logs() as logs:
            clock = await verify(b, [Sent(upload, names)])
        assert clock.slept == [1, 2, 4, 8, 16, MAX_WAIT]
        timeouts = [e["unverified"] for e in logs if e["event"] == "verify.timeout"]
        assert timeouts == [[upload]]
        assert await states(b, *names) == [FileState.IMPORTED] * 2
        assert (b.stats.verified, b.stats.failed) == (0, 0)


async def test_a_stopping_run_leaves_the_checks_to_the_next_one(tmp_path: Path):
    async with bench(tmp_path) as b:
        names = ("A-1 Plan.pdf",)
        (upload,) = await imported(b, await b.uploads(*names))
        stop = Stop()
        stop.requested.set()
        listed_before = dict(b.client.requests)
        with capture_logs() as logs:
            await verify(b, [Sent(upload, names)], stop=stop)
        assert [e["event"] for e in logs] == ["verify.deferred"]
        assert b.client.requests == listed_before  # not one status call
        assert await states(b, *names) == [FileState.IMPORTED]
