"""Clocks a test moves instead of sleeping through (the engine's `bulkimport.procore.Clock`)."""

from __future__ import annotations

import time

import anyio.lowlevel

from bulkimport.emulator import RunningEmulator


class ManualClock:
    """Time that moves only when something sleeps or the test advances it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []  # every sleep, in order

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()

    def advance(self, seconds: float) -> None:
        self.now += seconds


class EmulatorClock:
    """The emulator's own clock, moved by the client's sleeps: the client and the emulator
    see the same time (tokens, policies and rate-limit windows age together) and nobody waits."""

    def __init__(self, emu: RunningEmulator) -> None:
        self._clock = emu.world.clock
        self.slept: list[float] = []

    def time(self) -> float:
        return self._clock.now()

    def monotonic(self) -> float:
        return time.monotonic() + self._clock.offset

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._clock.advance(seconds)
        await anyio.lowlevel.checkpoint()

    def advance(self, seconds: float) -> None:
        self._clock.advance(seconds)
