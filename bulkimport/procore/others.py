"""How fast others spend the budget a run draws on: another integration on the same credential,
or a second run. Procore's headers say what is left, not who spent it, but the run knows its
own calls: between two answers in one window, what is left falls by the calls admitted in
between, and whatever the run did not send itself, someone else did.

The estimate leans low on purpose. A call sent before the earlier answer's call may be admitted
after it, which makes others look busier than they are, by at most the calls then in flight; so
those are taken off, and a run alone on its budget is never slowed by its own echo. That
correction weighs less the longer the window has run, so a window says nothing before MIN_SPAN
seconds; until then the last window's rate holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from bulkimport.procore.window import Window

MARGIN = 1.5  # others' share is reserved with this margin: their rate is an underestimate
MIN_SPAN = 5.0  # seconds of one window before its figure replaces the last window's


@dataclass(frozen=True, slots=True)
class _Mark:
    window: Window
    sent_before: int  # the run's calls on this budget sent before the answered one
    in_flight: int  # the run's calls on this budget in flight when it was sent
    at: float  # unix seconds


class OthersSpending:
    def __init__(self) -> None:
        self.rate = 0.0  # calls a second that others make on this budget
        self._first: dict[int, _Mark] = {}  # per window length (by limit): its first answer

    def note(self, window: Window, sent_before: int, in_flight: int, at: float) -> None:
        mark = _Mark(window, sent_before, in_flight, at)
        first = self._first.get(window.limit)
        if first is None or abs(first.window.reset - window.reset) > 0.5:
            self._first[window.limit] = mark  # a new window: start counting again
            return
        span = at - first.at
        if span < MIN_SPAN or sent_before <= first.sent_before:
            return
        fell = first.window.remaining - window.remaining
        mine = sent_before - first.sent_before
        theirs = fell - mine - first.in_flight
        self.rate = max(0.0, theirs / span)

    def reserved(self, until_reset: float) -> float:
        """Calls to leave to others before the window resets: their rate, which leans low,
        with a margin, since a 429 costs more than a call left unmade."""
        return self.rate * MARGIN * until_reset
