"""The emulator's clock as the engine's `bulkimport.clock.Clock` (fake_clock.py has the other)."""

from __future__ import annotations

import time

import anyio.lowlevel

from bulkimport.emulator import RunningEmulator


class EmulatorClock:
    """The emulator's own clock, moved by the client's sleeps: the client and the emulator
    see the same time (tokens, policies and rate-limit windows age together) and nobody waits."""

    def __init__(self, emu: RunningEmulator) -> None:
        self._clock = emu.world.clock
        self.slept: list[float] = []

    def time(self) -> float:
        return self._clock.now()

    def now(self) -> float:
        return time.monotonic() + self._clock.offset

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._clock.advance(seconds)
        await anyio.lowlevel.checkpoint()

    def advance(self, seconds: float) -> None:
        self._clock.advance(seconds)
