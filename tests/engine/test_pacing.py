"""The shared request budget: bursts while plenty is left, spreads the rest, waits at zero."""

from __future__ import annotations

import anyio
import pytest

from bulkimport.procore.others import OthersSpending
from bulkimport.procore.pacing import RateBudget
from bulkimport.procore.window import Window, read_window, spacing, window_seconds

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
    assert spacing(Window(100, 10, 110.0), 0, 100.0) == pytest.approx(1.0)  # 10 in 10 s
    assert spacing(Window(100, 10, 110.0), 5, 100.0) == pytest.approx(2.0)  # 5 in flight
    assert spacing(Window(100, 3, 110.0), 3, 100.0) == pytest.approx(10.0)  # none left


@pytest.mark.anyio
async def test_a_spent_window_makes_the_next_call_wait_for_reset():
    clock = FakeClock()
    budget = RateBudget(clock=clock)
    turn = await budget.acquire()  # a call goes out, and its answer says nothing is left
    reset = clock.time() + 30.0
    budget.release(
        turn,
        {
            "X-Rate-Limit-Limit": "5",
            "X-Rate-Limit-Remaining": "0",
            "X-Rate-Limit-Reset": str(reset),
        },
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
        budget.release(await budget.acquire(), None)
    assert clock.now() - started == pytest.approx(0.3)


def test_time_for_a_plan_follows_the_pacing():
    hourly = Window(600, 400, 1800.0)  # reset in 1800 s: the hourly window
    assert window_seconds(hourly, 100, 0.0) == 0.0  # fits in the burst
    assert window_seconds(hourly, 350, 0.0) == 1800.0  # reaches the spread tail
    assert window_seconds(hourly, 700, 0.0) == pytest.approx(1800 + 300 / 600 * 3600)
    spike = Window(25, 0, 4.0)  # reset in 4 s: the spike window
    assert window_seconds(spike, 50, 0.0) == pytest.approx(4 + 2 * 10)


# Per-endpoint budgets (procore-api.md C12) ---------------------------------------------------


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(remaining),
        "X-Rate-Limit-Reset": str(reset),
    }


async def call(budget: RateBudget, endpoint: str, limit: int, remaining: int, reset: float) -> None:
    """One call to `endpoint`, sent and answered before the next starts."""
    budget.release(await budget.acquire(endpoint), headers(limit, remaining, reset))


@pytest.mark.anyio
async def test_one_shared_counter_is_read_as_one_budget():
    budget = RateBudget(clock=FakeClock())
    # One counter across endpoints: each answer has less left, a 429 nothing, then a new window.
    await call(budget, "GET a", 10, 9, 100.0)
    await call(budget, "GET b", 10, 8, 100.0)
    await call(budget, "GET a", 10, 7, 100.0)
    await call(budget, "GET b", 10, 0, 100.0)
    await call(budget, "GET a", 10, 0, 100.0)  # a 429 shows the spent window
    await call(budget, "GET b", 10, 9, 110.0)  # the next window
    await call(budget, "GET a", 3600, 3000, 900.0)  # the hourly window, nearer to running out
    assert budget.scope == "shared"


@pytest.mark.anyio
async def test_answers_that_overtake_each_other_prove_nothing():
    budget = RateBudget(clock=FakeClock())
    first, second = await budget.acquire("GET a"), await budget.acquire("GET b")
    budget.release(second, headers(10, 8, 100.0))  # sent second, answered first
    budget.release(first, headers(10, 9, 100.0))
    assert budget.scope == "shared"


@pytest.mark.anyio
async def test_a_later_call_with_as_much_left_shows_a_budget_per_endpoint():
    budget = RateBudget(clock=FakeClock())
    await call(budget, "GET a", 10, 9, 100.0)
    await call(budget, "GET b", 10, 9, 100.0)  # b's own window: a's call did not count
    assert budget.scope == "endpoint"


@pytest.mark.anyio
async def test_a_later_call_in_an_earlier_window_shows_a_budget_per_endpoint():
    budget = RateBudget(clock=FakeClock())
    await call(budget, "GET a", 10, 9, 105.0)
    await call(budget, "GET b", 10, 3, 101.0)  # b's window started first
    assert budget.scope == "endpoint"


async def per_endpoint_budget(clock: FakeClock) -> RateBudget:
    budget = RateBudget(clock=clock)
    reset = clock.time() + 10
    await call(budget, "POST uploads", 60, 59, reset)
    await call(budget, "POST drawings", 60, 59, reset)
    assert budget.scope == "endpoint"
    return budget


@pytest.mark.anyio
async def test_a_429_on_one_endpoint_pauses_only_its_calls():
    clock = FakeClock()
    budget = await per_endpoint_budget(clock)
    budget.pause(30.0, "rate_limited", "POST uploads")
    started = clock.now()
    await budget.acquire("POST drawings")
    assert clock.now() == started  # the other endpoint goes at once
    await budget.acquire("POST uploads")
    assert clock.now() - started >= 30.0


@pytest.mark.anyio
async def test_an_endpoint_waiting_for_its_reset_does_not_starve_the_others():
    clock = FakeClock()
    budget = await per_endpoint_budget(clock)
    await call(budget, "POST uploads", 60, 0, clock.time() + 10)  # uploads spent its window
    waited: dict[str, float] = {}

    async def go(endpoint: str) -> None:
        turn = await budget.acquire(endpoint)
        waited[endpoint] = turn.waited
        budget.release(turn, None)

    async with anyio.create_task_group() as tg:
        tg.start_soon(go, "POST uploads")
        tg.start_soon(go, "POST drawings")
    assert waited["POST drawings"] == 0.0
    assert waited["POST uploads"] >= 10.0
    assert budget.waiting() == 0.0


