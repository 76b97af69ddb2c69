"""The one retry policy (bulkimport.procore.retry), on a clock the test moves: attempts and time
are capped, Procore's own waits are not failed attempts, and each failure is worth what its
type says."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkimport.errors import (
    AuthenticationError,
    FileChanged,
    PolicyExpired,
    ProcoreRejected,
    ProcoreUnavailable,
    RateLimited,
    RetriesExhausted,
    StorageUnavailable,
    Throttled,
    TicketsExpired,
    TokenRefused,
)
from bulkimport.procore.retry import (
    MAX_HOLDS,
    POST_ATTEMPTS,
    Retrier,
    RetryPolicy,
    procore_gave_up,
    procore_verdict,
    storage_gave_up,
    storage_retrier,
    storage_verdict,
)
from bulkimport.procore.storage import post_seconds
from bulkimport.settings import parse_settings

from .fake_clock import FakeClock

pytestmark = pytest.mark.anyio

AREAS = "GET /rest/v1.1/projects/{id}/drawing_areas"


def unavailable(retry_after: float | None = None) -> ProcoreUnavailable:
    return ProcoreUnavailable(AREAS, 502, "Bad Gateway", retry_after=retry_after)


def rate_limited(wait: float) -> RateLimited:
    return RateLimited(AREAS, 429, "Rate limit exceeded", retry_after=wait)


class Script:
    """An attempt that raises the scripted errors in turn, then answers; each attempt takes
    `takes` seconds of the clock."""

    def __init__(self, clock: FakeClock, *errors: Exception, takes: float = 0.0) -> None:
        self.clock = clock
        self.errors = list(errors)
        self.takes = takes
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        self.clock.advance(self.takes)
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


class Holds:
    """The budget's side of a hold: what every caller was asked to wait, and why."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.seen: list[tuple[float, str]] = []

    def __call__(self, seconds: float, reason: str, endpoint: str) -> None:
        self.seen.append((seconds, reason))
        if self.clock is not None:  # the next attempt waits this long in the budget
            self.clock.advance(seconds)


def procore(
    clock: FakeClock,
    hold: Holds | None = None,
    *,
    attempts: int = 3,
    seconds: float = 600.0,
    wait_base: float = 0.5,
) -> Retrier:
    policy = RetryPolicy(attempts, seconds, wait_base=wait_base)
    return Retrier(policy, procore_verdict, procore_gave_up, clock, "procore", hold or Holds())


def storage(clock: FakeClock) -> Retrier:
    policy = RetryPolicy(POST_ATTEMPTS, 600.0)
    return Retrier(policy, storage_verdict, storage_gave_up, clock, "upload")


class TestFailedAttempts:
    async def test_network_errors_and_5xx_stop_at_the_attempt_cap(self):
        """Three failed attempts allowed: the third failure gives up, after two full-jitter
        waits (each between 0 and 0.5 * 2**n s), slept on the clock."""
        clock = FakeClock()
        attempt = Script(clock, *[unavailable()] * 5)
        with pytest.raises(RetriesExhausted) as caught:
            await procore(clock)(attempt, {"endpoint": AREAS})
        assert attempt.calls == 3
        assert caught.value.endpoint == AREAS
        assert "gave up after 3 failed attempts and 0 rate limits" in caught.value.message
        assert "Bad Gateway" in caught.value.message
        assert len(clock.slept) == 2
        assert 0 <= clock.slept[0] <= 0.5
        assert 0 <= clock.slept[1] <= 1.0

    async def test_a_call_stops_at_the_time_cap(self):
        """Attempts left do not matter once `seconds` have passed since the first failure:
        attempts taking 4 s each fail at 4, 8, 12 and 16 s, and the fourth is the last one that
        started within 10 s of the first failure."""
        clock = FakeClock()
        attempt = Script(clock, *[unavailable()] * 10, takes=4.0)
        with pytest.raises(RetriesExhausted) as caught:
            await procore(clock, attempts=100, seconds=10.0, wait_base=0.0)(attempt, {})
        assert attempt.calls == 4
        assert "gave up after 4 failed attempts within 10 s" in caught.value.message

    async def test_time_waiting_a_turn_in_the_budget_is_not_the_calls(self):
        """Each attempt waits 400 s for its turn in the shared budget (a spent window, another
        worker's 429) before it fails: 1,200 s pass, yet the call has spent none of its 10 s
        on its own failing, so it runs out of attempts, not of time."""
        clock = FakeClock()
        queued = 0.0

        async def attempt() -> str:
            nonlocal queued
            clock.advance(400.0)
            queued += 400.0
            raise unavailable()

        retrying = procore(clock, attempts=3, seconds=10.0, wait_base=0.0)
        with pytest.raises(RetriesExhausted) as caught:
            await retrying(attempt, {}, lambda: queued)
        assert "gave up after 3 failed attempts and" in caught.value.message
        with pytest.raises(RetriesExhausted) as caught:  # the same, with the wait counted
            await retrying(attempt, {})
        assert "gave up after 2 failed attempts within 10 s" in caught.value.message

    async def test_a_large_files_post_has_time_for_each_attempt(self):
        """A POST may take its timeout (120 s plus the file at 256 KB/s), so the storage cap
        grows with the file: a 1 GB file whose attempts each time out after 4,216 s still gets
        every attempt."""
        clock = FakeClock()
        size = 1024**3
        attempt = Script(clock, *[StorageUnavailable("a.pdf", None, "Timeout", "")] * 9)
        attempt.takes = post_seconds(size)
        settings = parse_settings(
            {
                "procore": {
                    "api_base": "https://api.test",
                    "login_base": "https://login.test",
                    "company_id": 1,
                    "project_id": 2,
                },
                "source": {"root": "x"},
                "target": {"drawing_area": "A", "drawing_set": "S"},
            },
            Path("/"),
        ).procore
        with pytest.raises(StorageUnavailable):
            await storage_retrier(settings, clock, size)(attempt, {})
        assert attempt.calls == POST_ATTEMPTS

    async def test_retry_after_on_a_5xx_is_the_least_wait(self):
        clock = FakeClock()
        attempt = Script(clock, unavailable(retry_after=7.0))
        assert await procore(clock)(attempt, {}) == "answer"
        assert clock.slept[0] >= 7.0

    async def test_a_refusal_and_a_call_that_gave_up_are_final(self):
        """A 4xx is not retried; nor is a call that already spent its retries (the token
        request inside an attempt), which would otherwise multiply them."""
        clock = FakeClock()
        for error in (
            ProcoreRejected(AREAS, 422, "number: has already been taken"),
            RetriesExhausted("POST /oauth/token", None, "gave up after 3 failed attempts"),
            AuthenticationError("Procore refused the client credentials"),
        ):
            attempt = Script(clock, error)
            with pytest.raises(type(error)) as caught:
                await procore(clock)(attempt, {})
            assert caught.value is error
            assert attempt.calls == 1
        assert clock.slept == []


