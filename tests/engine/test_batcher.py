"""The batcher: one open batch per target, flushed when full, when its first file has waited
`max_wait` on the clock, and at the end of input. Time is a fake clock: nothing sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from bulkimport.models import DrawingFile, Group, Target, Uploaded
from bulkimport.stages.batcher import batch_uploads

from .fake_clock import FakeClock

pytestmark = pytest.mark.anyio

PLANS = Target(1, 10)
SPECS = Target(1, 11)
MAX_WAIT = 30.0


def upload(n: int, target: Target = PLANS) -> Uploaded:
    rel = f"A-{n} Plan.pdf"
    file = DrawingFile(
        path=Path("/src") / rel,
        rel=rel,
        size=1000 + n,
        mtime_ns=n,
        number=f"A-{n}",
        title="Plan",
        revision="0",
        discipline="Architectural",
        drawing_date="2026-03-17",
        area="Building A",
        drawing_set="IFC",
    )
    return Uploaded(file, f"uuid-{n}", 100 + n, target)


class Batcher:
    """The batcher running beside the test, which feeds it and reads what it flushes."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.uploads, self.received = anyio.create_memory_object_stream[Uploaded](100)
        self.flushes, self.groups = anyio.create_memory_object_stream[Group](100)

    async def send(self, *items: Uploaded) -> None:
        for item in items:
            await self.uploads.send(item)
        await wait_all_tasks_blocked()

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await wait_all_tasks_blocked()

    async def end(self) -> None:
        """The end of input."""
        self.uploads.close()
        await wait_all_tasks_blocked()

    async def flushed(self) -> list[list[int]]:
        """The batches flushed since the last look, as lists of file numbers."""
        await wait_all_tasks_blocked()
        groups: list[list[int]] = []
        while True:
            try:
                group = self.groups.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream):
                return groups
            groups.append([int(i.file.number[2:]) for i in group.items])


@asynccontextmanager
async def batcher(size: int, clock: FakeClock | None = None) -> AsyncIterator[Batcher]:
    running = Batcher(clock or FakeClock())
    async with running.uploads, running.groups, anyio.create_task_group() as tg:
        tg.start_soon(
            batch_uploads, running.received, running.flushes, size, MAX_WAIT, running.clock
        )
        yield running
        await running.end()


async def test_a_batch_is_flushed_as_soon_as_it_is_full():
    """No time passes: the size alone flushes it, and the next file opens a new batch."""
    async with batcher(size=3) as b:
        await b.send(upload(1), upload(2))
        assert await b.flushed() == []
        await b.send(upload(3), upload(4))
        assert await b.flushed() == [[1, 2, 3]]
        await b.end()
        assert await b.flushed() == [[4]]  # the end of input flushes the rest


async def test_a_batch_is_flushed_when_its_first_file_has_waited_max_wait():
    async with batcher(size=50) as b:
        await b.send(upload(1))
        await b.advance(MAX_WAIT - 1)
        assert await b.flushed() == []
        await b.advance(1)
        assert await b.flushed() == [[1]]
        # Nothing waits now: however long the clock runs, nothing more is flushed.
        await b.advance(10 * MAX_WAIT)
        await b.end()
        assert await b.flushed() == []


async def test_the_age_runs_from_the_first_file_not_the_last_receive():
    """A slow trickle cannot hold a batch open: a file every 20 s still flushes at 30 s."""
    async with batcher(size=50) as b:
        await b.send(upload(1))
        await b.advance(20)
        await b.send(upload(2))
        await b.advance(10)
        assert await b.flushed() == [[1, 2]]
        await b.send(upload(3))  # a new batch, with an age of its own
        await b.advance(MAX_WAIT - 0.5)
        assert await b.flushed() == []
        await b.advance(0.5)
        assert await b.flushed() == [[3]]


async def test_each_target_has_its_own_batch_size_and_age():
    async with batcher(size=2) as b:
        await b.send(upload(1, PLANS))
        await b.advance(10)
        await b.send(upload(2, SPECS), upload(3, PLANS))
        assert await b.flushed() == [[1, 3]]  # full; the specs batch stays open
        await b.send(upload(4, PLANS))
        await b.advance(MAX_WAIT - 10)  # the specs file and file 4 have waited 20 s
        assert await b.flushed() == []
        await b.advance(10)  # both reach 30 s together
        assert sorted(await b.flushed()) == [[2], [4]]


async def test_the_end_of_input_flushes_every_open_batch_without_waiting():
    clock = FakeClock()
    async with batcher(size=50, clock=clock) as b:
        await b.send(upload(1, PLANS), upload(2, SPECS), upload(3, PLANS))
        await b.end()
        assert sorted(await b.flushed()) == [[1, 3], [2]]
    assert clock.now() == 1000.0  # no time passed
