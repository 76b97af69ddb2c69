"""Resilience against the emulator: the request budget, short tokens, the attach deadline,
the single-instance lock, Ctrl+C, and SIGKILL at the moments that matter most."""

from __future__ import annotations

import json
import re
import signal
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from bulkimport.emulator import EmulatorConfig, RateLimits, RunningEmulator, Wan, serve, server
from bulkimport.emulator.traffic import drop_connection, endpoint_name
from bulkimport.emulator.world import World
from bulkimport.journal.store import Journal
from bulkimport.models import FileState, Ticket
from bulkimport.pipeline import run_import
from bulkimport.procore.client import ProcoreClient
from bulkimport.procore.storage import post_file
from bulkimport.report import exit_code
from bulkimport.samples import write_archive
from bulkimport.source.scan import describe, walk
from bulkimport.stages.target import Targets
from tests.journals import JournalPlace

from .clocks import EmulatorClock
from .conftest import (
    CREDENTIALS,
    config_dict,
    make_settings,
    run_command,
    run_env,
    wait_for,
    write_config,
)
from .test_run import assert_exactly_once, client_on

pytestmark = pytest.mark.anyio

DRAWING_UPLOADS = "POST /rest/v1.1/projects/{project_id}/drawing_uploads"


def seed_with_drawings(paths: list[Path]) -> dict[str, Any]:
    """The default seed, with a drawing for each file's number already in Building A."""
    numbers = sorted({re.match(r"[A-Z]+-\d+", p.name).group(0) for p in paths})  # type: ignore[union-attr]
    return {
        "clients": [
            {"client_id": CREDENTIALS.client_id, "client_secret": CREDENTIALS.client_secret}
        ],
        "companies": [
            {
                "name": "Emulated Builders Inc.",
                "projects": [
                    {
                        "name": "Riverside Tower",
                        "drawing_areas": [
                            {
                                "name": "Building A",
                                "drawings": [
                                    {"number": n, "discipline": "Architectural"} for n in numbers
                                ],
                            }
                        ],
                        "drawing_sets": [{"name": "Issued for Construction"}],
                    }
                ],
            }
        ],
    }


async def test_rate_limited_run_spends_the_budget_on_work_not_429s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Both windows on: a 10 s spike window of 80 and an 'hourly' window compressed to 20 s
    of 140 (the tighter on average). 300 revisions need about 1.05 requests each, so the run
    spans three hourly windows: an engine that ignored the windows would meet a 429 at each
    one it spent, more than three in all.

    The client waits on the emulator's clock, so a wait for a window's Reset moves Procore's
    time instead of taking real time, and the timeline (on that clock) measures the use of
    the budget in Procore's seconds."""
    paths = write_archive(tmp_path / "src", 300, min_size=1_000, max_size=3_000)
    (tmp_path / "seed.json").write_text(json.dumps(seed_with_drawings(paths)))
    limits = RateLimits(hourly_limit=140, hourly_window=20, spike_limit=80, spike_window=10)
    config = EmulatorConfig(
        processing_delay=0.5, seed_file=tmp_path / "seed.json", rate_limits=limits
    )
    async with serve(config) as emu:
        clock = EmulatorClock(emu)
        client_on(monkeypatch, clock)
        settings = make_settings(emu, tmp_path / "src", verify_interval=1.0)
        result = await run_import(settings, CREDENTIALS, progress=False)
        assert exit_code(result) == 0
        await assert_exactly_once(emu, paths)
        timeline = emu.world.ledger.timeline
        start = timeline[0][0]
        last_import = max(t for t, name in timeline if name == DRAWING_UPLOADS)
        used = sum(1 for t, _ in timeline if t <= last_import)
        allowed = (last_import - start) * 140 / 20  # the hourly window binds on average
        use = used / allowed
        refused = emu.world.ledger.rate_limited
        print(  # noqa: T201 - the issue asks for these figures in the test output
            f"budget: {used} requests in {last_import - start:.1f} s while work remained, "
            f"{allowed:.0f} allowed, use {use:.2f}, 429s {refused}"
        )
        assert use >= 0.9
        assert refused <= 3
        assert result.stats.rate_limited == refused
        # It waited for two windows' Reset (less what its requests took) on Procore's clock,
        # not in real time.
        assert sum(clock.slept) >= 20


