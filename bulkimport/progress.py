"""What a run has done so far, as counters and as the figures a person is shown.

The stages update `RunStats` through the run's ledger (ledger.py); `figures` turns it into one
`Figures` value, which the live display draws on a terminal, the periodic `progress` event
carries elsewhere, and `bulkimport status` reads back from the run's record (the file beside a
SQLite journal, the runs table of a PostgreSQL one): the same numbers everywhere.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio
import structlog

from bulkimport import run_status
from bulkimport.clock import SYSTEM, Clock
from bulkimport.errors import JournalError
from bulkimport.journal.runs import RunIdentity, run_log
from bulkimport.journal.store import Journal
from bulkimport.journal_location import JournalLocation
from bulkimport.models import FileState, Plan
from bulkimport.procore.pacing import RateBudget

log = structlog.get_logger("bulkimport.progress")

# Where a file waits while the run works on it, as the journal says; the settled states come
# from the run's own counters, so files an earlier run settled are not counted again.
IN_FLIGHT = (
    FileState.PLANNED,
    FileState.UPLOADING,
    FileState.UPLOADED,
    FileState.BATCHED,
    FileState.IMPORTED,
)
SETTLED = (FileState.VERIFIED, FileState.NEEDS_REVIEW, FileState.FAILED, FileState.SKIPPED)
# Plans that send something: a file to upload, or an upload to batch.
SENDING = (Plan.NEW, Plan.CHANGED, Plan.RETRY, Plan.RESUME)
TICK = 0.5  # seconds between redraws: often enough to look alive, rarely enough to cost nothing

Watcher = Callable[["RunStats"], Coroutine[Any, Any, None]]


@dataclass(slots=True)
class ProjectTally:
    """One project's share of a run over several, for the display's line per project."""

    project_id: int
    folder: str
    files: int = 0  # in its folder
    unchanged: int = 0
    sent: int = 0  # in a drawing upload Procore made
    read_back: int = 0  # of those, settled since (found, in review, missing, failed)
    settled: Counter[FileState] = field(default_factory=Counter)

    def line(self) -> ProjectLine:
        settled = sum(self.settled.values())
        waiting = max(0, self.sent - self.read_back)
        handled = min(self.files, self.unchanged + settled + waiting)
        not_arrived = self.settled[FileState.FAILED] + self.settled[FileState.NEEDS_REVIEW]
        return ProjectLine(self.project_id, self.folder, self.files, handled, not_arrived)


@dataclass(frozen=True, slots=True)
class ProjectLine:
    """A project's figures at one moment: what the display and `bulkimport status` show."""

    project_id: int
    folder: str
    files: int
    handled: int
    not_arrived: int  # failed or left in Items to Review so far


