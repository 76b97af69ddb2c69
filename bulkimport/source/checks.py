"""The PDF checks, off the scan's path, and the count of source files a run opens.

Scanning and planning only walk, stat and decide (`planner.py`). A run checks each file in the
upload stage, just before its Create Upload and before any Create Drawing for it, so the checks
overlap with the network rather than hold up the scan: a file that fails still fails before any
request is made for it, with the same reason, and counts as invalid. A dry run checks every
file it would send in a few worker processes instead, since pypdf is CPU-bound and holds the
GIL, and the dry run has no network to overlap with.

`files_opened` counts the source files whose bytes a run read before sending them: the check,
or the sha256 that tells a touched file from a changed one (a file read for both counts once).
The upload's own read of the bytes it sends is not counted: every file sent was checked first.
A re-run over an unchanged archive opens none.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import anyio

from bulkimport.errors import FileRejected
from bulkimport.models import DrawingFile, Plan, Plans
from bulkimport.progress import RunStats
from bulkimport.settings import SourceSettings
from bulkimport.source.scan import check_file, check_files

# pypdf holds the GIL, so more threads would only queue for it; a few still let slow opens
# (a network share costs a round trip per open) overlap.
CHECK_THREADS = 4
# A dry run's worker processes: one per core, and no more, as the walk needs one too.
MAX_CHECK_PROCESSES = 4
POOL_CHUNK = 250  # files per job sent to a worker process


@dataclass(slots=True)
class Checks:
    """A run's PDF checks in the upload stage, and what it opened."""

    source: SourceSettings
    stats: RunStats
    plans: Plans  # the run's decision per file: a file that fails becomes invalid
    opened: int = 0
    # Files read for their sha256 and on their way to be checked: counted already.
    _hashed: set[str] = field(default_factory=set)
    _limiter: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(CHECK_THREADS)
    )

    def opened_for_sha256(self, file: DrawingFile | None) -> None:
        """The planner read a file to compare its sha256; `file` is it when it goes on to be
        checked (its bytes changed). The set stays small: a file leaves it at its check, and
        the stream to the upload stage holds few."""
        self.opened += 1
        if file is not None:
            self._hashed.add(file.rel)

    async def check(self, file: DrawingFile) -> DrawingFile:
        """The file as it goes (a multi-page PDF may go through review), or FileRejected;
        the caller fails the file with its reason, and no request is made for it."""
        if file.rel in self._hashed:
            self._hashed.discard(file.rel)
        else:
            self.opened += 1
        try:
            return await anyio.to_thread.run_sync(
                check_file, file, self.source, limiter=self._limiter
            )
        except FileRejected:
            earlier = self.plans.get(file.rel)
            if earlier is not None:
                self.stats.planned[earlier] -= 1
            self.stats.planned[Plan.INVALID] += 1
            self.plans[file.rel] = Plan.INVALID
            raise


def check_processes() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_CHECK_PROCESSES))


async def checked_in_pool(
    files: AsyncIterator[Sequence[DrawingFile]], source: SourceSettings
) -> AsyncIterator[list[DrawingFile | str]]:
    """Each batch of `files` checked as a run would check it: per file, the file as it would
    go, or the reason it will not be sent. Order is kept; a few batches are in flight at once,
    so the walk goes on while the worker processes check."""
    workers = check_processes()
    # spawn, not fork: the parent has threads (anyio's workers, SQLite's), and a forked child
    # could inherit a lock one of them held.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[list[Future[list[DrawingFile | str]]]] = deque()
        async for batch in files:
            jobs = [
                pool.submit(check_files, list(batch[i : i + POOL_CHUNK]), source)
                for i in range(0, len(batch), POOL_CHUNK)
            ]
            pending.append(jobs)
            if len(pending) > workers:
                yield await _results(pending.popleft())
        while pending:
            yield await _results(pending.popleft())


async def _results(jobs: list[Future[list[DrawingFile | str]]]) -> list[DrawingFile | str]:
    out: list[DrawingFile | str] = []
    for job in jobs:
        out += await anyio.to_thread.run_sync(job.result)
    return out