async def test_per_endpoint_budgets_are_read_from_the_headers_and_each_is_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Procore counting each endpoint apart (procore-api.md C12), 50 calls per 'hour' of 20 s
    and 40 per 10 s each: new drawings need one Create Drawing and one Create Upload each, so
    they move at the per-endpoint bound, twice what one shared budget would allow, without a
    429 storm and without one endpoint starving while another waits for its Reset."""
    paths = write_archive(tmp_path / "src", 150, min_size=1_000, max_size=3_000)
    limits = RateLimits(
        hourly_limit=50, hourly_window=20, spike_limit=40, spike_window=10, scope="endpoint"
    )
    async with serve(EmulatorConfig(processing_delay=0.5, rate_limits=limits)) as emu:
        client_on(monkeypatch, EmulatorClock(emu))
        settings = make_settings(emu, tmp_path / "src", verify_interval=1.0)
        result = await run_import(settings, CREDENTIALS, progress=False)
        assert exit_code(result) == 0
        await assert_exactly_once(emu, paths)
        assert result.stats.budget is not None
        assert result.stats.budget.scope == "endpoint"
        timeline = emu.world.ledger.timeline
        start = timeline[0][0]
        last_import = max(t for t, name in timeline if name == DRAWING_UPLOADS)
        per_endpoint = {
            name: sum(1 for t, n in timeline if n == name and t <= last_import)
            for name in (
                "POST /rest/v1.1/projects/{project_id}/uploads",
                "POST /rest/v1.1/drawing_areas/{drawing_area_id}/drawings",
            )
        }
        allowed = (last_import - start) * 50 / 20  # each endpoint's hourly window binds
        use = {name: used / allowed for name, used in per_endpoint.items()}
        refused = emu.world.ledger.rate_limited
        print(  # noqa: T201 - the figures behind the assertions
            f"per endpoint: {per_endpoint} in {last_import - start:.1f} s, {allowed:.0f} "
            f"allowed each, use {use}, 429s {refused}"
        )
        assert min(use.values()) >= 0.85
        assert refused <= 5
        # One shared budget would have allowed half: 150 drawings at ~2 requests each.
        assert last_import - start < 150 * 2 / (50 / 20) * 0.7


async def test_max_requests_per_hour_leaves_budget_to_others(tmp_path: Path):
    paths = write_archive(tmp_path / "src", 6, min_size=1_000, max_size=2_000)
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        settings = make_settings(emu, tmp_path / "src", max_requests_per_hour=36_000)
        result = await run_import(settings, CREDENTIALS, progress=False)
        assert exit_code(result) == 0
        await assert_exactly_once(emu, paths)
        times = [t for t, _ in emu.world.ledger.timeline]
        # 36,000 an hour: one call per 0.1 s at most. One gap may look shorter when the call
        # before it was late to arrive (scheduling on a loaded machine), so the run as a whole
        # is measured; the spacing of each start is tested on a fake clock in test_pacing.py.
        assert len(times) > 10
        assert times[-1] - times[0] >= 0.1 * (len(times) - 1) - 0.05


async def test_short_lived_tokens_are_renewed_and_no_call_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Tokens live 300 s and the client reads Procore's clock, which moves on 15 s after every
    ticket: 40 tickets age the run 600 s, through more than two tokens. The client renews a
    short token at 3/4 of its life, 75 s early: a call would have to be in flight across five
    of those steps to arrive with an expired token."""
    async with serve(EmulatorConfig(processing_delay=0, token_ttl=300)) as emu:
        client_on(monkeypatch, EmulatorClock(emu), partial(TickingClient, emu=emu, step=15))
        paths = write_archive(tmp_path / "src", 40, min_size=1_000, max_size=2_000)
        settings = make_settings(emu, tmp_path / "src", upload_workers=2)
        result = await run_import(settings, CREDENTIALS, progress=False)
        assert exit_code(result) == 0
        await assert_exactly_once(emu, paths)
        assert emu.world.clock.offset >= 40 * 15
        assert emu.world.ledger.tokens_issued >= 3
        assert emu.world.ledger.rejections.get("invalid_token", 0) == 0
        tokens = sorted(emu.world.tokens.values(), key=lambda t: t.created_at)
        assert len(tokens) == emu.world.ledger.tokens_issued
        # Each renewed before the one it replaced expired, not after a call was refused.
        assert all(new.created_at < old.expires_at for old, new in pairwise(tokens))


