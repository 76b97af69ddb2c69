"""A clock for tests: time stands still until a test moves it, or a sleep does.

It implements `bulkimport.clock.Clock`. `advance` moves time on and cancels every deadline it
passes; `sleep` moves time on by what it was asked to wait, at once, so a stage that backs off
runs through its waits without a real second passing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio
from anyio.lowlevel import checkpoint

EPOCH = 1_800_000_000.0  # what time() says when now() is 0, unless told: a day in 2027


class FakeClock:
    def __init__(self, start: float = 1000.0, epoch: float = EPOCH) -> None:
        self._now = start
        self._epoch = epoch
        self._deadlines: list[tuple[float, anyio.CancelScope]] = []
        self.slept: list[float] = []  # every sleep asked for, in order

    def now(self) -> float:
        return self._now

    def time(self) -> float:
        return self._epoch + self._now

    @contextmanager
    def deadline(self, at: float) -> Iterator[anyio.CancelScope]:
        with anyio.CancelScope() as scope:
            entry = (at, scope)
            self._deadlines.append(entry)
            if at <= self._now:
                scope.cancel()
            try:
                yield scope
            finally:
                self._deadlines.remove(entry)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        await checkpoint()

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "time only moves forward"
        self._now += seconds
        for at, scope in list(self._deadlines):
            if at <= self._now:
                scope.cancel()
