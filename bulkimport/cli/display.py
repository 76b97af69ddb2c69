"""What a person sees on a terminal: the live view of a run, and the tables at its end.

The live view is rich's `Live` on stderr: it redraws in place and, while it is up, stands in for
`sys.stderr` so log records print above it instead of through its lines. It is transient: when
the run ends (or Ctrl+C stops it) it is wiped and the cursor restored, and the summary tables
take its place on stdout.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from bulkimport.estimate import duration
from bulkimport.models import FileState
from bulkimport.outcome import RunResult
from bulkimport.progress import Budget, Figures
from bulkimport.report import HEADINGS, totals, why

STAGES = (  # (journal state, what the display calls it), in the pipeline's order
    (FileState.PLANNED, "planned"),
    (FileState.UPLOADING, "uploading"),
    (FileState.UPLOADED, "uploaded"),
    (FileState.BATCHED, "in batches"),
    (FileState.IMPORTED, "imported"),
)
OUTCOMES = (
    (FileState.VERIFIED, "verified"),
    (FileState.NEEDS_REVIEW, "in review"),
    (FileState.FAILED, "failed"),
    (FileState.SKIPPED, "skipped"),
)
SHOWN_MISSING = 20  # files that did not arrive listed at the end; the report has them all


def clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def megabytes(amount: float) -> str:
    return f"{amount:,.2f} MB" if amount < 10 else f"{amount:,.1f} MB"


def budget_line(budget: Budget) -> str:
    """ "412 of 3,600 left this hour; resets in 21 min", or "waiting for the rate limit: 14 s"
    first while calls are held back."""
    parts = []
    if budget.waiting >= 0.5:
        parts.append(f"waiting for the rate limit: {math.ceil(budget.waiting)} s")
    if budget.limit is not None and budget.remaining is not None:
        resets_in = budget.resets_in or 0.0
        # Procore reports the window nearer to running out: the hour, or the 10-second spike.
        scope = "this hour" if resets_in > 11 else "in this 10 s window"  # Reset rounds up
        if budget.scope == "endpoint":
            scope += " on the tightest endpoint"
        parts.append(
            f"{budget.remaining:,} of {budget.limit:,} left {scope}; "
            f"resets in {duration(resets_in)}"
        )
    elif not parts:
        parts.append("Procore has reported no rate limit")
    return "; ".join(parts)


def render(figures: Figures, heading: str) -> RenderableType:
    """The live view of one moment of a run."""
    states = figures.states
    handled, files = figures.handled, figures.files
    bar = Table.grid(padding=(0, 1), expand=True)
    bar.add_column(ratio=1)
    bar.add_column(no_wrap=True, justify="right")
    share = f"{100 * handled / files:.0f}%" if files else "--"
    bar.add_row(
        ProgressBar(total=max(files, 1), completed=handled),
        f"{handled:,} of {files:,} files handled  {share}",
    )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    stages = [f"{label} {states.get(s.value, 0):,}" for s, label in STAGES]
    if figures.not_planned:
        stages.insert(0, f"not planned yet {figures.not_planned:,}")
    grid.add_row("stages", " · ".join(stages))
    outcomes = [f"{label} {states.get(s.value, 0):,}" for s, label in OUTCOMES]
    grid.add_row("done", " · ".join([*outcomes, f"unchanged {figures.unchanged:,}"]))
    grid.add_row(
        "upload",
        f"{figures.uploaded:,} files sent · {megabytes(figures.megabytes)} · "
        f"{figures.mb_per_s:.2f} MB/s",
    )
    grid.add_row(
        "procore",
        f"{figures.requests:,} requests · {figures.rerequested:,} tickets re-requested · "
        f"{figures.rate_limited:,} rate-limited (429) · {figures.throttled:,} throttled (503)",
    )
    grid.add_row("budget", budget_line(figures.budget))
    eta = "--" if figures.eta is None else duration(figures.eta)
    grid.add_row("time", f"elapsed {clock(figures.elapsed)} · ETA {eta}")
    for project in figures.projects:  # a run over several: how far each project is
        line = f"{project.handled:,} of {project.files:,} handled"
        if project.not_arrived:
            line += f" · {project.not_arrived:,} did not arrive"
        grid.add_row(f"project {project.project_id}", f"{line} · {project.folder}")
    return Group(Text(heading, style="bold"), bar, grid)


class LiveView:
    """The live display for the length of a `with` block; `show` redraws it."""

    def __init__(self, console: Console, heading: str, preparing: str) -> None:
        self._heading = heading
        self._console = console
        self._shown = False
        self._live = Live(
            Spinner("dots", preparing),
            console=console,
            transient=True,
            refresh_per_second=4,
            redirect_stdout=True,
            redirect_stderr=True,
        )

    def __enter__(self) -> Self:
        self._live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._live.stop()  # wipes the view and shows the cursor again, however the block ends

    def show(self, figures: Figures) -> None:
        self._shown = True
        self._live.update(render(figures, self._heading))

    def note(self, text: str) -> None:
        """A line above the view; until the first figures, also what the spinner says."""
        self._console.print(text, markup=False, highlight=False)
        if not self._shown:
            self._live.update(Spinner("dots", text))


def summary(result: RunResult, report: Path | None = None) -> RenderableType:
    """The end of a run as tables: files by plan and by state, requests by endpoint, time and
    budget, then the files that did not arrive (the first 20) with their reasons."""
    t = totals(result)
    top = Table.grid(padding=(0, 4))
    top.add_row(
        _counts("Plan", "action", {a: n for a, n in t["plan"].items() if n}),
        _counts("State now", "state", t["states"]),
        _time_and_budget(t, result),
    )
    parts: list[RenderableType] = [
        Text(f"bulkimport: {t['files']:,} files", style="bold"),
        top,
        _requests(t["procore_requests"]),
    ]
    if len(result.projects) > 1:
        parts.append(_projects(t["projects"]))
    if result.missing or result.manifest_problems:
        parts += _not_arrived(result, report)
    return Group(*parts)


def _table(title: str, *columns: str, right: int = 1) -> Table:
    """A summary table; its last `right` columns are numbers, aligned right."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for index, column in enumerate(columns):
        numeric = index >= len(columns) - right
        table.add_column(column, justify="right" if numeric else "left")
    return table


