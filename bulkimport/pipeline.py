"""A run, wired: one task group per wave, bounded streams between the stages.

scan+plan ─► [files] ─► create-upload pool ─► [tickets] ─► POST pool ─► [uploaded] ─► batcher
    │                                                                        ▲            │
    └──────────── uploads resumed from the journal ──────────────────────────┘       [batches]
                                                                                          ▼
                                                   verify ◄── [sent] ◄── drawing-upload sender

Most runs are one wave. When a drawing number comes in several revisions, each later revision
goes in a later wave, which starts once the one before it has been sent and processed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

import aiohttp
import anyio
import structlog
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulkimport.errors import ConfigError
from bulkimport.estimate import plan_cost
from bulkimport.journal.rows import Leftovers
from bulkimport.journal.store import Journal
from bulkimport.ledger import Ledger
from bulkimport.models import DrawingFile, Group, Plans, Sent, Uploaded
from bulkimport.outcome import ARRIVED, PlanSummary, RunResult
from bulkimport.procore.client import ProcoreClient
from bulkimport.procore.pacing import RateBudget
from bulkimport.progress import RunStats, Watcher, show_progress
from bulkimport.settings import Credentials, EngineSettings, Settings
from bulkimport.source.checks import Checks
from bulkimport.source.manifest import Manifest, read_manifest
from bulkimport.source.planner import (
    Decision,
    Order,
    checked_decisions,
    decisions,
    order_files,
)
from bulkimport.source.producer import Producer
from bulkimport.stages.batcher import batch_uploads
from bulkimport.stages.sender import SendStage
from bulkimport.stages.target import Targets, area_in, set_in
from bulkimport.stages.uploader import Ticketed, UploadStage
from bulkimport.stages.verify import verify_uploads
from bulkimport.stopping import Stop, watch_signals
from bulkimport.workers import work_shared, worker_for

log = structlog.get_logger("bulkimport.run")


async def settle_outcome(journal: Journal, result: RunResult) -> None:
    """One pass over the journal's paths and states: the run's files by state, then the rows
    of those that did not arrive (few, when a run goes well). A run may have 100,000 files."""
    missing: list[str] = []
    async for pairs in journal.states():
        for rel, state in pairs:
            if rel in result.plans:
                result.states[state] += 1
                if state not in ARRIVED:
                    missing.append(rel)
    rows = await journal.lookup(missing)
    result.missing = [rows[rel] for rel in missing if rel in rows]


async def prepare(settings: Settings) -> tuple[Manifest | None, Order]:
    """The manifest, and the pass over the names that orders revisions."""
    path = settings.source.manifest
    manifest = await anyio.to_thread.run_sync(read_manifest, path) if path else None
    order = await anyio.to_thread.run_sync(order_files, settings, manifest)
    for problem in order.manifest_problems:
        log.error("manifest.problem", line=problem.line, path=problem.path, reason=problem.reason)
    return manifest, order


async def run_import(
    settings: Settings,
    credentials: Credentials,
    progress: bool | Watcher = True,
    handle_signals: bool = False,
    stop: Stop | None = None,
) -> RunResult:
    """Import the source folder; `handle_signals` turns SIGINT/SIGTERM into a drain, then a stop.
    `progress` is True for `progress` events, or a watcher to run beside the stages."""
    engine = settings.engine
    stats = RunStats()
    plans = Plans()
    checks = Checks(settings.source, stats, plans)
    stop = stop or Stop()
    requests: dict[str, int] = {}
    manifest, order = await prepare(settings)
    stats.files = order.files  # the total is known from here on, before any upload
    worker = worker_for(settings, credentials)  # a journal that cannot be shared: refused here
    # Before anything is sent: a journal out of reach, or held by another run, stops it here.
    project = settings.procore.project_id
    journal = await Journal.open(engine.journal, projects=(project,), worker=worker)
    ledger = Ledger(journal, stats)
    connector = aiohttp.TCPConnector(limit=engine.create_upload_workers + engine.upload_workers + 4)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            budget = RateBudget(engine.max_requests_per_hour)
            client = ProcoreClient(settings.procore, credentials, session, budget)
            stats.budget, stats.requests = budget, client.requests
            targets = Targets(client, settings.target)

            async def one_pass(leftovers: Leftovers) -> None:
                producer = Producer(
                    settings, ledger, manifest, order, plans, stop, checks, leftovers.uploads
                )
                stages = _stages(settings, producer, client, session, targets, leftovers)
                await _run_waves(settings, stages, order, progress, handle_signals)

            try:
                # The token only: refused credentials stop the run here. The targets are read
                # when the first file needs one, so a run with nothing to send asks no more.
                await client.authenticate()
                log.info("run.started", root=str(settings.source.root), files=order.files)
                root = settings.source.root
                if worker is None:  # what earlier runs left part-way, read once
                    await one_pass(await journal.leftovers(root))
                else:
                    await work_shared(journal, client, ledger, stop, root, one_pass)
            finally:
                requests.update(client.requests)
                _tally(stats, targets, budget)
    finally:
        result = RunResult(stats, plans, engine.journal, requests=requests)
        result.manifest_problems, result.files_opened = order.manifest_problems, checks.opened
        with anyio.CancelScope(shield=True):
            await settle_outcome(journal, result)
            await journal.close()
    result.interrupted = stop.stopping
    return result


def _config_error_alone(group: BaseExceptionGroup[BaseException]) -> ConfigError | None:
    """The ConfigError a group holds when it holds nothing else (the other workers cancelled)."""
    found: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        current = pending.pop()
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        else:
            found.append(current)
    configs = [e for e in found if isinstance(e, ConfigError)]
    return configs[0] if configs and len(configs) == len(found) else None


def _tally(stats: RunStats, targets: Targets, budget: RateBudget) -> None:
    """The counts kept outside the stages, into the run's figures."""
    stats.drawings_created = targets.drawings_created
    stats.rate_limited = budget.rate_limited
    stats.throttled = budget.throttled
    stats.budget_wait = budget.waited


