"""What `bulkimport status` shows: the journal's counts, and the running run's figures (pid,
start, rate, ETA) or, with no run going, the last run's outcome; `--watch` follows a run.

The journal is opened read-only, over every project it holds (with several, each one's counts
too), so a status, watched or not, never holds the run's lock or blocks its writes. The figures
only a run knows come from its record: beside a SQLite journal, the file the run on this
machine publishes, going while its pid is alive and named in the journal's lock; in a
PostgreSQL journal, the runs table (journal/runs.py), read the same from any machine, with a
line for every run or worker going (written in the last few seconds, by the database's clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import anyio

from bulkimport import run_status
from bulkimport.errors import JournalError
from bulkimport.estimate import duration
from bulkimport.journal.store import Journal
from bulkimport.journal_location import JournalLocation, JournalUrl, beside
from bulkimport.progress import IN_FLIGHT, Figures
from bulkimport.run_status import RunRecord

WATCH_EVERY = 1.0  # seconds between looks at the journal while watching


@dataclass(frozen=True, slots=True)
class Snapshot:
    journal: JournalLocation
    counts: dict[str, int]  # every file of the journal, by state
    record: RunRecord | None  # the run going (the first started, of several), or the last one
    running: bool
    # A journal of several projects: each one's files by state (none when it holds one).
    by_project: dict[int, dict[str, int]] = field(default_factory=dict)
    # The other runs or workers going beside `record` (a PostgreSQL journal's).
    also_running: tuple[RunRecord, ...] = ()

    def figures(self) -> Figures | None:
        """The run's figures; while it runs, with the files in flight as the journal has them
        now (the run's record may be a tick older)."""
        return None if self.record is None else self.figures_of(self.record)

    def figures_of(self, record: RunRecord) -> Figures | None:
        try:
            found = Figures.from_dict(record.figures)
        except (KeyError, TypeError):
            return None  # written by another version
        if not self.running:
            return found
        in_flight = {s.value: self.counts.get(s.value, 0) for s in IN_FLIGHT}
        return replace(
            found,
            states={**found.states, **in_flight},
            elapsed=time.time() - record.started_at,
        )


async def snapshot(journal: JournalLocation, reader: Journal) -> Snapshot:
    """`reader` is over every project of the journal."""
    counts = await reader.counts()
    projects = await reader.projects()
    by_project = {}
    if len(projects) > 1:
        by_project = {p: await reader.for_project(p).counts() for p in projects}
    if isinstance(journal, JournalUrl):
        runs = await reader.run_records()
        if runs.live:
            first, *others = runs.live
            return Snapshot(journal, counts, first, True, by_project, tuple(others))
        return Snapshot(journal, counts, runs.last, False, by_project)
    record = await anyio.to_thread.run_sync(run_status.read, beside(journal))
    running = record is not None and run_status.is_running(record, beside(journal))
    return Snapshot(journal, counts, record, running, by_project)


async def read(journal: JournalLocation) -> tuple[Snapshot, list[tuple[str, str]]]:
    """The journal's counts and the run's figures, and every failed file with its reason."""
    reader = await Journal.open_if_present(journal)
    if reader is None:  # no file, or a database without the tables
        raise JournalError(f"no journal at {journal}: nothing has run yet")
    try:
        failed = [
            (r.rel, r.error or "")
            async for rows in reader.stream()
            for r in rows
            if r.state == "failed"
        ]
        return await snapshot(journal, reader), failed
    finally:
        await reader.close()


async def watch(journal: JournalLocation, show: Callable[[Snapshot], None]) -> Snapshot:
    """Show the running run every second until it ends; returns the first snapshot without it."""
    reader = await Journal.open(journal, readonly=True)
    try:
        while True:
            now = await snapshot(journal, reader)
            if not now.running:
                return now
            show(now)
            await anyio.sleep(WATCH_EVERY)
    finally:
        with anyio.CancelScope(shield=True):
            await reader.close()


def when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def progress_words(figures: Figures) -> str:
    states = figures.states
    settled = ", ".join(
        f"{name} {states.get(name, 0):,}"
        for name in ("verified", "needs_review", "failed", "skipped")
        if states.get(name, 0)
    )
    eta = "--" if figures.eta is None else duration(figures.eta)
    return (
        f"{figures.handled:,} of {figures.files:,} files handled"
        + (f" ({settled})" if settled else "")
        + f", {figures.requests:,} requests, {figures.mb_per_s:.1f} MB/s, ETA {eta}"
    )


def run_lines(now: Snapshot) -> list[str]:
    """A line about each run going, or one about the last run."""
    return [run_line(now), *(_line(now, other) for other in now.also_running)]


def run_line(now: Snapshot) -> str:
    """One line about the running run, or the last one."""
    if now.record is None:
        where = "in" if isinstance(now.journal, JournalUrl) else "beside"
        return f"no run has recorded its progress {where} this journal yet"
    return _line(now, now.record)


def _line(now: Snapshot, record: RunRecord) -> str:
    figures = now.figures_of(record)
    words = progress_words(figures) if figures is not None else "figures unreadable"
    host = "" if record.host is None else f" on {record.host}"
    begun = f"pid {record.pid}{host}, started {when(record.started_at)}"
    if now.running:
        return f"running: {begun}, {duration(time.time() - record.started_at)} so far: {words}"
    if record.finished_at is not None:
        return (
            f"last run: {begun}, ended {when(record.finished_at)} after "
            f"{duration(record.finished_at - record.started_at)}, exit status "
            f"{record.exit_status}: {words}"
        )
    return (
        f"last run: {begun}, ended without a final record (killed?) after "
        f"{duration(record.updated_at - record.started_at)}: {words}; "
        "the journal keeps the state: run again to resume"
    )
