"""The request budget every Procore call of a run draws on: one for the whole run, or one per
endpoint once the answers show that Procore counts each endpoint apart (budget_scope.py).

Each budget is paced by the window its answers report (window.py): full speed while plenty is
left, the rest spread until Reset, and a wait for Reset once nothing is left. A 429 pauses every
caller of the budget that met it, not just the one call, until Retry-After (or Reset) plus a
little jitter: under one shared budget that is every caller, under per-endpoint budgets only the
calls to that endpoint, so the others do not starve while it waits. `max_per_hour` caps the
run's rate over all endpoints, for users who must leave budget to other integrations.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import anyio
import structlog

from bulkimport.clock import SYSTEM, Clock
from bulkimport.procore.budget_scope import Scope, ScopeReading
from bulkimport.procore.others import OthersSpending
from bulkimport.procore.window import Window, read_window, spacing, window_seconds

log = structlog.get_logger("bulkimport.procore.pacing")

JITTER = 0.25  # seconds of spread after a pause, so callers do not all start at once
# After a spent window, less: the run's own calls queue one behind another anyway, and Reset is
# whole seconds already (half a second late on average), a tenth of a 10 s window lost each time.
RESET_JITTER = 0.05


@dataclass(slots=True)
class _Lane:
    """The pacing of one budget: the whole run's, or one endpoint's."""

    window: Window | None = None
    next_start: float = 0.0  # monotonic: the earliest the next call may start
    paused_until: float = 0.0  # monotonic
    in_flight: int = 0
    queued: int = 0  # callers asleep until their turn: they wait on this budget
    last_start: float = 0.0  # monotonic: when the last caller to plan its start goes
    sent: int = 0  # calls sent on this budget
    others: OthersSpending = field(default_factory=OthersSpending)


@dataclass(frozen=True, slots=True)
class Turn:
    """One call's place in the budget, handed back with its answer to `release`."""

    endpoint: str
    lane: _Lane
    sent_before: int  # calls sent before this one, every endpoint counted
    waited: float  # seconds it waited for its turn
    lane_sent_before: int  # calls sent on its budget before this one
    lane_in_flight: int  # calls on its budget in flight when it was sent