@dataclass(slots=True)
class RunStats:
    """Counters the ledger keeps as the stages change state (and the pipeline's tallies of
    requests and drawings); read by the progress display and the summary."""

    started: float = math.nan  # the clock's now() when the run began; unless given, at creation
    files: int = 0  # in the folder, counted by the first pass over the names
    planned: Counter[Plan] = field(default_factory=Counter)
    to_upload: int = 0
    bytes_to_upload: int = 0
    uploaded: int = 0
    bytes_uploaded: int = 0
    imported: int = 0
    verified: int = 0  # read back from Procore's drawing log
    needs_review: int = 0  # direct imports Procore left in Items to Review
    readback_requests: int = 0  # list calls the read-back made
    failed: int = 0
    skipped: int = 0  # on purpose, with a note: duplicates, revisions Procore already has
    batches: int = 0
    rerequested: Counter[str] = field(default_factory=Counter)
    drawings_created: int = 0
    rate_limited: int = 0  # 429s met
    throttled: int = 0  # 503s with Retry-After (Procore's heavy-load throttle) met
    split_calls: int = 0  # Create Drawing Upload calls spent isolating refused entries
    budget_wait: float = 0.0  # seconds spent waiting for the request budget
    scanning: bool = True
    # Set by the pipeline, so the ETA can count the requests still to make against the budget.
    budget: RateBudget | None = None
    requests: dict[str, int] = field(default_factory=dict)
    # A run over several projects: each one's share, by project id (empty for one project).
    projects: dict[int, ProjectTally] = field(default_factory=dict)
    clock: Clock = field(default=SYSTEM, repr=False, compare=False)  # what `elapsed` reads

    def __post_init__(self) -> None:
        if math.isnan(self.started):
            self.started = self.clock.now()

    @property
    def elapsed(self) -> float:
        return self.clock.now() - self.started

    @property
    def mb_per_s(self) -> float:
        return self.bytes_uploaded / 1e6 / self.elapsed if self.elapsed > 0 else 0.0

    def expected_sends(self) -> float:
        """Files this run will send, all told: those decided so far, and the share of the
        files the planner has not reached yet that the decided ones suggest."""
        decided = sum(self.planned.values())
        sending = sum(self.planned[p] for p in SENDING)
        undecided = max(0, self.files - decided)
        share = sending / decided if decided else 1.0
        return max(float(self.to_upload), sending + undecided * share)

    def eta(self) -> float | None:
        """Seconds left: the later of the byte rate so far and the time the requests still
        to make take at the current budget. A number once the first file is uploaded."""
        if self.uploaded == 0 or self.bytes_uploaded == 0:
            return None
        expected = self.expected_sends()
        left = max(0.0, expected - self.uploaded)
        average = self.bytes_uploaded / self.uploaded
        # Bytes of the files already handed to the uploaders are known; the rest are guessed.
        bytes_left = float(self.bytes_to_upload - self.bytes_uploaded)
        bytes_left += max(0.0, expected - self.to_upload) * average
        by_bytes = max(0.0, bytes_left / (self.bytes_uploaded / self.elapsed))
        if self.budget is None:
            return by_bytes
        # Each endpoint's calls so far per uploaded file, for the files left: per endpoint,
        # since under per-endpoint budgets the endpoints go side by side.
        to_make = {e: round(left * n / self.uploaded) for e, n in self.requests.items()}
        by_requests = self.budget.seconds_for(to_make)
        return max(by_bytes, by_requests or 0.0)


@dataclass(frozen=True, slots=True)
class Budget:
    """The request budget as Procore last reported it, and what waiting on it has cost."""

    limit: int | None  # None until an answer carries the rate-limit headers
    remaining: int | None
    resets_in: float | None  # seconds
    waiting: float  # seconds until calls held back by the budget may go; 0 when none is
    waited: float  # seconds spent waiting so far
    scope: str = "shared"  # "endpoint" once the headers show a budget per endpoint


@dataclass(frozen=True, slots=True)
class Figures:
    """One moment of a run, as shown on the display, in the `progress` event and by `status`."""

    files: int  # in the folder
    not_planned: int  # the planner has not reached them yet
    unchanged: int
    states: Mapping[str, int]  # this run's files by journal state (FileState values)
    to_upload: int
    uploaded: int
    megabytes: float
    mb_per_s: float
    requests: int
    rerequested: int  # tickets asked for again
    rate_limited: int  # 429s
    throttled: int  # 503s with Retry-After
    budget: Budget
    elapsed: float
    eta: float | None
    projects: tuple[ProjectLine, ...] = ()  # a run over several projects: a line for each

    @property
    def done(self) -> int:
        """Files this run has finished with, whatever the outcome."""
        settled = self.unchanged + sum(self.states.get(s, 0) for s in SETTLED)
        return min(self.files, settled) if self.files else settled

    @property
    def handled(self) -> int:
        """Files done, or sent and waiting for the read-back: it runs once a wave's uploads are
        processed, so counting only settled files would hold the bar at 0 for most of a run."""
        handled = self.done + self.states.get(FileState.IMPORTED.value, 0)
        return min(self.files, handled) if self.files else handled

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Figures:
        values = dict(raw)
        values["budget"] = Budget(**values["budget"])
        values["projects"] = tuple(ProjectLine(**p) for p in values.get("projects", ()))
        return cls(**values)

    def event(self) -> dict[str, Any]:
        """The `progress` event's fields."""
        budget = self.budget
        return {
            "files": self.files,
            "handled": self.handled,
            "done": self.done,
            "not_planned": self.not_planned,
            "unchanged": self.unchanged,
            "states": dict(self.states),
            "to_upload": self.to_upload,
            "uploaded": self.uploaded,
            "megabytes_uploaded": round(self.megabytes, 3),
            "mb_per_s": round(self.mb_per_s, 2),
            "requests": self.requests,
            "tickets_rerequested": self.rerequested,
            "rate_limited": self.rate_limited,
            "throttled": self.throttled,
            "budget_scope": budget.scope,
            "budget_limit": budget.limit,
            "budget_remaining": budget.remaining,
            "budget_resets_in_s": None if budget.resets_in is None else round(budget.resets_in),
            "waiting_s": round(budget.waiting, 1),
            "budget_wait_s": round(budget.waited, 1),
            "elapsed_s": round(self.elapsed, 1),
            "eta_s": None if self.eta is None else round(self.eta),
        } | ({"projects": [asdict(p) for p in self.projects]} if self.projects else {})


