"""One request budget shared by every Procore call of a run.

Procore reports, on every answer, the window a client is likelier to exhaust first:
`X-Rate-Limit-Limit`, `-Remaining` and `-Reset` (unix seconds). Calls go at full speed while
plenty is left; once what is left (less the calls in flight) falls to a fifth of the window,
the rest is spread evenly until Reset instead of bursting into a 429, and at nothing left the
calls wait for Reset. A 429 pauses every caller, not just the one that met it, until Retry-After
(or Reset) plus a little jitter. `max_per_hour` caps the rate for users who must leave budget
to other integrations.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

import anyio
import structlog

log = structlog.get_logger("bulkimport.pacing")

JITTER = 0.25  # seconds of spread after a pause, so callers do not all start at once
LOW_WATER = 0.2  # below this share of the window left, spread the rest until Reset


@dataclass(frozen=True, slots=True)
class Window:
    limit: int
    remaining: int
    reset: float  # unix seconds


def read_window(headers: Mapping[str, str]) -> Window | None:
    """The window an answer describes, or None when it carries no rate-limit headers."""
    try:
        return Window(
            int(headers["X-Rate-Limit-Limit"]),
            int(headers["X-Rate-Limit-Remaining"]),
            float(headers["X-Rate-Limit-Reset"]),
        )
    except (KeyError, ValueError):
        return None


def spacing(window: Window, in_flight: int, now: float) -> float:
    """Seconds to leave before the next call starts: none while plenty is left, then what is
    left spread evenly until the window resets, and all of it once nothing is left."""
    left = window.remaining - in_flight
    until_reset = max(0.0, window.reset - now)
    if left <= 0:
        return until_reset
    if left > max(2, LOW_WATER * window.limit):
        return 0.0
    return until_reset / left


class RateBudget:
    def __init__(self, max_per_hour: int | None = None) -> None:
        self._window: Window | None = None
        self._next_start = 0.0  # monotonic: the earliest the next call may start
        self._paused_until = 0.0  # monotonic
        self._in_flight = 0
        self._lock = anyio.Lock()
        self._floor = 3600.0 / max_per_hour if max_per_hour else 0.0
        self.rate_limited = 0  # 429s met
        self.waited = 0.0  # seconds spent waiting for the budget

    @property
    def window(self) -> Window | None:
        return self._window

    async def acquire(self) -> None:
        """Wait for this call's turn; pair with `release` when its answer is in."""
        async with self._lock:  # one caller plans its start at a time
            now = time.monotonic()
            start = max(now, self._next_start, self._paused_until)
            gap = self._floor
            window = self._window
            if window is not None:
                wall = time.time() + (start - now)
                if window.remaining - self._in_flight <= 0:
                    # Nothing left: this call waits for Reset and the others queue behind it;
                    # the new window's first answer will say what it holds.
                    start += max(0.0, window.reset - wall) + random.uniform(0, JITTER)
                    self._window = None
                else:
                    gap = max(gap, spacing(window, self._in_flight, wall))
            self._next_start = start + gap
            self._in_flight += 1
        if start > now:
            self.waited += start - now
            await anyio.sleep(start - now)

    def release(self, headers: Mapping[str, str] | None) -> None:
        self._in_flight -= 1
        if headers is None:
            return
        window = read_window(headers)
        if window is not None:
            self._window = window

    def pause(self, seconds: float) -> None:
        """A 429: every caller waits, not only the one that met it."""
        self.rate_limited += 1
        until = time.monotonic() + seconds + random.uniform(0, JITTER)
        if until > self._paused_until:
            self._paused_until = until
            log.warning("rate.limited", pause_s=round(seconds, 2))

    def seconds_for(self, requests: int) -> float | None:
        """How long `requests` calls take at the budget last seen; None when nothing is known."""
        if self._window is None and not self._floor:
            return None
        rate = 1 / self._floor if self._floor else float("inf")
        if self._window is not None:
            until_reset = max(1.0, self._window.reset - time.time())
            rate = min(rate, max(self._window.remaining, 1) / until_reset)
        return requests / rate
