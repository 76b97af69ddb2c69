"""Procore's rate-limit window as its answers report it, and the arithmetic of pacing calls
through it.

Every answer carries the window a client is likelier to exhaust first: `X-Rate-Limit-Limit`,
`-Remaining` and `-Reset` (unix seconds). Calls go at full speed while plenty is left; once what
is left (less the calls in flight) falls to a tenth of the window, the rest is spread evenly
until Reset instead of bursting into a 429, and at nothing left the calls wait for Reset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

LOW_WATER = 0.1  # below this share of the window left, spread the rest until Reset


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


def spacing(window: Window, in_flight: float, now: float) -> float:
    """Seconds to leave before the next call starts: none while plenty is left, then what is
    left spread evenly until the window resets, and all of it once nothing is left. `in_flight`
    counts the calls already spoken for: the run's in flight, and those others are expected
    to make before Reset."""
    left = window.remaining - in_flight
    until_reset = max(0.0, window.reset - now)
    if left <= 0:
        return until_reset
    if left > max(2, LOW_WATER * window.limit):
        return 0.0
    return until_reset / left


def window_seconds(window: Window, requests: int, now: float) -> float:
    """Calls within what is left go now (the low-water tail by Reset); the rest wait for
    Reset, then take one window per Limit calls. Procore has two windows, an hour and ten
    seconds; a Reset further than ten seconds away (eleven: Reset is rounded up to a whole
    second) can only be the hourly one's."""
    until_reset = max(0.0, window.reset - now)
    if requests <= window.remaining:
        burst = window.remaining - max(2, LOW_WATER * window.limit)
        return 0.0 if requests <= burst else until_reset
    length = 3600.0 if until_reset > 11 else 10.0
    return until_reset + (requests - window.remaining) / max(window.limit, 1) * length
