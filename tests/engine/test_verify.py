"""Verify against the emulator, on a fake clock: each outcome a drawing upload can end in
(reviewed, ready_for_review, failed, gone), the backoff while nothing changes, the timeout, a
stopping run that leaves the checks to the next one, and what a check costs on a young project
and on one with 5,000 earlier drawing uploads. No test sleeps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path

import aiohttp
import anyio
import pytest
from structlog.testing import capture_logs

from bulkimport.emulator import EmulatorConfig, RunningEmulator, serve
from bulkimport.models import FileState, Sent, Uploaded
from bulkimport.procore.answers import ListSize
from bulkimport.report import exit_code
from bulkimport.stages.verify import MAX_WAIT, verify_uploads
from bulkimport.stopping import Stop

from .conftest import emulator_token, import_archive, write_pdf
from .fake_clock import FakeClock
from .stage_bench import Bench, bench, send

pytestmark = pytest.mark.anyio

INTERVAL = 1.0
GIVE_UP_AFTER = 60.0
LIST = "GET /rest/v1.1/projects/{project_id}/drawing_uploads"
SHOW = "GET /rest/v1.1/projects/{project_id}/drawing_uploads/{drawing_upload_id}"
EARLIER = 5000  # drawing uploads an old project already has: 6 pages of 1,000 with ours


class ChecksClock(FakeClock):
    """The stage's fake clock, whose waits also move the emulator's clock (so Procore's
    processing goes on) and note the List and Show calls the emulator has had by then: what
    reaches it between two waits is one check's."""

    def __init__(self, emu: RunningEmulator) -> None:
        super().__init__()
        self.emu = emu
        self.marks: list[tuple[int, int]] = []

    def calls(self) -> tuple[int, int]:
        requests = self.emu.world.ledger.requests
        return requests[LIST], requests[SHOW]

    async def sleep(self, seconds: float) -> None:
        self.marks.append(self.calls())
        self.emu.world.clock.advance(seconds)
        await super().sleep(seconds)

    def per_check(self) -> list[tuple[int, int]]:
        """(List, Show) calls of each check, in order."""
        marks = [*self.marks, self.calls()]
        return [(b[0] - a[0], b[1] - a[1]) for a, b in pairwise(marks)]


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
    clock: FakeClock | None = None,
) -> FakeClock:
    """Verify the `sent` uploads (and those left `unverified`) to the end; the clock it ran on."""
    clock = clock or FakeClock()
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


async def sent_one_by_one(b: Bench, count: int) -> list[Sent]:
    """`count` drawing uploads of one file each, as the sender hands them to verify."""
    names = [f"A-{n} Plan.pdf" for n in range(1, count + 1)]
    ids = await imported(b, *([u] for u in await b.uploads(*names)))
    return [Sent(i, (name,)) for i, name in zip(ids, names, strict=True)]


@pytest.mark.parametrize("largest_page", [1000, 100])
async def test_an_old_projects_uploads_are_checked_by_show_one_request_each(
    tmp_path: Path, largest_page: int
):
    """5,000 earlier drawing uploads make the List 6 pages of 1,000 (51 when Procore grants
    pages of 100 only): four pending uploads cost four Show calls a check, never the List's
    pages. The first check reads the List's first page (the only way to learn its size and
    the page size granted) and so has three Shows left: the fourth upload waits for the next
    check."""
    config = {"max_per_page": largest_page, "earlier_drawing_uploads": EARLIER}
    async with bench(tmp_path, processing_delay=10, **config) as b:
        sent = await sent_one_by_one(b, 4)
        clock = ChecksClock(b.emu)
        await verify(b, sent, clock=clock)
        assert clock.per_check() == [(1, 3), (0, 4), (0, 4), (0, 4)]  # done after 15 s
        assert all(sum(check) <= len(sent) for check in clock.per_check())
        assert await states(b, *(s.rels[0] for s in sent)) == [FileState.VERIFIED] * 4


