"""A run, wired: one task group, bounded streams between the stages.

scan+plan ─► [files] ─► create-upload pool ─► [tickets] ─► POST pool ─► [uploaded] ─► batcher
    │                                                                        ▲            │
    └──────────── uploads resumed from the journal ──────────────────────────┘       [batches]
                                                                                          ▼
                                                   verify ◄── [sent] ◄── drawing-upload sender
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import anyio
import structlog
from anyio.abc import TaskGroup

from .batcher import batch_uploads
from .estimate import Cost, plan_cost
from .journal import FileRow, Journal
from .models import Batch, DrawingFile, FileState, Plan, Target, Uploaded
from .pacing import RateBudget
from .planner import decisions, produce
from .procore import ProcoreClient
from .progress import RunStats, show_progress
from .sender import SendStage, Sent
from .settings import Credentials, Settings
from .stopping import Stop, watch_signals
from .target import DrawingIndex, find_area, find_set, resolve_target
from .uploader import Ticketed, UploadStage
from .verify import verify_uploads

log = structlog.get_logger("bulkimport.run")


ARRIVED = frozenset({FileState.IMPORTED, FileState.VERIFIED})


@dataclass(slots=True)
class RunResult:
    stats: RunStats
    plans: dict[str, Plan]  # every file this run saw, and what it decided
    journal: Path  # where each file's row is, for the report
    states: Counter[FileState] = field(default_factory=Counter)  # of this run's files, at the end
    missing: list[FileRow] = field(default_factory=list)  # files that are not in Procore
    requests: dict[str, int] = field(default_factory=dict)  # Procore calls per endpoint
    interrupted: bool = False  # stopped by a signal (drained or not)


async def settle_outcome(journal: Journal, result: RunResult) -> None:
    """One pass over the journal: the run's files by state, and those that did not arrive.
    Rows are not kept: a run may have 100,000 of them."""
    async for rows in journal.stream():
        for row in rows:
            if row.rel in result.plans:
                result.states[row.state] += 1
                if row.state not in ARRIVED:
                    result.missing.append(row)


async def run_import(
    settings: Settings,
    credentials: Credentials,
    progress: bool = True,
    handle_signals: bool = False,
    stop: Stop | None = None,
) -> RunResult:
    """Import the source folder; `handle_signals` turns SIGINT/SIGTERM into a drain, then a stop."""
    engine = settings.engine
    stats = RunStats()
    plans: dict[str, Plan] = {}
    stop = stop or Stop()
    requests: dict[str, int] = {}
    journal = await Journal.open(engine.journal)
    connector = aiohttp.TCPConnector(limit=engine.create_upload_workers + engine.upload_workers + 4)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            budget = RateBudget(engine.max_requests_per_hour)
            client = ProcoreClient(settings.procore, credentials, session, budget)
            stats.budget, stats.requests = budget, client.requests
            try:
                target = await resolve_target(client, settings.target)
                index = await DrawingIndex.load(client, target.area_id)
                log.info("run.started", root=str(settings.source.root), drawings_in_area=len(index))
                uploads = UploadStage(
                    client, session, journal, index, stats, engine.expiry_margin, stop
                )
                sender = SendStage(client, journal, stats, settings.source.root)
                async with anyio.create_task_group() as outer:
                    if progress:
                        outer.start_soon(show_progress, stats, engine.progress_interval)
                    async with anyio.create_task_group() as tg:
                        if handle_signals:
                            outer.start_soon(
                                watch_signals, stop, tg.cancel_scope, engine.drain_timeout
                            )
                        _wire(
                            tg,
                            settings=settings,
                            journal=journal,
                            client=client,
                            stats=stats,
                            plans=plans,
                            uploads=uploads,
                            sender=sender,
                            target=target,
                            stop=stop,
                        )
                    outer.cancel_scope.cancel()
                stats.drawings_created = index.created
            finally:
                requests.update(client.requests)
                stats.rate_limited = budget.rate_limited
                stats.budget_wait = budget.waited
    finally:
        result = RunResult(stats, plans, engine.journal, requests=requests)
        with anyio.CancelScope(shield=True):
            await settle_outcome(journal, result)
            await journal.close()
    result.interrupted = stop.stopping
    return result


def _wire(
    tg: TaskGroup,
    *,
    settings: Settings,
    journal: Journal,
    client: ProcoreClient,
    stats: RunStats,
    plans: dict[str, Plan],
    uploads: UploadStage,
    sender: SendStage,
    target: Target,
    stop: Stop,
) -> None:
    engine = settings.engine
    files_tx, files_rx = anyio.create_memory_object_stream[DrawingFile](engine.upload_workers * 2)
    # Small on purpose: a ticket should be used soon after it is issued.
    tickets_tx, tickets_rx = anyio.create_memory_object_stream[Ticketed](2)
    done_tx, done_rx = anyio.create_memory_object_stream[Uploaded](engine.batch_size * 2)
    batch_tx, batch_rx = anyio.create_memory_object_stream[Batch](2)
    sent_tx, sent_rx = anyio.create_memory_object_stream[Sent](64)
    with files_tx, files_rx, tickets_tx, tickets_rx, done_tx, done_rx, batch_tx, batch_rx:
        tg.start_soon(
            produce, settings, journal, stats, plans, files_tx.clone(), done_tx.clone(), stop
        )
        for _ in range(engine.create_upload_workers):
            tg.start_soon(uploads.create_tickets, files_rx.clone(), tickets_tx.clone())
        for _ in range(engine.upload_workers):
            tg.start_soon(uploads.post, tickets_rx.clone(), done_tx.clone())
        tg.start_soon(
            batch_uploads,
            done_rx.clone(),
            batch_tx.clone(),
            target,
            engine.batch_size,
            engine.batch_max_wait,
        )
        tg.start_soon(sender.run, batch_rx.clone(), sent_tx)
        tg.start_soon(
            verify_uploads,
            sent_rx,
            client,
            journal,
            stats,
            engine.verify_interval,
            engine.verify_timeout,
            stop,
        )


@dataclass(slots=True)
class PlanSummary:
    counts: dict[Plan, int] = field(default_factory=dict)
    examples: dict[Plan, list[str]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # invalid files and why
    bytes_to_upload: int = 0
    numbers: list[str] = field(default_factory=list)  # of the files to upload
    resumed: int = 0  # uploads an earlier run left, straight to a batch
    cost: Cost | None = None  # known when the area's drawings could be read
    cost_seconds: float | None = None  # at the budget Procore reported
    budget_note: str = ""


async def plan_only(
    settings: Settings, credentials: Credentials | None = None, examples: int = 5
) -> PlanSummary:
    """What a run would do, from the files and the journal; nothing is written or sent. With
    credentials it also reads (never writes) the target and its drawings to price the plan."""
    journal = (
        await Journal.open(settings.engine.journal, readonly=True)
        if await anyio.Path(settings.engine.journal).exists()
        else None
    )
    summary = PlanSummary()
    try:
        async for chunk in decisions(settings, journal):
            for d in chunk:
                summary.counts[d.plan] = summary.counts.get(d.plan, 0) + 1
                shown = summary.examples.setdefault(d.plan, [])
                if len(shown) < examples:
                    shown.append(d.rel)
                if d.reason:
                    summary.reasons[d.rel] = d.reason
                if d.file is not None:
                    summary.bytes_to_upload += d.file.size
                    summary.numbers.append(d.file.number)
                if d.uploaded is not None:
                    summary.resumed += 1
    finally:
        if journal is not None:
            await journal.close()
    if credentials is not None:
        await _price(settings, credentials, summary)
    return summary


async def _price(settings: Settings, credentials: Credentials, summary: PlanSummary) -> None:
    """Read the area's drawings and the rate-limit headers; write nothing."""
    async with aiohttp.ClientSession() as session:
        client = ProcoreClient(settings.procore, credentials, session)
        area = await find_area(client, settings.target.drawing_area)
        if await find_set(client, settings.target) is None:
            summary.budget_note = "the drawing set would be created (1 more request). "
        existing = {
            str(d["number"]).casefold()
            async for page in client.drawings(int(area["id"]))
            for d in page
        }
        summary.cost = plan_cost(
            summary.numbers, existing, summary.resumed, settings.engine.batch_size
        )
        budget = client.budget
        summary.cost_seconds = budget.seconds_for(summary.cost.total)
        window = budget.window
        if window is None:
            summary.budget_note += "Procore sent no rate-limit headers."
        else:
            summary.budget_note += (
                f"Rate limit: {window.remaining} of {window.limit} left, the window resets "
                f"in {max(0.0, window.reset - time.time()):.0f} s."
            )
