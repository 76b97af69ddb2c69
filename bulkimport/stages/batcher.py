"""Uploaded files are grouped into `drawing_log_imports` batches, one open batch per target (area,
set, review or not). A batch leaves:

- when it is full (`size` files);
- at the end of input, every open batch at once (a drain after a first Ctrl+C ends the input
  too, so nothing uploaded is held back from the journal's `batched` state by a wait);
- when its first file has waited `max_wait` seconds (the soft age), unless the request budget
  has held calls back within the last `lookback` seconds;
- when its first file has waited `max_hold` seconds (the hard age: an hour, or `max_wait` if
  that is longer), whatever the budget.

Why the budget matters: while Procore's request budget, not the uploads, is the bottleneck,
files reach the batcher at the budget's pace. A batch sent half-empty at its soft age does not
bring anything forward: the files behind it come no sooner, and each extra Create Drawing
Upload is a request taken from them. So while the budget binds, a target's files go in
ceil(files / size) calls. The hard age protects Procore's deadline: an upload not attached
within a week is deleted. The planner resumes only uploads younger than `attach_deadline` (six
days), so an hour in a batch stays well inside the day kept spare; at most one call an hour per
target is spent on it.

The signal is `budget_binds()` (in a run, `RateBudget.waiting() > 0`: callers are asleep
waiting for their turn). It is asked at every file received and every wake, and the last time
it said yes is kept: the budget binds in bursts (the first nine tenths of a window go at full
speed, then the rest is spread until Reset, pacing.py), so a look at one instant can catch the
start of a window and see it free. `lookback` is therefore at least Procore's ten-second spike
window. A batch past its soft age while the budget binds is looked at again when the last "yes"
is `lookback` old, and the budget is asked again then: one wake per `lookback` while it is held,
never a busy loop, and never longer than the hard age.

Ages run from a batch's first file, not from the last receive, so a slow trickle of files
cannot hold a batch open for ever. Time is the `clock`'s (bulkimport/clock.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from bulkimport.clock import SYSTEM, DeadlineClock, receive_until
from bulkimport.models import Group, Target, Uploaded

log = structlog.get_logger("bulkimport.batch")

MAX_HOLD = 3600.0  # seconds: the hard age, well inside the day `attach_deadline` keeps spare
SPIKE_WINDOW = 10.0  # seconds: Procore's short window, the shortest cycle of bursts and holds


def never() -> bool:
    """No budget to watch: the soft age alone decides, as for a run without rate limits."""
    return False


@dataclass(frozen=True, slots=True)
class AgeRule:
    """When an open batch is due to leave by age, given when it opened and when the budget was
    last seen holding calls back (-inf: never)."""

    max_wait: float
    max_hold: float = MAX_HOLD

    @property
    def lookback(self) -> float:
        """How long a "the budget binds" answer holds good: a whole spike window at least, so
        the free start of the next window does not count as the budget letting go."""
        return max(self.max_wait, SPIKE_WINDOW)

    def hard(self, opened: float) -> float:
        return opened + max(self.max_hold, self.max_wait)

    def due(self, opened: float, last_bind: float) -> float:
        soft = opened + self.max_wait
        return min(self.hard(opened), max(soft, last_bind + self.lookback))


@dataclass(slots=True)
class OpenBatch:
    """A target's files not yet sent, since `opened` on the clock."""

    opened: float
    items: list[Uploaded] = field(default_factory=list)
    held: bool = False  # its soft age passed while the budget bound (logged once)


async def batch_uploads(
    uploads: ObjectReceiveStream[Uploaded],
    batches: ObjectSendStream[Group],
    size: int,
    max_wait: float,
    clock: DeadlineClock = SYSTEM,
    budget_binds: Callable[[], bool] = never,
    max_hold: float = MAX_HOLD,
) -> None:
    rule = AgeRule(max_wait, max_hold)
    async with uploads, batches:
        pending: dict[Target, OpenBatch] = {}
        last_bind = -math.inf
        while True:
            due = min((rule.due(b.opened, last_bind) for b in pending.values()), default=math.inf)
            try:
                item = await receive_until(uploads, clock, due)
            except anyio.EndOfStream:
                break
            now = clock.now()
            if budget_binds():
                last_bind = now
            if item is not None:
                batch = pending.get(item.target)
                if batch is None:
                    batch = pending[item.target] = OpenBatch(now)
                batch.items.append(item)
                if len(batch.items) < size:
                    continue
            await _flush_due(pending, batches, size, rule, now, last_bind)
        for target, batch in pending.items():
            await _flush(batches, target, batch, "end")


async def _flush_due(
    pending: dict[Target, OpenBatch],
    batches: ObjectSendStream[Group],
    size: int,
    rule: AgeRule,
    now: float,
    last_bind: float,
) -> None:
    """Send the batches that are full or due; note those the budget holds past their soft age.
    Every batch left open is due after `now`, so the next wait is never zero."""
    for target, batch in list(pending.items()):
        if len(batch.items) >= size:
            reason = "full"
        elif rule.hard(batch.opened) <= now:
            reason = "hard_age"
        elif rule.due(batch.opened, last_bind) <= now:
            reason = "age"
        else:
            if not batch.held and batch.opened + rule.max_wait <= now:
                batch.held = True
                log.debug(
                    "batch.held",
                    area_id=target.area_id,
                    set_id=target.set_id,
                    files=len(batch.items),
                    waited_s=round(now - batch.opened, 2),
                )
            continue
        del pending[target]
        await _flush(batches, target, batch, reason)


async def _flush(
    batches: ObjectSendStream[Group], target: Target, batch: OpenBatch, reason: str
) -> None:
    log.debug(
        "batch.flushed",
        area_id=target.area_id,
        set_id=target.set_id,
        files=len(batch.items),
        reason=reason,
    )
    await batches.send(Group(target, tuple(batch.items)))
