"""The sender against the emulator: how it handles Procore's refusals (named entries, a whole
batch refused without names, refusals about the batch rather than its files, 401 and 403), and
the batches an earlier run left unanswered. Real uploads, a real SQLite journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from bulkimport.errors import AuthenticationError
from bulkimport.models import Batch, BatchState, FileState, Group
from bulkimport.settings import Credentials
from bulkimport.stages.sender import import_entry, new_token

from .conftest import CREDENTIALS
from .stage_bench import bench, send
from .test_boundary import Scripted

pytestmark = pytest.mark.anyio

CREATE = "POST /rest/v1.1/projects/{id}/drawing_uploads"
UNKNOWN = "upload_uuid does not name an upload"


NAMES = [f"A-{n} Plan.pdf" for n in range(1, 9)]


async def test_files_procore_names_fail_and_the_rest_go_again_in_one_batch(tmp_path: Path):
    async with bench(tmp_path) as b:
        items = await b.uploads(*NAMES[:4], bad=[NAMES[1]])
        assert await send(b.sender(), items) == [{NAMES[0], NAMES[2], NAMES[3]}]
        assert b.client.requests[CREATE] == 2
        refused = await b.row(NAMES[1])
        assert (refused.state, refused.error) == (
            FileState.FAILED,
            f"Procore refused it: {UNKNOWN}",
        )
        assert {(await b.row(n)).state for n in (NAMES[0], NAMES[2], NAMES[3])} == {
            FileState.IMPORTED
        }
        assert b.batch_states() == [BatchState.CLOSED, BatchState.SENT]
        stats = b.stats
        assert (stats.failed, stats.imported, stats.batches, stats.split_calls) == (1, 3, 2, 0)


async def test_a_batch_refused_without_names_is_halved_until_the_bad_file_stands_alone(
    tmp_path: Path,
):
    """[ok ok bad ok] -> [ok ok] taken, [bad ok] refused -> [bad] refused alone, [ok] taken."""
    async with bench(tmp_path, refusal_style="batch") as b:
        items = await b.uploads(*NAMES[:4], bad=[NAMES[2]])
        with capture_logs() as logs:
            sent = await send(b.sender(), items)
        assert sent == [{NAMES[0], NAMES[1]}, {NAMES[3]}]
        assert b.client.requests[CREATE] == 5
        refused = await b.row(NAMES[2])
        assert refused.state == FileState.FAILED
        assert refused.error is not None
        assert refused.error.startswith("Procore refused it: ")
        assert (b.stats.split_calls, b.stats.failed, b.stats.imported) == (4, 1, 3)
        splits = [(e["files"], e["status"]) for e in logs if e["event"] == "batch.split"]
        assert splits == [(4, 400), (2, 400)]
        assert b.batch_states() == [
            BatchState.CLOSED,  # the batch of 4
            BatchState.SENT,  # its first half
            BatchState.CLOSED,  # its second half, split again
            BatchState.CLOSED,  # the bad file alone
            BatchState.SENT,  # the good file beside it
        ]


async def test_a_refusal_that_took_no_file_of_a_whole_batch_is_not_split_again(tmp_path: Path):
    """Not one file of the first batch went in: the refusal is about batches, so the next batch
    refused the same way fails whole, with one call instead of two per file."""
    async with bench(tmp_path, refusal_style="batch") as b:
        items = await b.uploads(*NAMES, bad=NAMES)
        sender = b.sender()
        assert await send(sender, items[:4], items[4:]) == []
        assert b.client.requests[CREATE] == 7 + 1  # 1 + 2 + 4 for the first, 1 for the second
        assert b.stats.split_calls == 6
        assert b.stats.failed == 8
        note = (await b.row(NAMES[5])).error
        assert note is not None
        assert note.startswith("Procore refused the batch (400): ")
        assert note.endswith("so this one was not split to find them")


async def test_a_403_is_about_the_caller_and_the_batch_is_not_split(tmp_path: Path):
    async with bench(tmp_path) as b:
        items = await b.uploads(*NAMES[:4])
        elsewhere = b.client_as(company_id=b.settings.procore.company_id + 1000)
        assert await send(b.sender(elsewhere), items) == []
        assert elsewhere.requests[CREATE] == 1
        assert b.stats.split_calls == 0
        for name in NAMES[:4]:
            row = await b.row(name)
            assert row.state == FileState.FAILED
            assert (
                row.error == "Procore refused the batch (403): App is not connected to this company"
            )
        assert b.batch_states() == [BatchState.CLOSED]


async def test_a_401_stops_the_sender_and_leaves_the_batch_pending_whole(tmp_path: Path):
    """Credentials Procore refuses are the run's problem, not the batch's: it stays journalled
    with its token, whole, for the next run."""
    async with bench(tmp_path) as b:
        items = await b.uploads(*NAMES[:4])
        refused = b.client_as(Credentials(CREDENTIALS.client_id, "not the secret"))
        with pytest.raises(AuthenticationError):
            await send(b.sender(refused), items)
        assert refused.requests.get(CREATE, 0) == 0
        (pending,) = await b.journal.pending_batches()
        assert sorted(r.rel for r in pending.rows) == NAMES[:4]
        assert b.stats.split_calls == 0


async def test_left_batches_procore_holds_count_as_sent_and_the_others_are_resent(
    tmp_path: Path,
):
    """An earlier run journalled two batches and heard back about neither; Procore made the
    first. The first is found by a look-up and never sent twice; the second goes again with
    the token it was journalled with."""
    async with bench(tmp_path) as b:
        items = await b.uploads(*NAMES[:4])
        made, lost = (
            Group(items[0].target, tuple(items[:2])),
            Group(items[0].target, tuple(items[2:])),
        )
        tokens = [new_token(), new_token()]
        for token, group in zip(tokens, (made, lost), strict=True):
            await b.journal.batch_created(Batch(token, group.target, group.items))
        answer = await b.client.create_drawing_upload(
            made.target, [import_entry(i) for i in made.items], tokens[0]
        )
        left = await b.journal.pending_batches()
        with capture_logs() as logs:
            sent = await send(b.sender(), left=left)
        assert sent == [set(NAMES[:2]), set(NAMES[2:4])]
        assert b.client.requests[CREATE] == 2  # the one made above, and the resend
        assert (await b.row(NAMES[0])).drawing_upload_id == answer.id
        events = [(e["event"], e.get("token")) for e in logs if e["event"].startswith("batch.")]
        assert ("batch.found", tokens[0]) in events
        assert ("batch.resend", tokens[1]) in events
        assert await b.journal.pending_batches() == []
        assert b.stats.imported == 4


async def test_an_answer_without_its_id_leaves_the_batch_pending_not_refused(tmp_path: Path):
    """A 201 whose body lacks the drawing upload's id may still come from an upload Procore
    made: the files must not fail (a later run would send them again under a new token). The
    batch stays pending for the next run, which looks it up or resends it with its token."""
    answers = Scripted((201, {"Content-Type": "application/json"}, "{}"))
    server = web.Server(answers)
    runner = web.ServerRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with bench(tmp_path) as b:
            items = await b.uploads(*NAMES[:2])
            base = f"http://127.0.0.1:{port}"
            odd = b.client_as(api_base=base, login_base=base)
            with capture_logs() as logs:
                assert await send(b.sender(odd), items) == []
            assert answers.requests == 1
            assert {(await b.row(n)).state for n in NAMES[:2]} == {FileState.BATCHED}
            assert b.batch_states() == [BatchState.PENDING]
            assert [e["event"] for e in logs if e["event"].startswith("batch.")] == ["batch.unsent"]
    finally:
        await runner.cleanup()