@dataclass(frozen=True, slots=True)
class Stages:
    """A run's stages and what they share; each wave wires them anew."""

    producer: Producer
    uploads: UploadStage
    sender: SendStage
    client: ProcoreClient
    ledger: Ledger
    stop: Stop
    leftovers: Leftovers  # what earlier runs left: taken up once, in the first wave


def _stages(
    settings: Settings,
    producer: Producer,
    client: ProcoreClient,
    session: aiohttp.ClientSession,
    targets: Targets,
    leftovers: Leftovers,
) -> Stages:
    """The stages after the producer, sharing its ledger, stop and checks."""
    engine, ledger, stop = settings.engine, producer.ledger, producer.stop
    uploads = UploadStage(
        client,
        session,
        ledger,
        targets,
        engine.expiry_margin,
        stop,
        producer.checks,
        engine.same_revision,
        clock=client.clock,  # a ticket's age and the POST's retries read the client's time
    )
    sender = SendStage(client, ledger, settings.source.root)
    return Stages(producer, uploads, sender, client, ledger, stop, leftovers)


async def _run_waves(
    settings: Settings,
    stages: Stages,
    order: Order,
    progress: bool | Watcher,
    handle_signals: bool,
) -> None:
    """The waves one after another, beside the progress events (or watcher) and, with
    `handle_signals`, the watch that turns a signal into a drain. A configuration error met on
    the way (the config's own area or set, checked when the first file needs a target) is
    raised as it is, like one met before the stages start."""
    engine, stats, stop = settings.engine, stages.ledger.stats, stages.stop
    try:
        async with anyio.create_task_group() as outer:
            if progress is True:
                outer.start_soon(show_progress, stats, engine.progress_interval)
            elif progress is not False:
                outer.start_soon(progress, stats)
            with anyio.CancelScope() as work:
                if handle_signals:
                    outer.start_soon(watch_signals, stop, work, engine.drain_timeout)
                for wave in range(order.last_wave + 1):
                    if stop.stopping:
                        break
                    if wave:
                        log.info("run.wave", wave=wave, files=len(order.in_wave(wave)))
                    async with anyio.create_task_group() as tg:
                        _wire(tg, engine, stages, wave, last=wave == order.last_wave)
            stats.scanning = False
            outer.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        config = _config_error_alone(group)
        if config is None:
            raise
        raise config from None


def _wire(tg: TaskGroup, engine: EngineSettings, stages: Stages, wave: int, *, last: bool) -> None:
    left = stages.leftovers if wave == 0 else Leftovers()  # taken up once, in the first wave
    files_tx, files_rx = anyio.create_memory_object_stream[DrawingFile](engine.upload_workers * 2)
    # Small on purpose: a ticket should be used soon after it is issued.
    tickets_tx, tickets_rx = anyio.create_memory_object_stream[Ticketed](2)
    done_tx, done_rx = anyio.create_memory_object_stream[Uploaded](engine.batch_size * 2)
    groups_tx, groups_rx = anyio.create_memory_object_stream[Group](2)
    sent_tx, sent_rx = anyio.create_memory_object_stream[Sent](64)
    with files_tx, files_rx, tickets_tx, tickets_rx, done_tx, done_rx, groups_tx, groups_rx:
        tg.start_soon(stages.producer.run, wave, files_tx.clone(), done_tx.clone())
        tg.start_soon(_create_tickets, stages, files_rx.clone(), tickets_tx.clone(), engine, last)
        for _ in range(engine.upload_workers):
            tg.start_soon(stages.uploads.post, tickets_rx.clone(), done_tx.clone())
        budget = stages.client.budget
        tg.start_soon(
            # While the budget holds calls back, files come at its pace and an age flush would
            # only spend a request on a half-empty batch: the batcher waits for full ones then.
            partial(batch_uploads, budget_binds=lambda: budget.waiting() > 0),
            done_rx.clone(),
            groups_tx.clone(),
            engine.batch_size,
            engine.batch_max_wait,
        )
        tg.start_soon(stages.sender.run, groups_rx.clone(), sent_tx, left.batches)
        tg.start_soon(
            verify_uploads,
            sent_rx,
            stages.client,
            stages.ledger,
            engine.verify_interval,
            engine.verify_timeout,
            stages.stop,
            left.unverified,
        )


