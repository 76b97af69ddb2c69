"""The shared request budget: bursts while plenty is left, spreads the rest, waits at zero."""

from __future__ import annotations

import anyio
import pytest

from bulkimport.procore.pacing import RateBudget, Window, read_window, spacing, window_seconds

from .fake_clock import FakeClock


def test_headers_are_read_or_ignored():
    headers = {
        "X-Rate-Limit-Limit": "25",
        "X-Rate-Limit-Remaining": "24",
        "X-Rate-Limit-Reset": "99",
    }
    assert read_window(headers) == Window(25, 24, 99.0)
    assert read_window({}) is None
    assert read_window({**headers, "X-Rate-Limit-Remaining": "lots"}) is None


def test_spacing_bursts_then_spreads_then_waits():
    assert spacing(Window(100, 50, 110.0), 0, 100.0) == 0.0  # plenty left: no wait
    assert spacing(Window(100, 20, 110.0), 0, 100.0) == pytest.approx(0.5)  # 20 in 10 s
    assert spacing(Window(100, 20, 110.0), 10, 100.0) == pytest.approx(1.0)  # 10 in flight
    assert spacing(Window(100, 3, 110.0), 3, 100.0) == pytest.approx(10.0)  # none left


@pytest.mark.anyio
async def test_a_spent_window_makes_the_next_call_wait_for_reset():
    clock = FakeClock()
    budget = RateBudget(clock=clock)
    await budget.acquire()  # a call goes out, and its answer says nothing is left
    reset = clock.time() + 30.0
    budget.release(
        {"X-Rate-Limit-Limit": "5", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(reset)}
    )
    started = clock.now()
    await budget.acquire()
    assert clock.now() - started >= 30.0  # on the test's clock: nothing really slept
    assert budget.waited >= 30.0


@pytest.mark.anyio
async def test_a_429_pauses_every_caller():
    clock = FakeClock()
    budget = RateBudget(clock=clock)
    budget.pause(60.0, "rate_limited")
    started = clock.now()
    went: list[float] = []

    async def call() -> None:
        await budget.acquire()
        went.append(clock.now() - started)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(call)
    assert len(went) == 3
    assert min(went) >= 60.0  # every caller waited, not only the one that met the 429
    assert budget.rate_limited == 1


@pytest.mark.anyio
async def test_max_per_hour_spaces_every_call():
    clock = FakeClock()
    budget = RateBudget(max_per_hour=36_000, clock=clock)  # one call per 0.1 s
    started = clock.now()
    for _ in range(4):
        await budget.acquire()
        budget.release(None)
    assert clock.now() - started == pytest.approx(0.3)


def test_time_for_a_plan_follows_the_pacing():
    hourly = Window(600, 400, 1800.0)  # reset in 1800 s: the hourly window
    assert window_seconds(hourly, 100, 0.0) == 0.0  # fits in the burst
    assert window_seconds(hourly, 350, 0.0) == 1800.0  # reaches the spread tail
    assert window_seconds(hourly, 700, 0.0) == pytest.approx(1800 + 300 / 600 * 3600)
    spike = Window(25, 0, 4.0)  # reset in 4 s: the spike window
    assert window_seconds(spike, 50, 0.0) == pytest.approx(4 + 2 * 10)
