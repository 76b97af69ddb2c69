"""Identifiers shaped like Procore's: 26-character ULIDs for uploads, int64 ids for records."""

from __future__ import annotations

import secrets
from itertools import count

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid(timestamp: float) -> str:
    """48 bits of milliseconds then 80 random bits, in Crockford base32 (26 characters)."""
    value = (int(timestamp * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_ulid(text: str) -> bool:
    return len(text) == 26 and all(c in _CROCKFORD for c in text)


class IdSequence:
    """Record ids start above 2**32 so that a client storing ids in 32 bits fails at once."""

    def __init__(self, start: int = 2**32 + 1000) -> None:
        self._next = count(start)

    def __call__(self) -> int:
        return next(self._next)
