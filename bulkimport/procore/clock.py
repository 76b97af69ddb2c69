"""The time the client's decisions read: when a token is renewed, when a ticket is too old,
how long a rate-limit window has left, when a retry goes.

Everything in `bulkimport.procore` takes a `Clock` (the system's by default), so a test can
move time on at will instead of sleeping through it.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock time, unix seconds: compared with what Procore says (Reset, expiry)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back: for intervals."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
