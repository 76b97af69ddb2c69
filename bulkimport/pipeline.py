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

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial

import aiohttp
import anyio
import structlog
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulkimport.errors import ConfigError
from bulkimport.journal.rows import Leftovers
from bulkimport.journal.store import Journal
from bulkimport.journal_location import JournalLocation
from bulkimport.ledger import Ledger
from bulkimport.models import DrawingFile, Group, Plans, Sent, Uploaded
from bulkimport.outcome import ARRIVED, ProjectOutcome, RunResult
from bulkimport.procore.client import ProcoreClient
from bulkimport.procore.pacing import RateBudget
from bulkimport.progress import ProjectTally, RunStats, Watcher, show_progress
from bulkimport.settings import Credentials, EngineSettings, Settings
from bulkimport.source.checks import Checks
from bulkimport.source.manifest import Manifest
from bulkimport.source.planner import Order, read_order
from bulkimport.source.producer import Producer
from bulkimport.stages.batcher import batch_uploads
from bulkimport.stages.sender import SendStage
from bulkimport.stages.target import Targets
from bulkimport.stages.uploader import Ticketed, UploadStage
from bulkimport.stages.verify import verify_uploads
from bulkimport.stopping import Stop, watch_signals
from bulkimport.workers import work_shared, worker_for

log = structlog.get_logger("bulkimport.run")


async def settle_outcome(journal: Journal, result: RunResult) -> None:
    """Per project, one pass over the journal's paths and states: the run's files by state,
    then the rows of those that did not arrive (few, when a run goes well). A run may have
    100,000 files."""
    for project in result.projects:
        rows_of = journal.for_project(project.project_id)
        missing: list[str] = []
        async for pairs in rows_of.states():
            for rel, state in pairs:
                if rel in project.plans:
                    project.states[state] += 1
                    if state not in ARRIVED:
                        missing.append(rel)
        rows = await rows_of.lookup(missing)
        project.missing = [rows[rel] for rel in missing if rel in rows]
        result.states += project.states
        result.missing += project.missing


@dataclass(slots=True)
class Project:
    """One project of a run: its own settings (its id, folder, manifest and target), its
    files in order, and what the run decides and ends with for them."""

    settings: Settings
    manifest: Manifest | None
    order: Order
    outcome: ProjectOutcome
    checks: Checks
    tally: ProjectTally | None  # its line on the display, in a run over several

    @property
    def id(self) -> int:
        return self.settings.procore.project_id


async def _prepared(settings: Settings, stats: RunStats, several: bool) -> Project:
    manifest, order = await read_order(settings)
    plans = Plans()
    root = settings.source.root
    outcome = ProjectOutcome(
        settings.procore.project_id, root, plans, manifest_problems=len(order.manifest_problems)
    )
    tally = None
    if several:
        tally = ProjectTally(outcome.project_id, root.name, files=order.files)
        stats.projects[outcome.project_id] = tally
    return Project(settings, manifest, order, outcome, Checks(settings.source, stats, plans), tally)


async def run_import(
    settings: Settings,
    credentials: Credentials,
    progress: bool | Watcher = True,
    handle_signals: bool = False,
    stop: Stop | None = None,
) -> RunResult:
    """Import the source folder (each [[targets]] folder into its project, side by side, on
    the one budget); `handle_signals` turns SIGINT/SIGTERM into a drain, then a stop.
    `progress` is True for `progress` events, or a watcher to run beside the stages."""
    engine = settings.engine
    stats = RunStats()
    stop = stop or Stop()
    requests: dict[str, int] = {}
    several = len(settings.targets) > 1
    projects = [await _prepared(each, stats, several) for each in settings.projects()]
    stats.files = sum(p.order.files for p in projects)  # known from here on, before any upload
    worker = worker_for(settings, credentials)  # a journal that cannot be shared: refused here
    # Before anything is sent: a journal out of reach, or held by another run, stops it here.
    journal = await Journal.open(engine.journal, projects=[p.id for p in projects], worker=worker)
    connector = aiohttp.TCPConnector(limit=engine.create_upload_workers + engine.upload_workers + 4)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            budget = RateBudget(engine.max_requests_per_hour)
            client = ProcoreClient(settings.procore, credentials, session, budget)
            stats.budget, stats.requests = budget, client.requests
            try:
                # The token only: refused credentials stop the run here. The targets are read
                # when the first file needs one, so a run with nothing to send asks no more.
                await client.authenticate()
                log.info(
                    "run.started",
                    root=str(settings.source.root),
                    files=stats.files,
                    projects=len(projects),
                )
                work = partial(_every_project, projects, journal, client, session, stop)
                await _supervised(engine, stats, stop, progress, handle_signals, work)
            finally:
                requests.update(client.requests)
                _tally(stats, projects, budget)
    finally:
        result = _result(stats, projects, engine.journal, requests)
        with anyio.CancelScope(shield=True):
            await settle_outcome(journal, result)
            await journal.close()
    result.interrupted = stop.stopping
    return result


