"""A str -> int map that keeps no strings: for the run's per-file and per-drawing lookups,
which at 100,000 files held tens of MB of keys to the end of a run.

Only a 64-bit hash of each key is kept (Python's `hash`, stable within a process). Two keys of
one map would have to share a hash to be confused: about one chance in 10**9 for 100,000 keys.
New entries gather in a dict; every FREEZE_AT of them are frozen into a pair of sorted arrays
(16 bytes an entry, where a dict of short strings costs over 100). Lookups look at the newest
first, so a key set again takes its newest value.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable


class HashIndex:
    FREEZE_AT = 16_384

    def __init__(self, items: Iterable[tuple[str, int]] = ()) -> None:
        self._recent: dict[int, int] = {}
        self._frozen: list[tuple[array[int], array[int]]] = []  # oldest first
        self._count = 0
        for key, value in items:
            self[key] = value

    def __setitem__(self, key: str, value: int) -> None:
        if key not in self:
            self._count += 1
        self._recent[hash(key)] = value
        if len(self._recent) >= self.FREEZE_AT:
            pairs = sorted(self._recent.items())
            self._frozen.append(
                (array("q", (k for k, _ in pairs)), array("q", (v for _, v in pairs)))
            )
            self._recent = {}

    def get(self, key: str) -> int | None:
        hashed = hash(key)
        value = self._recent.get(hashed)
        if value is not None:
            return value
        for keys, values in reversed(self._frozen):
            at = bisect_left(keys, hashed)
            if at < len(keys) and keys[at] == hashed:
                return values[at]
        return None

    def __getitem__(self, key: str) -> int:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __len__(self) -> int:
        return self._count
