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
from collections.abc import Mapping
from dataclasses import dataclass

import anyio
import structlog

from bulkimport.clock import SYSTEM, Clock

log = structlog.get_logger("bulkimport.procore.pacing")

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
    def __init__(self, max_per_hour: int | None = None, clock: Clock = SYSTEM) -> None:
        self._clock = clock
        self._window: Window | None = None
        self._next_start = 0.0  # monotonic: the earliest the next call may start
        self._paused_until = 0.0  # monotonic
        self._in_flight = 0
        self._queued = 0  # callers asleep until their turn: the run is waiting on the budget
        self._last_start = 0.0  # monotonic: when the last caller to plan its start goes
        self._lock = anyio.Lock()
        self._floor = 3600.0 / max_per_hour if max_per_hour else 0.0
        self.rate_limited = 0  # 429s met
        self.throttled = 0  # 503s with Retry-After met
        self.waited = 0.0  # seconds spent waiting for the budget

    @property
    def window(self) -> Window | None:
        return self._window

    async def acquire(self) -> float:
        """Wait for this call's turn; pair with `release` when its answer is in. Returns the
        seconds it waited."""
        async with self._lock:  # one caller plans its start at a time
            now = self._clock.now()
            start = max(now, self._next_start, self._paused_until)
            gap = self._floor
            window = self._window
            if window is not None:
                wall = self._clock.time() + (start - now)
                if window.remaining - self._in_flight <= 0:
                    # Nothing left: this call waits for Reset and the others queue behind it;
                    # the new window's first answer will say what it holds.
                    start += max(0.0, window.reset - wall) + random.uniform(0, JITTER)
                    self._window = None
                else:
                    gap = max(gap, spacing(window, self._in_flight, wall))
            self._next_start = start + gap
            self._last_start = start
            self._in_flight += 1
        if start <= now:
            return 0.0
        self.waited += start - now
        self._queued += 1
        try:
            await self._clock.sleep(start - now)
        finally:
            self._queued -= 1
        return start - now

    def release(self, headers: Mapping[str, str] | None) -> None:
        self._in_flight -= 1
        if headers is None:
            return
        window = read_window(headers)
        if window is not None:
            self._window = window

    def pause(self, seconds: float, reason: str) -> None:
        """A 429 (`rate_limited`) or a 503 with Retry-After (`throttled`): every caller waits,
        not only the one that met it."""
        if reason == "rate_limited":
            self.rate_limited += 1
        else:
            self.throttled += 1
        until = self._clock.now() + seconds + random.uniform(0, JITTER)
        if until > self._paused_until:
            self._paused_until = until
            log.warning("rate.paused", reason=reason, pause_s=round(seconds, 2))

    def waiting(self) -> float:
        """Seconds until the calls now held back may go (spacing, a spent window, a pause);
        0 when none is held back."""
        if not self._queued:
            return 0.0
        return max(0.0, max(self._last_start, self._paused_until) - self._clock.now())

    def seconds_for(self, requests: int) -> float | None:
        """How long `requests` more calls take at the budget last seen, as this class paces
        them; None when nothing is known."""
        floor = requests * self._floor
        if self._window is None:
            return floor if self._floor else None
        return max(floor, window_seconds(self._window, requests, self._clock.time()))


def window_seconds(window: Window, requests: int, now: float) -> float:
    """Calls within what is left go now (the low-water tail by Reset); the rest wait for
    Reset, then take one window per Limit calls. Procore has two windows, an hour and ten
    seconds; a Reset further than ten seconds away can only be the hourly one's."""
    until_reset = max(0.0, window.reset - now)
    if requests <= window.remaining:
        burst = window.remaining - max(2, LOW_WATER * window.limit)
        return 0.0 if requests <= burst else until_reset
    length = 3600.0 if until_reset > 10 else 10.0
    return until_reset + (requests - window.remaining) / max(window.limit, 1) * length
