"""The run's figures: one value for the live display, the `progress` event and `status`; and
how they are drawn. (Tests under a real pseudo-terminal are in test_terminal.py.)"""

from __future__ import annotations

import io
import logging
import sys
import time

import anyio
import pytest
import structlog
from rich.console import Console
from structlog.testing import capture_logs

from bulkimport import logs
from bulkimport.cli.display import budget_line, render
from bulkimport.models import Plan
from bulkimport.procore.pacing import RateBudget
from bulkimport.progress import Budget, Figures, RunStats, figures, show_progress

from .fake_clock import FakeClock


def busy_stats(clock: FakeClock | None = None) -> RunStats:
    """Ten seconds into a run, on a clock that stands still: `elapsed` is 10 however long the
    test takes."""
    clock = clock or FakeClock()
    stats = RunStats(started=clock.now() - 10, clock=clock)
    stats.files = 10
    stats.planned[Plan.NEW] = 10
    stats.to_upload, stats.bytes_to_upload = 10, 10_000_000
    stats.uploaded, stats.bytes_uploaded, stats.imported = 4, 4_000_000, 3
    stats.verified = 2
    return stats


def spent_budget() -> RateBudget:
    return RateBudget()


async def answer(
    budget: RateBudget, remaining: int, reset_in: float, limit: int = 600, now: float | None = None
) -> None:
    """An answer whose window resets `reset_in` seconds after `now` (unix seconds; the system
    clock's unless given)."""
    turn = await budget.acquire()
    budget.release(
        turn,
        {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": str((time.time() if now is None else now) + reset_in),
        },
    )


def test_eta_is_a_number_once_the_first_file_is_uploaded():
    stats = RunStats()
    stats.files = 100
    assert stats.eta() is None  # nothing uploaded: nothing to go by
    stats = busy_stats()
    eta = stats.eta()
    assert eta is not None
    assert stats.elapsed == 10
    assert eta == pytest.approx(15.0)  # 6 MB left at 4 MB per 10 s


def test_eta_counts_the_files_the_planner_has_not_reached():
    stats = busy_stats()
    stats.files = 20  # the pass over the names saw 20; 10 are decided, all to upload
    eta = stats.eta()
    assert eta is not None
    assert eta == pytest.approx(40.0)  # 16 files' worth left at 4 MB per 10 s, not 6


@pytest.mark.anyio
async def test_eta_waits_for_the_budget_when_requests_are_the_bottleneck():
    clock = FakeClock()
    stats = busy_stats(clock)
    stats.requests = {"POST uploads": 8}  # 2 requests per file uploaded so far
    stats.budget = RateBudget(clock=clock)
    # The hourly window is spent.
    await answer(stats.budget, remaining=0, reset_in=1800, now=clock.time())
    eta = stats.eta()
    assert eta is not None
    assert eta > 1700  # 12 more requests must wait for the window to reset


@pytest.mark.anyio
async def test_eta_prices_per_endpoint_budgets_side_by_side():
    """The same run's ETA under one shared budget and under one per endpoint: per endpoint
    the two endpoints' requests go side by side, so the wait for the budget halves."""
    etas = []
    for per_endpoint in (False, True):
        clock = FakeClock()
        stats = busy_stats(clock)
        stats.files = 1000  # 400 uploaded in 10 s: the budget, not the bytes, sets the ETA
        stats.uploaded = 400
        stats.requests = {"POST drawings": 400, "POST uploads": 400}
        stats.budget = RateBudget(clock=clock)
        reset = clock.time() + 10
        for endpoint in ("POST drawings", "POST uploads"):
            remaining = 59 if per_endpoint else (58 if endpoint == "POST uploads" else 59)
            turn = await stats.budget.acquire(endpoint)
            stats.budget.release(
                turn,
                {
                    "X-Rate-Limit-Limit": "60",
                    "X-Rate-Limit-Remaining": str(remaining),
                    "X-Rate-Limit-Reset": str(reset),
                },
            )
        assert stats.budget.scope == ("endpoint" if per_endpoint else "shared")
        eta = stats.eta()
        assert eta is not None
        etas.append(eta)
    shared, side_by_side = etas
    assert side_by_side == pytest.approx(shared / 2, rel=0.1)


@pytest.mark.anyio
async def test_figures_take_files_in_flight_from_the_journal_and_outcomes_from_the_run():
    clock = FakeClock()
    stats = busy_stats(clock)
    stats.budget = RateBudget(clock=clock)
    await answer(stats.budget, remaining=412, reset_in=21 * 60, limit=3600, now=clock.time())
    now = figures(stats, {"planned": 3, "uploading": 2, "verified": 5000, "batched": 1})
    assert now.files == 10
    assert now.states["planned"] == 3
    assert now.states["batched"] == 1
    assert now.states["verified"] == 2  # this run's, not the journal's 5000
    assert now.done == 2
    assert now.budget.limit == 3600
    assert now.budget.remaining == 412
    assert now.budget.resets_in == 21 * 60
    assert now.elapsed == 10
    assert Figures.from_dict(now.as_dict()) == now  # what `status` reads back is the same