class TestProcoresWaits:
    async def test_429s_are_not_failed_attempts(self):
        """With a single attempt allowed, five 429s still end in the answer: each holds every
        caller (the budget) for Retry-After or until Reset, and this call sleeps nothing of its
        own."""
        clock = FakeClock()
        holds = Holds()
        attempt = Script(clock, *[rate_limited(30.0)] * 5)
        assert await procore(clock, holds, attempts=1)(attempt, {}) == "answer"
        assert attempt.calls == 6
        assert [reason for _, reason in holds.seen] == ["rate_limited"] * 5
        assert all(wait >= 30.0 for wait, _ in holds.seen)
        assert clock.slept == []

    async def test_503_throttles_are_not_failed_attempts(self):
        clock = FakeClock()
        holds = Holds()
        throttled = Throttled(AREAS, 503, "Service Unavailable", retry_after=2.0)
        attempt = Script(clock, throttled, throttled, unavailable(), throttled)
        assert await procore(clock, holds, attempts=2)(attempt, {}) == "answer"
        assert [reason for _, reason in holds.seen] == ["throttled"] * 3

    async def test_holds_are_capped_on_their_own(self):
        clock = FakeClock()
        attempt = Script(clock, *[rate_limited(1.0)] * (MAX_HOLDS + 5))
        with pytest.raises(RetriesExhausted) as caught:
            await procore(clock, attempts=1)(attempt, {})
        assert attempt.calls == MAX_HOLDS
        assert f"0 failed attempts and {MAX_HOLDS} rate limits" in caught.value.message

    async def test_holds_do_not_count_against_the_time_cap(self):
        """A minute held by a 429 between two failures leaves the 10 s cap untouched."""
        clock = FakeClock()
        attempt = Script(clock, unavailable(), rate_limited(60.0), unavailable())
        retrying = procore(clock, Holds(clock), seconds=10.0, wait_base=0.0)
        assert await retrying(attempt, {}) == "answer"
        assert attempt.calls == 4

    async def test_a_refused_token_is_renewed_once(self):
        """A 401 goes again at once (the attempt renews the token); a second gives up as
        refused credentials."""
        clock = FakeClock()
        refused = TokenRefused(AREAS, 401, "invalid_token")
        assert await procore(clock)(Script(clock, refused), {}) == "answer"
        attempt = Script(clock, refused, unavailable(), refused)
        with pytest.raises(AuthenticationError, match="access token was refused twice"):
            await procore(clock)(attempt, {})
        assert attempt.calls == 3


class TestStorage:
    async def test_expired_tickets_give_up_with_what_storage_said(self):
        """Each expiry goes again at once with a new ticket; when every attempt met one, the
        error says so, with the file and storage's own answer (nothing made up)."""
        clock = FakeClock()
        expired = PolicyExpired("plans/A-1.pdf", 403, "AccessDenied", "Policy expired.")
        attempt = Script(clock, *[expired] * 10)
        with pytest.raises(TicketsExpired) as caught:
            await storage(clock)(attempt, {"file": "plans/A-1.pdf"})
        assert attempt.calls == POST_ATTEMPTS
        assert (caught.value.path, caught.value.status, caught.value.code) == (
            "plans/A-1.pdf",
            403,
            "AccessDenied",
        )
        assert caught.value.tickets == POST_ATTEMPTS
        assert "Policy expired." in caught.value.message
        assert clock.slept == []

    async def test_network_errors_and_5xx_back_off_then_go_on(self):
        clock = FakeClock()
        down = StorageUnavailable("plans/A-1.pdf", 503, "SlowDown", "Please reduce your rate.")
        attempt = Script(clock, down, down)
        assert await storage(clock)(attempt, {}) == "answer"
        assert len(clock.slept) == 2

    async def test_a_changed_file_and_a_failed_ticket_request_are_final(self):
        """A file that changed under the POST is not sent again; a ticket renewal that failed
        was retried by the client already."""
        clock = FakeClock()
        for error in (FileChanged("plans/A-1.pdf"), unavailable()):
            attempt = Script(clock, error)
            with pytest.raises(type(error)):
                await storage(clock)(attempt, {})
            assert attempt.calls == 1