def figures(stats: RunStats, journal_states: Mapping[str, int]) -> Figures:
    """The run now: files in flight as the journal counts them, settled ones as the run does."""
    states = {s.value: int(journal_states.get(s.value, 0)) for s in IN_FLIGHT}
    states |= {
        FileState.VERIFIED.value: stats.verified,
        FileState.NEEDS_REVIEW.value: stats.needs_review,
        FileState.FAILED.value: stats.failed,
        FileState.SKIPPED.value: stats.skipped,
    }
    budget = stats.budget
    window = budget.window if budget is not None else None
    return Figures(
        files=stats.files,
        not_planned=max(0, stats.files - sum(stats.planned.values())),
        unchanged=stats.planned[Plan.UNCHANGED],
        states=states,
        to_upload=stats.to_upload,
        uploaded=stats.uploaded,
        megabytes=stats.bytes_uploaded / 1e6,
        mb_per_s=stats.mb_per_s,
        requests=sum(stats.requests.values()),
        rerequested=sum(stats.rerequested.values()),
        rate_limited=budget.rate_limited if budget is not None else stats.rate_limited,
        throttled=budget.throttled if budget is not None else stats.throttled,
        budget=Budget(
            limit=window.limit if window else None,
            remaining=window.remaining if window else None,
            resets_in=max(0.0, window.reset - stats.clock.time()) if window else None,
            waiting=budget.waiting() if budget is not None else 0.0,
            waited=budget.waited if budget is not None else stats.budget_wait,
            scope=budget.scope if budget is not None else "shared",
        ),
        elapsed=stats.elapsed,
        eta=stats.eta(),
        projects=tuple(tally.line() for tally in stats.projects.values()),
    )


async def follow(
    stats: RunStats,
    *,
    journal: JournalLocation,
    projects: Sequence[int],
    interval: float,
    show: Callable[[Figures], None] | None = None,
    events: bool = True,
    me: RunIdentity | None = None,
) -> None:
    """Runs until cancelled, beside a run: every tick the figures go to `show` (the live
    display) and to the run's record `bulkimport status` reads (the file beside a SQLite
    journal, `me`'s row of a PostgreSQL journal's runs table); without a display, a `progress`
    event every `interval` seconds (unless `events` is off). The files in flight are those of
    the run's `projects` in the journal."""
    started_at = time.time() - stats.elapsed
    record_to = run_log(journal, me or RunIdentity.this_process(projects))
    # What is shown must never stop the run: without a reader the stages show as 0, and a
    # record that cannot be written is reported once.
    try:
        # Read-only: it never blocks the run's writes.
        reader: Journal | None = await Journal.open(journal, readonly=True, projects=projects)
    except JournalError as exc:
        log.warning("progress.journal_unreadable", error=str(exc))
        reader = None
    published = True
    next_event = anyio.current_time() + interval
    try:
        while True:
            now = figures(stats, await _in_flight(reader, projects))
            if show is not None:
                show(now)
            elif events and anyio.current_time() >= next_event:
                log.info("progress", **now.event())
                next_event += interval
            # After the display: a slow database delays the record, not what is shown.
            record = run_status.RunRecord(os.getpid(), started_at, time.time(), now.as_dict())
            try:
                await anyio.to_thread.run_sync(record_to.write, record)
            except (OSError, JournalError) as exc:
                if published:
                    log.warning("status.unwritten", error=str(exc))
                published = False
            await anyio.sleep(TICK)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(record_to.close)
            if reader is not None:
                await reader.close()


async def _in_flight(reader: Journal | None, projects: Sequence[int]) -> Counter[str]:
    """The run's projects' files by journal state (nothing without a reader)."""
    counts: Counter[str] = Counter()
    if reader is not None:
        for project in projects:
            counts.update(await reader.for_project(project).counts())
    return counts


async def show_progress(stats: RunStats, interval: float) -> None:
    """A `progress` event every `interval` seconds (the library's default, where no journal
    file is published); runs until cancelled."""
    while True:
        await anyio.sleep(interval)
        log.info("progress", **figures(stats, {}).event())