def test_the_budget_line_says_what_is_left_or_how_long_the_run_waits():
    left = Budget(limit=3600, remaining=412, resets_in=21 * 60, waiting=0.0, waited=0.0)
    assert budget_line(left) == "412 of 3,600 left this hour; resets in 21 min"
    held = Budget(limit=None, remaining=None, resets_in=None, waiting=13.2, waited=30.0)
    assert budget_line(held) == "waiting for the rate limit: 14 s"


@pytest.mark.anyio
async def test_a_spent_window_shows_as_a_wait():
    budget = RateBudget()
    await answer(budget, remaining=0, reset_in=30, limit=15)
    assert budget.waiting() == 0.0  # nobody is held back yet
    async with anyio.create_task_group() as tg:
        tg.start_soon(budget.acquire)
        await anyio.wait_all_tasks_blocked()
        assert 29 < budget.waiting() <= 31
        tg.cancel_scope.cancel()
    assert budget.waiting() == 0.0


def test_the_display_shows_every_figure():
    stats = busy_stats()
    stats.requests = {"POST uploads": 8}
    stats.rerequested["near_expiry"] = 2
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(render(figures(stats, {"planned": 3, "uploading": 2}), "bulkimport run: x"))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "2 of 10 files handled  20%" in text
    assert "planned 3 · uploading 2 · uploaded 0 · in batches 0 · imported 0" in text
    assert "verified 2 · in review 0 · failed 0 · skipped 0 · unchanged 0" in text
    assert "4 files sent · 4.00 MB" in text
    assert "8 requests · 2 tickets re-requested · 0 rate-limited (429)" in text
    assert "Procore has reported no rate limit" in text
    assert "elapsed 0:00:10" in text
    assert "ETA 15 s" in text


@pytest.mark.anyio
async def test_without_a_display_progress_is_a_log_event_every_interval():
    with capture_logs() as events, anyio.move_on_after(0.3):
        await show_progress(busy_stats(), 0.01)
    progress = [e for e in events if e["event"] == "progress"]
    assert len(progress) >= 2
    assert progress[0]["uploaded"] == 4
    assert progress[0]["to_upload"] == 10
    assert progress[0]["files"] == 10
    assert progress[0]["eta_s"] is not None


def test_v_and_q_move_the_level_a_step_at_a_time():
    assert logs.level_for(0, 0) == logging.INFO
    assert logs.level_for(1, 0) == logging.DEBUG
    assert logs.level_for(3, 0) == logging.DEBUG
    assert logs.level_for(0, 1) == logging.WARNING
    assert logs.level_for(0, 5) == logging.ERROR
    assert logs.level_for(1, 0, default=logging.WARNING) == logging.INFO


def test_records_go_to_whatever_stderr_is_now(monkeypatch: pytest.MonkeyPatch):
    """The live display swaps sys.stderr for a proxy that prints above it: records must follow."""
    logs.configure("json", logging.INFO)
    structlog.configure(cache_logger_on_first_use=False)
    try:
        swapped = io.StringIO()
        monkeypatch.setattr(sys, "stderr", swapped)
        structlog.get_logger("bulkimport.test").info("batch.sent", files=4)
        structlog.get_logger("bulkimport.test").debug("drawing.created", number="A-1")
    finally:
        structlog.reset_defaults()
    assert '"event": "batch.sent"' in swapped.getvalue()
    assert "drawing.created" not in swapped.getvalue()  # per drawing: debug, hidden by default


def test_the_summary_tables_list_the_first_20_files_that_did_not_arrive(tmp_path):
    from bulkimport.cli.display import summary
    from bulkimport.journal.rows import FileRow
    from bulkimport.models import FileState, Plans
    from bulkimport.outcome import ProjectOutcome, RunResult

    def row(n: int) -> FileRow:
        values: dict[str, object] = dict.fromkeys(FileRow.__dataclass_fields__)
        values |= {"rel": f"A-{n:03d}.pdf", "size": 1, "mtime_ns": 1, "review": False}
        values |= {"state": FileState.FAILED, "error": "not a PDF"}
        return FileRow(**values)  # type: ignore[arg-type]

    stats = busy_stats()
    plans = Plans.of({f"A-{n:03d}.pdf": Plan.NEW for n in range(25)})
    result = RunResult(stats, [ProjectOutcome(7, tmp_path, plans)], tmp_path / "j")
    result.states[FileState.FAILED] = 25
    result.missing = [row(n) for n in range(25)]
    result.requests = {"POST /rest/v1.1/projects/{project_id}/uploads": 25}
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(summary(result, tmp_path / "report.json"))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "bulkimport: 25 files" in text
    assert "POST /rest/v1.1/projects/{project_id}/uploads" in text
    assert "A-019.pdf" in text
    assert "A-020.pdf" not in text
    assert f"... and 5 more: see {tmp_path / 'report.json'}" in text
    assert "NOT IMPORTED" in text
