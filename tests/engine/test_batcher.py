"""The batcher: one open batch per target, flushed when full, when its first file has waited
`max_wait` on the clock (unless the request budget holds calls back: then only when full, at the
hard age, or at the end of input), and at the end of input. Time is a fake clock: nothing
sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from bulkimport.models import DrawingFile, Group, Target, Uploaded
from bulkimport.stages.batcher import MAX_HOLD, SPIKE_WINDOW, batch_uploads, never

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
async def batcher(
    size: int,
    clock: FakeClock | None = None,
    budget: Callable[[], bool] = never,
    max_wait: float = MAX_WAIT,
) -> AsyncIterator[Batcher]:
    running = Batcher(clock or FakeClock())
    async with running.uploads, running.groups, anyio.create_task_group() as tg:
        tg.start_soon(
            batch_uploads,
            running.received,
            running.flushes,
            size,
            max_wait,
            running.clock,
            budget,
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


class Budget:
    """`budget_binds` for a test: what it answers is set by the test, and each question counted."""

    def __init__(self, binds: bool = True) -> None:
        self.binds = binds
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.binds


async def test_while_the_budget_binds_a_batch_waits_past_max_wait_until_it_is_full():
    """The files come at the budget's pace: a half-empty batch would spend a request for
    nothing, so the age alone does not send it."""
    async with batcher(size=3, budget=Budget()) as b:
        await b.send(upload(1), upload(2))
        for _ in range(10):  # five minutes, in steps: each re-check finds the budget binding
            await b.advance(MAX_WAIT)
            assert await b.flushed() == []
        await b.send(upload(3), upload(4))
        assert await b.flushed() == [[1, 2, 3]]
        await b.end()
        assert await b.flushed() == [[4]]


async def test_the_end_of_input_flushes_held_batches_of_every_target_at_once():
    clock = FakeClock()
    async with batcher(size=50, clock=clock, budget=Budget()) as b:
        await b.send(upload(1, PLANS), upload(2, SPECS))
        await b.advance(2 * MAX_WAIT)
        assert await b.flushed() == []
        await b.end()
        assert sorted(await b.flushed()) == [[1], [2]]
    assert clock.now() == 1000.0 + 2 * MAX_WAIT  # the end waited for nothing


async def test_the_hard_age_sends_a_batch_whatever_the_budget():
    """Procore deletes an upload not attached within a week: an hour is the longest a batch
    is held, each target's from its own first file."""
    async with batcher(size=50, budget=Budget()) as b:
        await b.send(upload(1, PLANS))
        await b.advance(600)
        await b.send(upload(2, SPECS))
        await b.advance(MAX_HOLD - 600 - 1)
        assert await b.flushed() == []
        await b.advance(1)
        assert await b.flushed() == [[1]]
        await b.advance(599)
        assert await b.flushed() == []
        await b.advance(1)
        assert await b.flushed() == [[2]]


async def test_a_held_batch_is_looked_at_once_per_lookback_not_in_a_busy_loop():
    budget = Budget()
    async with batcher(size=50, budget=budget) as b:
        await b.send(upload(1))
        await b.advance(MAX_WAIT)
        asked = budget.asked
        for _ in range(120):  # two minutes, a second at a time
            await b.advance(1)
        # The last "yes" holds good for max(max_wait, the spike window) = 30 s: four more looks.
        assert budget.asked - asked == 4
        assert await b.flushed() == []


async def test_once_the_budget_lets_go_a_held_batch_leaves_a_lookback_after_the_last_bind():
    budget = Budget()
    async with batcher(size=50, budget=budget) as b:
        await b.send(upload(1))
        await b.advance(MAX_WAIT)  # held: the budget binds now
        budget.binds = False
        await b.advance(MAX_WAIT - 1)
        assert await b.flushed() == []
        await b.advance(1)  # the last bind seen is a lookback old, and the budget is free
        assert await b.flushed() == [[1]]
        # Free from here on: a new batch leaves at max_wait, as without a budget.
        await b.send(upload(2))
        await b.advance(MAX_WAIT)
        assert await b.flushed() == [[2]]


async def test_a_bind_within_the_spike_window_holds_a_batch_the_budget_is_free_at_its_age():
    """The budget binds in bursts: each window starts at full speed. A look at the start of a
    window must not count as the budget letting go, so a bind seen within the last spike
    window (10 s, longer than this 2 s max_wait) still holds the batch."""
    budget = Budget()
    async with batcher(size=50, budget=budget, max_wait=2) as b:
        await b.send(upload(1))  # the budget binds as the file comes in
        budget.binds = False
        await b.advance(2)
        assert await b.flushed() == []
        await b.advance(SPIKE_WINDOW - 2)
        assert await b.flushed() == [[1]]


async def test_a_budget_that_starts_binding_after_a_batch_opened_holds_it():
    budget = Budget(binds=False)
    async with batcher(size=2, budget=budget) as b:
        await b.send(upload(1))
        budget.binds = True
        await b.advance(MAX_WAIT)
        assert await b.flushed() == []
        await b.send(upload(2))
        assert await b.flushed() == [[1, 2]]


async def test_a_free_budget_leaves_the_age_flush_as_it_was():
    budget = Budget(binds=False)
    async with batcher(size=50, budget=budget) as b:
        await b.send(upload(1))
        await b.advance(MAX_WAIT)
        assert await b.flushed() == [[1]]
        assert budget.asked >= 2  # asked as the file came and as its age passed


async def test_a_cancelled_batcher_stops_at_once_and_sends_nothing_it_held():
    """A stop without a drain cancels the stages: the files it held stay `uploaded` in the
    journal, and the next run batches them (a drain ends the input instead, flushing all)."""
    clock = FakeClock()
    uploads, received = anyio.create_memory_object_stream[Uploaded](10)
    flushes, groups = anyio.create_memory_object_stream[Group](10)
    async with uploads, groups:
        async with anyio.create_task_group() as tg:
            tg.start_soon(batch_uploads, received, flushes, 50, MAX_WAIT, clock, Budget())
            await uploads.send(upload(1))
            await wait_all_tasks_blocked()
            clock.advance(MAX_WAIT)  # held
            await wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
        with pytest.raises(anyio.EndOfStream):  # closed by the batcher, nothing in it
            groups.receive_nowait()
