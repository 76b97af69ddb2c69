"""Whether Procore counts one request budget for every endpoint or one per endpoint, read from
the rate-limit headers of the answers themselves.

Procore's older documentation counts one budget per token (per company for a service account);
a 2026 announcement speaks of "per-app, per-endpoint quotas" (procore-api.md, C12). Neither can
be asked for, but the headers tell them apart. Under one shared budget what is left only shrinks
within a window, and windows only move forward. So when a call sent after another endpoint's
answer came in reports the same window with as much left or more, or an earlier window, the two
endpoints cannot be drawing on one counter: each has its own. Until such an answer is seen the
budget is taken as shared, the reading that can never cause a 429 storm.

Only a call sent after the other answer arrived is compared, so answers that overtake each
other on the wire prove nothing; a 429 (nothing left) proves nothing either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bulkimport.procore.window import Window

Scope = Literal["shared", "endpoint"]

SAME_RESET = 0.5  # seconds: Procore's Reset is whole seconds, so one window shows one value


@dataclass(frozen=True, slots=True)
class _Seen:
    window: Window
    sent: int  # calls sent, all endpoints together, when this answer came in


class ScopeReading:
    def __init__(self) -> None:
        self.scope: Scope = "shared"
        self._last: dict[str, _Seen] = {}

    def note(self, endpoint: str, window: Window, sent_before: int, sent_now: int) -> bool:
        """Take in one answer of `endpoint`, whose call was sent after `sent_before` others,
        when `sent_now` calls have been sent; True when it is the first proof that each
        endpoint has its own budget."""
        proof = self.scope == "shared" and any(
            other != endpoint and seen.sent <= sent_before and _apart(seen.window, window)
            for other, seen in self._last.items()
        )
        self._last[endpoint] = _Seen(window, sent_now)
        if proof:
            self.scope = "endpoint"
        return proof

    def last_window(self, endpoint: str) -> Window | None:
        seen = self._last.get(endpoint)
        return seen.window if seen is not None else None


def _apart(earlier: Window, later: Window) -> bool:
    """Whether `later`, answered for a call sent after `earlier` came in, cannot be the same
    counter. Windows of another length (the hour beside the spike) are not compared."""
    if earlier.limit != later.limit:
        return False
    if abs(later.reset - earlier.reset) <= SAME_RESET:
        return later.remaining >= earlier.remaining and later.remaining > 0
    return later.reset < earlier.reset - SAME_RESET
