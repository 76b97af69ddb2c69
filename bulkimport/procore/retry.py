"""One retry policy for every outbound call: Procore's API and the storage POST.

What a failure is worth is read from its type alone (the boundary has already turned aiohttp's
exceptions and HTTP answers into `bulkimport.errors`):

- the network, a timeout, a 5xx (`ProcoreUnavailable`, `StorageUnavailable`): a failed attempt,
  then a wait drawn with full jitter, at least the answer's Retry-After;
- a 429 (`RateLimited`) or a 503 with Retry-After (`Throttled`): every caller of the run waits
  as long as Procore says (the request budget pauses), and it is not a failed attempt; a call
  meets at most `RetryPolicy.holds` of them;
- a 401 on a call with a token (`TokenRefused`): the token is renewed once, at once;
- storage's 403 "Policy expired" (`PolicyExpired`): a failed attempt that goes again at once,
  with a new ticket;
- anything else is final.

A call is capped in failed attempts and in time: no attempt starts later than
`RetryPolicy.seconds` after the call's first failure, not counting the waits Procore asked for.

stamina, the reference for this, does not fit the budget rules: it counts every retried
exception as an attempt (a 429 or a throttle must not be one), each caller sleeps its own
backoff (a 429 holds every worker of the run, through the shared budget), its jitter is added to
the exponential wait rather than drawn over it (full jitter), and it sleeps and measures on the
system's clock, which a test cannot move.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

import structlog

from bulkimport.clock import Clock
from bulkimport.errors import (
    AuthenticationError,
    PolicyExpired,
    ProcoreError,
    ProcoreUnavailable,
    RateLimited,
    RetriesExhausted,
    StorageUnavailable,
    Throttled,
    TicketsExpired,
    TokenRefused,
)
from bulkimport.procore.storage import post_seconds
from bulkimport.settings import ProcoreSettings

log = structlog.get_logger("bulkimport.procore.retry")

T = TypeVar("T")

MAX_HOLDS = 20  # 429s and throttles one call may meet before the run gives up on it
POST_ATTEMPTS = 4  # failed attempts of one storage POST (expired tickets included)


class Step(Enum):
    FINAL = "final"  # raise it: another attempt cannot help
    BACK_OFF = "back_off"  # a failed attempt; wait with full jitter, at least `told`
    AGAIN = "again"  # a failed attempt; go again at once (what failed is replaced)
    HOLD = "hold"  # not a failed attempt: every caller waits `told`
    RENEW = "renew"  # not a failed attempt: the credential is renewed, once per call


@dataclass(frozen=True, slots=True)
class Verdict:
    step: Step
    told: float | None = None  # seconds the answer asked for (Retry-After, Reset)
    reason: str = ""  # a hold's: "rate_limited" or "throttled"


FINAL = Verdict(Step.FINAL)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int  # failed attempts before the call gives up
    seconds: float  # no attempt starts later than this after the first failure
    holds: int = MAX_HOLDS
    wait_base: float = 0.5
    wait_max: float = 30.0

    def backoff(self, n: int) -> float:
        """Full jitter: a wait drawn between 0 and wait_base * 2**n, at most wait_max."""
        return random.uniform(0, min(self.wait_max, self.wait_base * 2**n))


@dataclass(slots=True)
class Tally:
    """One call's retries so far."""

    failures: int = 0
    holds: int = 0
    renewed: bool = False
    first_failure: float | None = None  # monotonic
    held: float = 0.0  # seconds of holds since the first failure: Procore's, not ours
    out_of: str = ""  # what ran out: "attempts", "time", "holds" or "renewals"

    def record(self, verdict: Verdict, policy: RetryPolicy, now: float) -> float:
        """Count one failed try (never a final one); the seconds to wait before the next."""
        step = verdict.step
        if step is Step.HOLD:
            self.holds += 1
            wait = max(verdict.told or 0.0, policy.backoff(self.holds))
            if self.first_failure is not None:
                self.held += wait
            return wait
        if step is Step.RENEW:
            if self.renewed:
                self.out_of = "renewals"
            self.renewed = True
            return 0.0
        wait = (
            0.0 if step is Step.AGAIN else max(verdict.told or 0.0, policy.backoff(self.failures))
        )
        self.failures += 1
        if self.first_failure is None:
            self.first_failure = now
        return wait

    def exhausted(self, policy: RetryPolicy, now: float, wait: float, queued: float) -> bool:
        """Whether the call gives up rather than wait `wait` and go again. `queued`: seconds
        the call has waited its turn in the shared budget since its first failure, which are
        Procore's pace, not the call's failing."""
        if self.out_of:
            return True
        if self.failures >= policy.attempts:
            self.out_of = "attempts"
        elif self.holds >= policy.holds:
            self.out_of = "holds"
        elif (
            self.first_failure is not None
            and now - self.first_failure - self.held - queued + wait > policy.seconds
        ):
            self.out_of = "time"
        return bool(self.out_of)