class RateBudget:
    def __init__(self, max_per_hour: int | None = None, clock: Clock = SYSTEM) -> None:
        self._clock = clock
        self._shared = _Lane()
        self._lanes: dict[str, _Lane] = {}  # per endpoint, once the scope is "endpoint"
        self._reading = ScopeReading()
        self._latest: Window | None = None  # the last window any answer reported
        self._sent = 0
        self._lock = anyio.Lock()
        self._floor = 3600.0 / max_per_hour if max_per_hour else 0.0
        self._capped_next = 0.0  # monotonic: the earliest a call may start under the cap
        self.rate_limited = 0  # 429s met
        self.throttled = 0  # 503s with Retry-After met
        self.waited = 0.0  # seconds spent waiting for the budget

    @property
    def scope(self) -> Scope:
        return self._reading.scope

    @property
    def others_rate(self) -> float:
        """Calls a second others spend of the budget (the busiest endpoint's, per endpoint)."""
        return max((lane.others.rate for lane in self._all_lanes()), default=0.0)

    @property
    def window(self) -> Window | None:
        """The window with the least share left: the run's, or the tightest endpoint's (a
        window whose Reset has passed is full again, so it counts only when none is current)."""
        windows = [lane.window for lane in self._all_lanes() if lane.window is not None]
        now = self._clock.time()
        current = [w for w in windows if w.reset > now] or windows
        return min(current, key=lambda w: w.remaining / max(w.limit, 1), default=None)

    def _all_lanes(self) -> list[_Lane]:
        return list(self._lanes.values()) if self.scope == "endpoint" else [self._shared]

    def _lane(self, endpoint: str) -> _Lane:
        if self.scope == "shared":
            return self._shared
        lane = self._lanes.get(endpoint)
        if lane is None:
            # A new endpoint starts from what the run's budget knew: its pause, its own
            # window if an answer of it was seen.
            shared = self._shared
            lane = _Lane(
                window=self._reading.last_window(endpoint),
                next_start=shared.next_start,
                paused_until=shared.paused_until,
            )
            self._lanes[endpoint] = lane
        return lane

    async def acquire(self, endpoint: str = "") -> Turn:
        """Wait for this call's turn; give the turn back to `release` with its answer."""
        async with self._lock:  # one caller plans its start at a time
            lane = self._lane(endpoint)
            now = self._clock.now()
            # The cap hands out one slot per 1/max_per_hour seconds over all endpoints; a call
            # its own endpoint holds back longer still takes the slot, so the others go on.
            slot = max(now, self._capped_next)
            self._capped_next = slot + self._floor
            start = max(slot, lane.next_start, lane.paused_until)
            gap = 0.0
            window = lane.window
            if window is not None:
                wall = self._clock.time() + (start - now)
                # What others will spend of this window before it resets is not ours to take.
                busy = lane.in_flight + lane.others.reserved(max(0.0, window.reset - wall))
                if window.remaining - busy <= 0:
                    # Nothing left: this call waits for Reset and the others queue behind it;
                    # the new window's first answer will say what it holds.
                    start += max(0.0, window.reset - wall) + random.uniform(0, RESET_JITTER)
                    lane.window = None
                else:
                    gap = spacing(window, busy, wall)
            lane.next_start = start + gap
            lane.last_start = start
            lane.in_flight += 1
        waited = max(0.0, start - now)
        if waited > 0:
            lane.queued += 1
            try:
                await self._clock.sleep(waited)
                # A 429 met while this call slept holds it too: it was planned before the
                # pause, and would otherwise go into the spent window.
                while (held := lane.paused_until - self._clock.now()) > 0:
                    waited += held
                    await self._clock.sleep(held)
            except BaseException:  # cancelled in its wait: the call never goes
                lane.in_flight -= 1
                raise
            finally:
                lane.queued -= 1
            self.waited += waited
        sent_before, self._sent = self._sent, self._sent + 1
        lane_sent_before, lane.sent = lane.sent, lane.sent + 1
        return Turn(endpoint, lane, sent_before, waited, lane_sent_before, lane.in_flight)

    def release(self, turn: Turn, headers: Mapping[str, str] | None) -> None:
        turn.lane.in_flight -= 1
        window = read_window(headers) if headers is not None else None
        if window is None:
            return
        turn.lane.window = self._latest = window
        turn.lane.others.note(
            window, turn.lane_sent_before, turn.lane_in_flight, self._clock.time()
        )
        if self._reading.note(turn.endpoint, window, turn.sent_before, self._sent):
            log.info("rate.scope", scope="endpoint", seen_on=turn.endpoint)

    def pause(self, seconds: float, reason: str, endpoint: str = "") -> None:
        """A 429 (`rate_limited`) or a 503 with Retry-After (`throttled`): every caller of
        the budget `endpoint` draws on waits, not only the one that met it."""
        if reason == "rate_limited":
            self.rate_limited += 1
        else:
            self.throttled += 1
        # A throttle is Procore shedding load, not one endpoint's budget: it holds the run.
        lanes = [self._lane(endpoint)] if reason == "rate_limited" else self._all_lanes()
        until = self._clock.now() + seconds + random.uniform(0, JITTER)
        for lane in lanes:
            lane.paused_until = max(lane.paused_until, until)
        if self.scope == "endpoint" and reason != "rate_limited":
            self._shared.paused_until = max(self._shared.paused_until, until)
        log.warning(
            "rate.paused",
            reason=reason,
            pause_s=round(seconds, 2),
            endpoint=endpoint,
            others_per_s=round(self.others_rate, 1),
        )

    def waiting(self) -> float:
        """Seconds until the calls now held back may go (spacing, a spent window, a pause);
        0 when none is held back."""
        now = self._clock.now()
        held = [
            max(lane.last_start, lane.paused_until) for lane in self._all_lanes() if lane.queued
        ]
        return max((max(0.0, t - now) for t in held), default=0.0)

    def seconds_for(self, requests: Mapping[str, int]) -> float | None:
        """How long these calls (per endpoint) take at the budget last seen, as this class
        paces them; None when nothing is known. Under per-endpoint budgets the endpoints go
        side by side, and one not called yet is taken to have a whole window like the last
        one reported."""
        total = sum(requests.values())
        floor = total * self._floor
        now = self._clock.time()
        if self.scope == "shared":
            window = self._shared.window
            if window is None:
                return floor if self._floor else None
            return max(floor, window_seconds(window, total, now))
        latest = self._latest
        assert latest is not None  # the scope is read from answers with windows
        fresh = Window(latest.limit, latest.limit, latest.reset)
        slowest = max(
            (window_seconds(self._known(e) or fresh, n, now) for e, n in requests.items()),
            default=0.0,
        )
        return max(floor, slowest)

    def _known(self, endpoint: str) -> Window | None:
        lane = self._lanes.get(endpoint)
        if lane is not None and lane.window is not None:
            return lane.window
        return self._reading.last_window(endpoint)