def _counts(title: str, what: str, counts: dict[str, int]) -> Table:
    table = _table(title, what, "files")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    return table


def _requests(per_endpoint: dict[str, int]) -> Table:
    table = _table("Procore requests", "endpoint", "calls")
    for endpoint, count in sorted(per_endpoint.items()):
        table.add_row(endpoint, f"{count:,}")
    table.add_row(Text("total", style="bold"), Text(f"{sum(per_endpoint.values()):,}", "bold"))
    return table


def _projects(projects: list[dict[str, Any]]) -> Table:
    table = _table("Projects", "project", "folder", "files", "did not arrive", "created", right=3)
    for p in projects:
        table.add_row(
            str(p["project_id"]),
            p["folder"],
            f"{p['files']:,}",
            f"{p['not_arrived']:,}",
            f"{p['drawings_created']:,}",
        )
    return table


def _time_and_budget(t: dict[str, Any], result: RunResult) -> Table:
    overall = _table("Time and budget", "", "")
    elapsed = t["elapsed_s"]
    rate = t["megabytes_uploaded"] / elapsed if elapsed else 0.0
    overall.add_row("time", duration(elapsed))
    overall.add_row("uploaded", f"{t['uploaded']:,} files, {megabytes(t['megabytes_uploaded'])}")
    overall.add_row("rate", f"{rate:.2f} MB/s")
    overall.add_row("drawings created", f"{t['drawings_created']:,}")
    overall.add_row("drawing uploads", f"{t['drawing_uploads']:,}")
    overall.add_row("tickets re-requested", f"{sum(t['rerequested_tickets'].values()):,}")
    overall.add_row("read-back requests", f"{t['readback_requests']:,}")
    if t["batch_split_calls"]:
        overall.add_row("to isolate refused files", f"{t['batch_split_calls']:,}")
    overall.add_row("429s (rate-limited)", f"{t['rate_limited']:,}")
    overall.add_row("503s (throttled)", f"{t['throttled']:,}")
    # Summed over the calls held back, which wait side by side: more than the run's time.
    overall.add_row("calls held by the budget", duration(t["budget_wait_s"]))
    window = result.stats.budget.window if result.stats.budget is not None else None
    if window is not None:
        per_endpoint = t["budget_scope"] == "endpoint"
        overall.add_row(
            "budget at the end" + (" (tightest endpoint)" if per_endpoint else ""),
            f"{window.remaining:,} of {window.limit:,} left",
        )
    return overall


def _not_arrived(result: RunResult, report: Path | None) -> list[RenderableType]:
    """The files that did not arrive and the manifest rows that name none: the first 20 of
    each, then where the rest are."""
    missing, problems = result.missing, result.manifest_problems
    absent = _table("Did not arrive", "", "file", "why", right=0)
    absent.columns[0].no_wrap = True
    several = len(result.projects) > 1
    for row in missing[:SHOWN_MISSING]:
        name = f"{row.project_id}: {row.rel}" if several else row.rel
        absent.add_row(HEADINGS.get(row.state, "NOT IMPORTED"), name, why(row))
    for problem in problems[:SHOWN_MISSING]:
        absent.add_row(f"MANIFEST line {problem.line}", problem.path, problem.reason)
    more = max(0, len(missing) - SHOWN_MISSING) + max(0, len(problems) - SHOWN_MISSING)
    if not more:
        return [absent]
    where = str(report) if report is not None else "the report (--report FILE)"
    # Its own line: a caption would wrap at the table's width.
    return [absent, Text(f"... and {more:,} more: see {where}")]
