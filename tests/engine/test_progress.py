"""The progress display: a redrawn line on a terminal, `progress` events otherwise."""

from __future__ import annotations

import io
import time

import anyio
import pytest
from structlog.testing import capture_logs

from bulkimport.pacing import RateBudget
from bulkimport.progress import RunStats, show_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def busy_stats() -> RunStats:
    stats = RunStats(started=0.0)
    stats.to_upload, stats.bytes_to_upload = 10, 10_000_000
    stats.uploaded, stats.bytes_uploaded, stats.imported = 4, 4_000_000, 3
    stats.scanning = False
    return stats


def test_line_shows_done_of_total_rate_and_eta():
    stats = busy_stats()
    line = stats.line()
    assert line.startswith("3/10 files (uploaded 4, failed 0)")
    assert "MB/s" in line
    eta = stats.eta()
    assert eta is not None
    assert eta == pytest.approx(1.5 * stats.elapsed, rel=0.01)  # 6 MB left at 4 MB per elapsed


@pytest.mark.anyio
async def test_eta_waits_for_the_budget_when_requests_are_the_bottleneck():
    stats = busy_stats()
    stats.requests = {"POST uploads": 8}  # 2 requests per file uploaded so far
    stats.budget = RateBudget()
    await stats.budget.acquire()  # an answer says the hourly window is spent
    stats.budget.release(
        {
            "X-Rate-Limit-Limit": "600",
            "X-Rate-Limit-Remaining": "0",
            "X-Rate-Limit-Reset": str(time.time() + 1800),
        }
    )
    eta = stats.eta()
    assert eta is not None
    assert eta > 1700  # 12 more requests must wait for the window to reset


def test_no_eta_while_scanning_or_before_any_byte():
    stats = RunStats()
    assert stats.eta() is None
    assert "ETA --" in stats.line()
    assert "0/0+ files" in stats.line()


@pytest.mark.anyio
async def test_on_a_terminal_the_line_is_redrawn_in_place():
    screen = Terminal()
    with anyio.move_on_after(0.2):
        await show_progress(busy_stats(), 10.0, screen)
    assert screen.getvalue().startswith("\r\x1b[K3/10 files")


@pytest.mark.anyio
async def test_elsewhere_progress_is_a_log_event_every_interval():
    with capture_logs() as events, anyio.move_on_after(0.3):
        await show_progress(busy_stats(), 0.01, io.StringIO())
    progress = [e for e in events if e["event"] == "progress"]
    assert len(progress) >= 2
    assert progress[0]["uploaded"] == 4
    assert progress[0]["to_upload"] == 10
