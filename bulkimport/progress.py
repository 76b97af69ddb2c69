"""What a run has done so far, and how it is shown while it runs.

On a terminal: one line on stderr, redrawn (files done of those seen, MB/s, ETA). Otherwise: a
`progress` log event every `progress_interval` seconds, for cron mail and CI logs.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

import anyio
import structlog

from .models import Plan
from .pacing import RateBudget

log = structlog.get_logger("bulkimport.progress")


@dataclass(slots=True)
class RunStats:
    """Counters the stages update; read by the progress display and the summary."""

    started: float = field(default_factory=time.monotonic)
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

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def mb_per_s(self) -> float:
        return self.bytes_uploaded / 1e6 / self.elapsed if self.elapsed > 0 else 0.0

    def eta(self) -> float | None:
        """Seconds left: the later of the byte rate so far and the time the requests still
        to make take at the current budget. None while it cannot be known."""
        if self.scanning or self.bytes_uploaded == 0:
            return None
        left = self.bytes_to_upload - self.bytes_uploaded
        by_bytes = max(0.0, left / (self.bytes_uploaded / self.elapsed))
        if self.budget is None or self.uploaded == 0:
            return by_bytes
        per_file = sum(self.requests.values()) / self.uploaded
        by_requests = self.budget.seconds_for(round((self.to_upload - self.uploaded) * per_file))
        return max(by_bytes, by_requests or 0.0)

    def line(self) -> str:
        eta = self.eta()
        done = self.imported + self.failed
        return (
            f"{done}/{self.to_upload}{'+' if self.scanning else ''} files "
            f"(uploaded {self.uploaded}, failed {self.failed}) "
            f"{self.mb_per_s:.1f} MB/s "
            f"ETA {'--' if eta is None else f'{eta:.0f}s'}"
        )


async def show_progress(stats: RunStats, interval: float, stream: TextIO = sys.stderr) -> None:
    """Runs until cancelled."""
    if stream.isatty():
        while True:
            stream.write("\r\x1b[K" + stats.line())
            stream.flush()
            await anyio.sleep(0.5)
    while True:
        await anyio.sleep(interval)
        log.info(
            "progress",
            to_upload=stats.to_upload,
            uploaded=stats.uploaded,
            imported=stats.imported,
            verified=stats.verified,
            failed=stats.failed,
            mb_per_s=round(stats.mb_per_s, 2),
            eta_s=stats.eta(),
        )