class TickingClient(ProcoreClient):
    """A client after each of whose tickets Procore's clock moves on `step` seconds."""

    def __init__(self, *args: Any, emu: RunningEmulator, step: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._emu, self._step = emu, step

    async def create_upload(self, filename: str) -> Ticket:
        ticket = await super().create_upload(filename)
        self._emu.world.clock.advance(self._step)
        return ticket


async def upload_without_batching(
    emu, root: Path, paths: list[Path], journal: str | None = None
) -> set[str]:
    """What a run leaves when it stops after its uploads and before its batch, made with the
    engine's own scanner, client, storage POST and journal (`journal`: where, if not the
    default file)."""
    settings = make_settings(emu, root, **({"journal": journal} if journal else {}))
    store = await Journal.open(settings.engine.journal, projects=(settings.procore.project_id,))
    uuids = set()
    async with aiohttp.ClientSession() as session:
        client = ProcoreClient(settings.procore, CREDENTIALS, session)
        targets = Targets(client, settings.target)
        for found in walk(settings.source):
            file = describe(found, settings)
            await store.plan([file])
            target = await targets.target_for(file)
            index = await targets.index(target.area_id)
            await store.uploading(file.rel, await index.id_for(file), target, file.received_date)
            ticket = await client.create_upload(file.filename)
            sha256 = await post_file(session, ticket, file)
            await store.uploaded(file.rel, ticket.uuid, ticket.issued_at, sha256)
            uuids.add(ticket.uuid)
    await store.close()
    assert len(uuids) == len(paths)
    return uuids


@pytest.mark.parametrize("deadline", ["fresh", "passed"])
async def test_resumed_uploads_attach_only_within_the_deadline(
    tmp_path: Path, deadline: str, journal_location: JournalPlace
):
    """Uploads journalled by an earlier run go straight to a batch while they are younger than
    engine.attach_deadline; older ones (Procore deletes them after a week) are sent again."""
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        paths = write_archive(tmp_path / "src", 5, min_size=1_000, max_size=2_000)
        journal = journal_location.setting
        first = await upload_without_batching(emu, tmp_path / "src", paths, journal=journal)
        limit = 3600.0 if deadline == "fresh" else 0.0
        settings = make_settings(emu, tmp_path / "src", attach_deadline=limit, journal=journal)
        result = await run_import(settings, CREDENTIALS, progress=False)
        assert exit_code(result) == 0
        state = await assert_exactly_once(emu, paths)
        attached = {u["uuid"] for u in state["uploads"] if u["attached_to"] is not None}
        if deadline == "fresh":
            assert attached == first
            assert result.stats.uploaded == 0  # nothing was sent again
        else:
            assert attached.isdisjoint(first)
            assert result.stats.uploaded == len(paths)


async def test_a_second_concurrent_run_is_refused(tmp_path: Path, journal_location: JournalPlace):
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        write_archive(tmp_path / "src", 2, min_size=1_000, max_size=2_000)
        raw = config_dict(emu, tmp_path / "src", journal=journal_location.setting)
        write_config(tmp_path / "bulkimport.toml", raw)
        project = int(raw["procore"]["project_id"])
        # A run in progress (on PostgreSQL, the lock is the project's).
        holder = await Journal.open(journal_location.location, projects=(project,))
        try:
            done = await anyio.run_process(
                run_command(tmp_path / "bulkimport.toml"), env=run_env(), check=False
            )
        finally:
            await holder.close()
        assert done.returncode == 3
        assert "another bulkimport run" in done.stderr.decode()
        assert emu.world.ledger.requests == {}  # refused before a single call
        after = await anyio.run_process(
            run_command(tmp_path / "bulkimport.toml"), env=run_env(), check=False
        )
        assert after.returncode == 0  # the lock went with the holder


async def test_ctrl_c_drains_exits_3_and_the_next_run_completes(
    tmp_path: Path, journal_location: JournalPlace
):
    config = EmulatorConfig(processing_delay=0.2, wan=Wan(s3_latency=0.05))
    journal = journal_location.setting
    async with serve(config) as emu:
        paths = write_archive(tmp_path / "src", 80, min_size=1_000, max_size=4_000)
        raw = config_dict(emu, tmp_path / "src", batch_size=10, upload_workers=2, journal=journal)
        write_config(tmp_path / "bulkimport.toml", raw)
        log = tmp_path / "stderr.log"
        with log.open("wb") as stderr:
            async with await anyio.open_process(
                run_command(tmp_path / "bulkimport.toml"), env=run_env(), stderr=stderr
            ) as process:
                await wait_for(emu, "POST /{bucket}", 15)
                process.send_signal(signal.SIGINT)
                with anyio.fail_after(30):
                    await process.wait()
        assert process.returncode == 3
        lines = log.read_text().splitlines()
        events = [json.loads(line)["event"] for line in lines if line.startswith("{")]
        assert "run.stopping" in events
        reader = await Journal.open(journal_location.location, readonly=True)
        counts = await reader.counts()
        await reader.close()
        # Drained: nothing was left half-way through an upload or a batch.
        assert counts.get(FileState.UPLOADING, 0) == 0
        assert counts.get(FileState.UPLOADED, 0) == 0
        assert counts.get(FileState.BATCHED, 0) == 0
        assert counts.get(FileState.PLANNED, 0) > 0  # it stopped early, as asked
        settings = make_settings(emu, tmp_path / "src", journal=journal)
        result = await run_import(settings, CREDENTIALS, progress=False)
        assert exit_code(result) == 0
        await assert_exactly_once(emu, paths)


def lose_calls(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> anyio.Event:
    """Emulators served from here on hold each call to `endpoint` that arrives before the
    returned event is set (counted and through the gate, not acted on), and drop it when the
    event is set: Procore never acts on it and it is never answered. Later calls go through."""
    release = anyio.Event()
    build = server.api_app

    def api_app(world: World) -> web.Application:
        app = build(world)

        @web.middleware
        async def hold(request: web.Request, handler: Handler) -> web.StreamResponse:
            if endpoint_name(request) == endpoint and not release.is_set():
                await release.wait()
                raise drop_connection(request)
            return await handler(request)

        app.middlewares.append(hold)  # innermost: just before the route
        return app

    monkeypatch.setattr(server, "api_app", api_app)
    return release


@pytest.mark.parametrize("moment", ["batch_in_flight", "verifying"])
async def test_sigkill_at_a_batch_or_while_verifying_then_resume(
    tmp_path: Path, moment: str, monkeypatch: pytest.MonkeyPatch, journal_location: JournalPlace
):
    """Killed while a Create Drawing Upload is on the wire (journalled, answer not yet in), or
    while Procore processes the uploads: the rerun resends with the same token or just
    verifies, and nothing is imported twice. The emulator holds the Create Drawing Uploads
    until the kill and then loses them, so no answer can come first."""
    release = lose_calls(monkeypatch, DRAWING_UPLOADS)
    if moment == "verifying":
        release.set()  # nothing held
    async with serve(EmulatorConfig(processing_delay=2.0)) as emu:
        paths = write_archive(tmp_path / "src", 20, min_size=1_000, max_size=2_000)
        journal = journal_location.setting
        raw = config_dict(
            emu,
            tmp_path / "src",
            batch_size=10,
            batch_max_wait=60,
            verify_interval=0.2,
            journal=journal,
        )
        write_config(tmp_path / "bulkimport.toml", raw)
        async with await anyio.open_process(
            run_command(tmp_path / "bulkimport.toml"), env=run_env()
        ) as process:
            if moment == "batch_in_flight":
                await wait_for(emu, DRAWING_UPLOADS, 1)  # arrived; held, so not answered
            else:
                await wait_for(emu, "GET /rest/v1.1/projects/{project_id}/drawing_uploads", 1)
            process.send_signal(signal.SIGKILL)
        release.set()  # what was held is lost
        sent_before = emu.world.ledger.requests[DRAWING_UPLOADS]
        settings = make_settings(emu, tmp_path / "src", journal=journal)
        result = await run_import(settings, CREDENTIALS, progress=False)
        assert exit_code(result) == 0
        await assert_exactly_once(emu, paths)
        if moment == "batch_in_flight":  # the journalled batch, which Procore never acted on,
            resent = emu.world.ledger.requests[DRAWING_UPLOADS] - sent_before  # was sent again
            assert resent >= 1
        assert set(result.states) == {FileState.VERIFIED}