async def _create_tickets(
    stages: Stages,
    files: MemoryObjectReceiveStream[DrawingFile],
    tickets: MemoryObjectSendStream[Ticketed],
    engine: EngineSettings,
    last: bool,
) -> None:
    """The create-upload pool. After the last wave's, no file is left to look a drawing up for,
    so the drawing indexes are let go before the read-back."""
    async with files, tickets, anyio.create_task_group() as pool:
        for _ in range(engine.create_upload_workers):
            pool.start_soon(stages.uploads.create_tickets, files.clone(), tickets.clone())
    if last:
        stages.uploads.targets.forget_drawings()


async def plan_only(
    settings: Settings, credentials: Credentials | None = None, examples: int = 5
) -> PlanSummary:
    """What a run would do, from the files and the journal; nothing is written or sent. With
    credentials it also reads (never writes) the targets and their drawings to price the plan."""
    manifest, order = await prepare(settings)
    journal = await Journal.open_if_present(
        settings.engine.journal, projects=(settings.procore.project_id,)
    )
    summary = PlanSummary(manifest_problems=order.manifest_problems, waves=order.last_wave + 1)
    try:
        uploads = (await journal.leftovers(settings.source.root)).uploads if journal else {}
        plan = decisions(settings, journal, manifest, order, uploads=uploads)
        async for chunk in checked_decisions(plan, settings.source):
            for d in chunk:
                _count(summary, d, examples)
    finally:
        if journal is not None:
            await journal.close()
    if credentials is not None:
        await _price(settings, credentials, summary)
    return summary


def _count(summary: PlanSummary, d: Decision, examples: int) -> None:
    summary.counts[d.plan] = summary.counts.get(d.plan, 0) + 1
    shown = summary.examples.setdefault(d.plan, [])
    if len(shown) < examples:
        shown.append(d.rel)
    if d.reason:
        summary.reasons[d.rel] = (d.plan, d.reason)
    if d.file is not None:
        file = d.file
        summary.bytes_to_upload += file.size
        summary.places[(file.area.casefold(), file.drawing_set.casefold(), file.review)] += 1
        if file.review:
            summary.reviewed += 1
        else:
            summary.numbers.append((file.area.casefold(), file.number.casefold()))
    if d.uploaded is not None:
        summary.resumed += 1
        item = d.uploaded
        summary.places[(str(item.target.area_id), str(item.target.set_id), item.file.review)] += 1


async def _price(settings: Settings, credentials: Credentials, summary: PlanSummary) -> None:
    """Read the areas, sets, drawings and the rate-limit headers; write nothing."""
    async with aiohttp.ClientSession() as session:
        client = ProcoreClient(settings.procore, credentials, session)
        project = settings.procore.project_id
        areas, sets = await client.drawing_areas(), await client.drawing_sets()
        notes = []
        existing: set[tuple[str, str]] = set()
        for name in sorted({area for area, _ in summary.numbers}):
            try:
                area = area_in(areas, name, project)
            except ConfigError as exc:
                notes.append(f"{exc}: its files would fail.")
                continue
            existing |= {
                (name, d.number.casefold()) async for page in client.drawings(area.id) for d in page
            }
        for set_name in sorted({s for _, s, _ in summary.places if not s.isdigit()}):
            try:
                if set_in(sets, set_name, settings.target.create_missing_set, project) is None:
                    notes.append(f"drawing set {set_name!r} would be created (1 request).")
            except ConfigError as exc:
                notes.append(f"{exc}: its files would fail.")
        summary.cost = plan_cost(
            summary.numbers,
            existing,
            summary.reviewed,
            summary.places.values(),
            settings.engine.batch_size,
        )
        budget = client.budget
        summary.cost_seconds = budget.seconds_for(summary.cost.by_endpoint())
        window = budget.window
        if window is None:
            notes.append("Procore sent no rate-limit headers.")
        else:
            notes.append(
                f"Rate limit: {window.remaining} of {window.limit} left, the window resets "
                f"in {max(0.0, window.reset - time.time()):.0f} s."
            )
            notes.append(
                "Procore counts each endpoint apart (its rate-limit headers show it): the "
                "endpoints are priced side by side."
                if budget.scope == "endpoint"
                else "Priced as one budget for every endpoint: no answer showed one per endpoint."
            )
        summary.budget_note = " ".join(notes)
