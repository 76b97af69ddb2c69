"""Time, for the engine's decisions that depend on it: when a batch has waited long enough, when
a ticket is too near its expiry, how long verify waits between checks and when it gives up, when
a token is renewed, how long a rate-limit window has left, when a retry goes.

The stages and the Procore client take a clock instead of reading time themselves, so a test
can hold time still and move it on purpose (tests/engine/fake_clock.py, tests/engine/clocks.py),
and never sleeps to see a deadline pass. The client needs a `Clock`; the stages that wait on a
stream with a deadline need a `DeadlineClock`. `SYSTEM` is both.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

import anyio
from anyio.abc import ObjectReceiveStream

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic clock: for ages and deadlines within the run."""

    def time(self) -> float:
        """Unix seconds: for times another party gives (a ticket's expiry, a window's Reset)."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""


class DeadlineClock(Clock, Protocol):
    def deadline(self, at: float) -> AbstractContextManager[object]:
        """A scope whose body is cancelled once `now()` reaches `at` (math.inf: never), and
        which swallows that cancellation, like `anyio.CancelScope(deadline=at)`."""


class SystemClock:
    """The monotonic clock (asyncio's event loop reads the same one, so `deadline` agrees with
    `now`), and the wall clock."""

    def now(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def deadline(self, at: float) -> anyio.CancelScope:
        return anyio.CancelScope(deadline=at)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


SYSTEM = SystemClock()


async def receive_until(
    stream: ObjectReceiveStream[T], clock: DeadlineClock, at: float
) -> T | None:
    """The next item, or None once `clock` reaches `at`; EndOfStream when the stream ends.
    An item is never lost to the deadline: a memory stream's receive is cancel-safe."""
    with clock.deadline(at):
        return await stream.receive()
    return None
