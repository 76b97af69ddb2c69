"""The one clock behind every expiry the emulator enforces.

Tokens, upload policies, the attach deadline, rate-limit windows and drawing-upload processing
all read `Clock.now()`, so moving it forward (`POST /_emulator/clock`) ages all of them together.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """Unix seconds, wall time plus whatever the clock has been advanced by."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds

    @property
    def offset(self) -> float:
        return self._offset


def iso(timestamp: float) -> str:
    """Procore's timestamp form: `2021-02-17T00:19:21Z`."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