def _result(
    stats: RunStats, projects: Sequence[Project], journal: JournalLocation, requests: dict[str, int]
) -> RunResult:
    """The run's result before the journal is read for its outcome."""
    result = RunResult(stats, [p.outcome for p in projects], journal, requests=requests)
    result.manifest_problems = [m for p in projects for m in p.order.manifest_problems]
    result.files_opened = sum(p.checks.opened for p in projects)
    return result


async def _every_project(
    projects: Sequence[Project],
    journal: Journal,
    client: ProcoreClient,
    session: aiohttp.ClientSession,
    stop: Stop,
) -> None:
    """The projects side by side, each through its own stages on the run's one client (its
    token and budget) and journal; with several, each one's log events carry its id."""
    async with anyio.create_task_group() as tg:
        for project in projects:
            tg.start_soon(
                _import_project,
                project,
                journal.for_project(project.id),
                client.for_project(project.id),
                session,
                stop,
                len(projects) > 1,
            )


async def _import_project(
    project: Project,
    journal: Journal,
    client: ProcoreClient,
    session: aiohttp.ClientSession,
    stop: Stop,
    named: bool,
) -> None:
    """One project's files through the stages; `named`: its log events carry its id."""
    settings = project.settings
    stats = project.checks.stats
    ledger = Ledger(journal, stats, project.tally)
    targets = Targets(client, settings.target)

    async def one_pass(leftovers: Leftovers) -> None:
        producer = Producer(
            settings,
            ledger,
            project.manifest,
            project.order,
            project.outcome.plans,
            stop,
            project.checks,
            leftovers.uploads,
        )
        stages = _stages(settings, producer, client, session, targets, leftovers)
        await _run_waves(settings.engine, stages, project.order)

    root = settings.source.root
    context = {"project": project.id} if named else {}
    with structlog.contextvars.bound_contextvars(**context):
        try:
            if journal.worker is None:  # what earlier runs left part-way, read once
                await one_pass(await journal.leftovers(root))
            else:
                await work_shared(journal, client, ledger, stop, root, one_pass)
        finally:
            project.outcome.drawings_created = targets.drawings_created


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


def _tally(stats: RunStats, projects: Sequence[Project], budget: RateBudget) -> None:
    """The counts kept outside the stages, into the run's figures."""
    stats.drawings_created = sum(p.outcome.drawings_created for p in projects)
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


async def _supervised(
    engine: EngineSettings,
    stats: RunStats,
    stop: Stop,
    progress: bool | Watcher,
    handle_signals: bool,
    work: Callable[[], Awaitable[None]],
) -> None:
    """`work` beside the progress events (or watcher) and, with `handle_signals`, the watch
    that turns a signal into a drain. A configuration error met on the way (a project's own
    area or set, checked when its first file needs a target) is raised as it is, like one met
    before the stages start."""
    try:
        async with anyio.create_task_group() as outer:
            if progress is True:
                outer.start_soon(show_progress, stats, engine.progress_interval)
            elif progress is not False:
                outer.start_soon(progress, stats)
            with anyio.CancelScope() as scope:
                if handle_signals:
                    outer.start_soon(watch_signals, stop, scope, engine.drain_timeout)
                await work()
            stats.scanning = False
            outer.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        config = _config_error_alone(group)
        if config is None:
            raise
        raise config from None


async def _run_waves(engine: EngineSettings, stages: Stages, order: Order) -> None:
    """One project's waves, one after another."""
    for wave in range(order.last_wave + 1):
        if stages.stop.stopping:
            break
        if wave:
            log.info("run.wave", wave=wave, files=len(order.in_wave(wave)))
        async with anyio.create_task_group() as tg:
            _wire(tg, engine, stages, wave, last=wave == order.last_wave)


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