@pytest.mark.anyio
async def test_a_throttle_holds_every_endpoint():
    clock = FakeClock()
    budget = await per_endpoint_budget(clock)
    budget.pause(5.0, "throttled", "POST uploads")
    started = clock.now()
    await budget.acquire("GET never called yet")
    assert clock.now() - started >= 5.0


@pytest.mark.anyio
async def test_a_plan_is_priced_side_by_side_per_endpoint():
    clock = FakeClock()
    shared = RateBudget(clock=clock)
    await call(shared, "GET areas", 60, 60, clock.time())
    per_endpoint = await per_endpoint_budget(clock)
    plan = {"POST uploads": 600, "POST drawings": 600}
    shared_s, per_endpoint_s = shared.seconds_for(plan), per_endpoint.seconds_for(plan)
    assert shared_s == pytest.approx((1200 - 60) / 60 * 10)  # one budget: 60 calls per 10 s
    assert per_endpoint_s is not None
    assert per_endpoint_s == pytest.approx(10 + (600 - 59) / 60 * 10)  # each its own 60 per 10 s
    # An endpoint not called yet is taken to have a whole window like the others.
    assert per_endpoint.seconds_for({"GET unseen": 600}) == pytest.approx(per_endpoint_s, abs=10)


@pytest.mark.anyio
async def test_max_per_hour_caps_the_run_not_each_endpoint():
    clock = FakeClock()
    budget = await per_endpoint_budget(clock)
    capped = RateBudget(max_per_hour=36_000, clock=clock)  # one call per 0.1 s, all told
    started = clock.now()
    for endpoint in ("a", "b", "a", "b"):
        capped.release(await capped.acquire(endpoint), None)
    assert clock.now() - started == pytest.approx(0.3)
    assert budget.scope == "endpoint"


# Others on the same budget ---------------------------------------------------------------------


def test_a_run_alone_sees_nobody_else_spending():
    others = OthersSpending()
    # 80 calls in 8 s, each answer one less, some answered out of order (in flight: 8).
    for i in range(80):
        seen = i + 1 if i % 5 else i + 3  # a call now and then admitted after later ones
        others.note(Window(300, 300 - seen, 1015.0), i, 8, 1000.0 + i / 10)
    assert others.rate == 0.0


def test_others_spending_is_read_from_what_is_left():
    others = OthersSpending()
    # Our 10 calls a second, and what is left falls by 16 a second: others spend about 6.
    for i in range(80):
        others.note(Window(300, 300 - 16 * i // 10, 1015.0), i, 2, 1000.0 + i / 10)
    assert 5.0 <= others.rate <= 6.0
    others.note(Window(300, 299, 1030.0), 80, 2, 1015.0)  # a new window: the figure holds
    assert 5.0 <= others.rate <= 6.0
    assert others.reserved(10.0) >= others.rate * 10


@pytest.mark.anyio
async def test_what_others_will_spend_before_reset_is_left_to_them():
    clock = FakeClock()
    budget = RateBudget(clock=clock)
    reset = clock.time() + 15
    for i in range(60):  # others spend 10 a second beside our 10: 20 fewer left a second
        turn = await budget.acquire("GET a")
        clock.advance(0.1)
        budget.release(turn, headers(300, 300 - 2 * (i + 1), reset))
    assert 8.0 <= budget.others_rate <= 10.0
    # 160 left with 10 s to go: alone, a burst; beside others taking ~90 (and a margin for
    # them), what is left of it is spread.
    budget.release(await budget.acquire("GET a"), headers(300, 160, clock.time() + 10))
    budget.release(await budget.acquire("GET a"), None)
    assert (await budget.acquire("GET a")).waited > 0.0


class HeldClock(FakeClock):
    """A fake clock whose sleeps wait until the test moves time past their end."""

    def __init__(self) -> None:
        super().__init__()
        self._moved = anyio.Event()

    async def sleep(self, seconds: float) -> None:
        until = self.now() + seconds
        while self.now() < until:
            await self._moved.wait()

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self._moved.set()
        self._moved = anyio.Event()


@pytest.mark.anyio
async def test_a_429_holds_the_calls_already_waiting_their_turn():
    """Callers asleep until their spread-out start were planned before the 429: they must not
    wake into the spent window."""
    clock = HeldClock()
    budget = RateBudget(clock=clock)
    budget.release(await budget.acquire(), headers(300, 5, clock.time() + 10))
    woke: list[float] = []

    async def go() -> None:
        await budget.acquire()
        woke.append(clock.now())

    started = clock.now()
    async with anyio.create_task_group() as tg:
        tg.start_soon(go)  # goes now
        tg.start_soon(go)  # planned for 2.5 s on: 5 left, 1 in flight, 10 s to Reset
        await anyio.wait_all_tasks_blocked()
        budget.pause(30.0, "rate_limited")  # the first one's answer was a 429
        for _ in range(40):
            clock.advance(1.0)
            await anyio.wait_all_tasks_blocked()
    assert woke[0] == started
    assert woke[1] - started >= 30.0


@pytest.mark.anyio
async def test_a_call_cancelled_in_its_wait_is_not_counted_in_flight():
    clock = HeldClock()
    budget = RateBudget(clock=clock)
    budget.release(await budget.acquire(), headers(300, 5, clock.time() + 10))
    first = await budget.acquire()  # goes now; the next is spread
    with anyio.move_on_after(0.5):  # real seconds: the held clock never moves on its own
        await budget.acquire()
    budget.release(first, None)
    assert first.lane.in_flight == 0  # else every later call would be spaced as if it were