@dataclass(frozen=True, slots=True)
class Retrier:
    """Runs a call's attempts under the policy; `judge` tells what each failure is worth and
    `give_up` what the last one becomes when the retries are spent."""

    policy: RetryPolicy
    judge: Callable[[Exception], Verdict]
    give_up: Callable[[Exception, Tally, RetryPolicy], Exception]
    clock: Clock
    event: str  # log events: "<event>.retry", "<event>.rate_limited", "<event>.throttled"
    # Holds every caller of the budget the call's endpoint draws on; else this one sleeps.
    hold: Callable[[float, str, str], None] | None = None

    async def __call__(
        self,
        attempt: Callable[[], Awaitable[T]],
        context: Mapping[str, object],
        queued: Callable[[], float] = lambda: 0.0,
    ) -> T:
        """`queued`: the seconds the call's attempts have waited in the shared budget so far."""
        tally = Tally()
        queued_before = 0.0  # what `queued` said at the first failure
        while True:
            try:
                return await attempt()
            except Exception as exc:
                verdict = self.judge(exc)
                if verdict.step is Step.FINAL:
                    raise
                now = self.clock.now()
                if tally.first_failure is None:
                    queued_before = queued()
                wait = tally.record(verdict, self.policy, now)
                if verdict.step is Step.HOLD and self.hold is not None:
                    # Procore's word holds every caller of the budget, not only this call.
                    self.hold(wait, verdict.reason, str(context.get("endpoint", "")))
                    wait = 0.0  # this call's next turn waits in the budget with the others
                if tally.exhausted(self.policy, now, wait, queued() - queued_before):
                    final = self.give_up(exc, tally, self.policy)
                    if final is exc:
                        raise
                    raise final from exc
                self._log(exc, verdict, wait, context)
            if wait > 0:
                await self.clock.sleep(wait)

    def _log(
        self, exc: Exception, verdict: Verdict, wait: float, context: Mapping[str, object]
    ) -> None:
        if verdict.step is Step.HOLD:
            told = round(verdict.told or 0.0, 2)
            log.warning(f"{self.event}.{verdict.reason}", **context, wait=told)
        elif verdict.step is Step.BACK_OFF:
            status = getattr(exc, "status", None)
            log.warning(
                f"{self.event}.retry", **context, error=str(exc), status=status, wait=round(wait, 2)
            )


# Procore's API -------------------------------------------------------------------------------


def procore_verdict(exc: Exception) -> Verdict:
    """A call that gave up already (a token request inside this call) is final: its retries
    are spent, and another round would multiply them."""
    if isinstance(exc, RetriesExhausted):
        return FINAL
    if isinstance(exc, TokenRefused):
        return Verdict(Step.RENEW)
    if isinstance(exc, RateLimited):
        return Verdict(Step.HOLD, exc.retry_after, "rate_limited")
    if isinstance(exc, Throttled):
        return Verdict(Step.HOLD, exc.retry_after, "throttled")
    if isinstance(exc, ProcoreUnavailable):
        return Verdict(Step.BACK_OFF, exc.retry_after)
    return FINAL


def procore_gave_up(exc: Exception, tally: Tally, policy: RetryPolicy) -> Exception:
    if isinstance(exc, TokenRefused):
        return AuthenticationError(f"{exc.endpoint}: the access token was refused twice")
    assert isinstance(exc, ProcoreError)  # only Procore's errors are retried here
    within = f" within {policy.seconds:g} s" if tally.out_of == "time" else ""
    return RetriesExhausted(
        exc.endpoint,
        None,
        f"gave up after {tally.failures} failed attempts{within} and {tally.holds} rate limits "
        f"or throttles: {exc.message}",
    )


def procore_retrier(
    settings: ProcoreSettings, clock: Clock, hold: Callable[[float, str, str], None]
) -> Retrier:
    policy = RetryPolicy(settings.max_attempts, settings.max_retry_seconds)
    return Retrier(policy, procore_verdict, procore_gave_up, clock, "procore", hold)


# The storage POST ----------------------------------------------------------------------------


def storage_verdict(exc: Exception) -> Verdict:
    """A failed ticket renewal (a ProcoreError) is final here: the client retried it already."""
    if isinstance(exc, PolicyExpired):
        return Verdict(Step.AGAIN)
    if isinstance(exc, StorageUnavailable):
        return Verdict(Step.BACK_OFF)
    return FINAL


def storage_gave_up(exc: Exception, tally: Tally, policy: RetryPolicy) -> Exception:
    if isinstance(exc, PolicyExpired):
        return TicketsExpired(exc, tally.failures)
    return exc


def storage_retrier(settings: ProcoreSettings, clock: Clock, size: int) -> Retrier:
    """The policy for one file's POST: a large file's attempts take long, so each attempt's
    timeout is added to the time cap, or a slow 2 GB POST would never be tried twice."""
    seconds = settings.max_retry_seconds + POST_ATTEMPTS * post_seconds(size)
    policy = RetryPolicy(POST_ATTEMPTS, seconds)
    return Retrier(policy, storage_verdict, storage_gave_up, clock, "upload")
