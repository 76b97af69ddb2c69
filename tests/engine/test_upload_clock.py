"""The POST workers judge a ticket's age by the clock they are given: a ticket the clock says
is near its expiry is replaced before its POST, and one it says is fresh is used."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from bulkimport.models import Plans, Uploaded
from bulkimport.source.checks import Checks
from bulkimport.stages.uploader import Ticketed, UploadStage
from bulkimport.stopping import Stop

from .fake_clock import FakeClock
from .stage_bench import bench

pytestmark = pytest.mark.anyio


async def test_a_ticket_the_clock_says_is_near_expiry_is_replaced_before_its_post(
    tmp_path: Path,
):
    async with bench(tmp_path) as b:
        items = await b.uploads("A-1 Plan.pdf", "A-2 Plan.pdf")  # for their journal rows
        tickets = [await b.client.create_upload(i.file.filename) for i in items]
        issued = tickets[0].issued_at
        clock = FakeClock(start=0.0, epoch=issued)  # time() is the moment they were issued
        stage = UploadStage(
            b.client,
            b.session,
            b.ledger,
            targets=None,  # type: ignore[arg-type]  # POST workers never look a target up
            expiry_margin=120.0,
            stop=Stop(),
            checks=Checks(b.settings.source, b.stats, Plans()),
            clock=clock,
        )

        async def post(item: Uploaded, ticket_index: int) -> Uploaded:
            tx, rx = anyio.create_memory_object_stream[Ticketed](1)
            done_tx, done_rx = anyio.create_memory_object_stream[Uploaded](1)
            async with tx, done_rx:
                await tx.send(
                    Ticketed(item.file, item.drawing_id, item.target, tickets[ticket_index])
                )
                tx.close()
                await stage.post(rx, done_tx)
                return await done_rx.receive()

        fresh = await post(items[0], 0)
        assert fresh.uuid == tickets[0].uuid
        assert b.stats.rerequested == {}
        life = tickets[1].expires_at - issued
        clock.advance(life - 60)  # a minute left: less than the margin
        renewed = await post(items[1], 1)
        assert renewed.uuid != tickets[1].uuid
        assert b.stats.rerequested == {"near_expiry": 1}
        assert (await b.row("A-2 Plan.pdf")).upload_uuid == renewed.uuid