async def test_the_list_is_read_when_its_pages_are_fewer_than_the_pending_uploads(
    tmp_path: Path,
):
    """Eight pending uploads on the same old project: the List's six pages cost less than
    eight Shows, so each check reads it (and stops at the page that shows the last one)."""
    async with bench(tmp_path, processing_delay=10, earlier_drawing_uploads=EARLIER) as b:
        sent = await sent_one_by_one(b, 8)
        clock = ChecksClock(b.emu)
        await verify(b, sent, clock=clock)
        assert clock.per_check() == [(6, 0)] * 4
        assert await states(b, *(s.rels[0] for s in sent)) == [FileState.VERIFIED] * 8


async def test_a_young_projects_uploads_are_checked_with_one_list_call(tmp_path: Path):
    """With no earlier drawing uploads the List's first page is all of it: one request a
    check, however many uploads are pending."""
    async with bench(tmp_path, processing_delay=10) as b:
        sent = await sent_one_by_one(b, 3)
        clock = ChecksClock(b.emu)
        await verify(b, sent, clock=clock)
        assert clock.per_check() == [(1, 0)] * 4


async def test_an_upload_deleted_in_procore_is_asked_for_by_show_then_gone(tmp_path: Path):
    """Missing from the List, a drawing upload is asked for by Show (within the check's one
    request per upload) before its files fail as gone."""
    async with bench(tmp_path) as b:
        names = ("A-1 Plan.pdf", "A-2 Plan [review].pdf")
        kept, deleted = await imported(b, *([u] for u in await b.uploads(*names)))
        await delete_drawing_upload(b, deleted)
        clock = ChecksClock(b.emu)
        await verify(b, [Sent(kept, names[:1]), Sent(deleted, names[1:])], clock=clock)
        assert clock.per_check() == [(1, 1)]
        row = await b.row(names[1])
        assert row.state == FileState.FAILED
        assert f"drawing upload {deleted} is no longer in Procore" in str(row.error)
        assert await states(b, names[0]) == [FileState.VERIFIED]


async def test_a_run_on_an_old_project_checks_each_drawing_upload_about_once(tmp_path: Path):
    """A whole run over 12 files in 4 drawing uploads, on a project with 5,000 earlier ones:
    at most the List's first page (to learn its size) and one Show per upload."""
    config = EmulatorConfig(processing_delay=0, earlier_drawing_uploads=EARLIER)
    async with serve(config) as emu:
        root = tmp_path / "src"
        for n in range(1, 13):
            write_pdf(root / f"A-{n} Plan.pdf", seed=n)
        result = await import_archive(emu, root, batch_size=3)
        assert exit_code(result) == 0
        requests = emu.world.ledger.requests
        assert requests["POST /rest/v1.1/projects/{project_id}/drawing_uploads"] == 4
        assert requests[LIST] <= 1
        assert requests[LIST] + requests[SHOW] <= 4 + 1


async def delete_drawing_upload(b: Bench, upload_id: int) -> None:
    """As a person clearing Items to Review in the web app would."""
    info = b.emu.startup_info()
    async with aiohttp.ClientSession() as http:
        token = await emulator_token(b.emu, http)
        async with http.delete(
            f"{b.emu.api_base}/rest/v1.1/projects/{info['project_id']}/drawing_uploads/{upload_id}",
            headers={
                "Authorization": f"Bearer {token}",
                "Procore-Company-Id": str(info["company_id"]),
            },
        ) as answer:
            assert answer.status == 200


@pytest.mark.parametrize(
    ("headers", "pages"),
    [
        ({"Total": "5004", "Per-Page": "1000"}, 6),
        ({"Total": "0", "Per-Page": "100"}, 1),
        ({"Total": "5004"}, None),
        ({"Total": "many", "Per-Page": "100"}, None),
        ({"Total": "10", "Per-Page": "0"}, None),
    ],
)
def test_a_lists_length_is_read_from_its_headers_never_guessed(
    headers: dict[str, str], pages: int | None
):
    size = ListSize.of(headers)
    assert (size.pages if size else None) == pages
