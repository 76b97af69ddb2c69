"""Procore's hourly and 10-second spike windows, counted per client identity, or per client
identity and endpoint when the limits' scope is "endpoint" (procore-api.md C12).

The X-Rate-Limit-* headers describe whichever window has less left: usually the spike window,
until the hourly budget is nearly spent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import RateLimits


@dataclass(slots=True)
class _Window:
    limit: int
    length: float
    started: float = -math.inf
    used: int = 0

    def roll(self, now: float) -> None:
        if now >= self.started + self.length:
            self.started, self.used = now, 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def reset(self) -> float:
        return self.started + self.length


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # unix seconds

    def headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Reset": str(math.ceil(self.reset)),
        }

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.reset - now))


class RateLimiter:
    def __init__(self, limits: RateLimits) -> None:
        self._limits = limits
        self._windows: dict[tuple[str, str], list[_Window]] = {}

    def _windows_of(self, identity: str, endpoint: str) -> list[_Window]:
        key = (identity, endpoint if self._limits.scope == "endpoint" else "")
        windows = self._windows.get(key)
        if windows is None:
            windows = []
            if self._limits.spike_limit is not None:
                windows.append(_Window(self._limits.spike_limit, self._limits.spike_window))
            if self._limits.hourly_limit is not None:
                windows.append(_Window(self._limits.hourly_limit, self._limits.hourly_window))
            self._windows[key] = windows
        return windows

    def admit(self, identity: str, endpoint: str, now: float) -> Verdict | None:
        """Count one request of `identity` to `endpoint` (method and route); None when no window
        is configured."""
        windows = self._windows_of(identity, endpoint)
        if not windows:
            return None
        for window in windows:
            window.roll(now)
        full = [w for w in windows if w.remaining == 0]
        if not full:
            for window in windows:
                window.used += 1
        # The window with least left is the one a client is likelier to hit first.
        shown = max(full, key=lambda w: w.reset) if full else min(windows, key=_tightness)
        return Verdict(not full, shown.limit, shown.remaining, shown.reset)


def _tightness(window: _Window) -> tuple[int, float]:
    return (window.remaining, window.reset)
