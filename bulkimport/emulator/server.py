"""Builds the emulator's two sites and serves them.

Procore's API and S3 are different hosts, so the emulator listens twice: the API site (OAuth,
REST, inspection) and the storage site (browser POSTs). Both share one `World`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from aiohttp import web
from aiohttp.typedefs import Handler

from . import drawing_uploads, drawings, inspection, oauth, revisions, storage, uploads
from .access import refusals
from .clock import Clock
from .config import EmulatorConfig
from .seed import DEFAULT_SEED, load_seed_file, plant, summary, with_projects
from .traffic import gate_middleware, ledger_middleware, network_middleware, scope_of
from .world import World

MAX_API_BODY = 10 * 1024 * 1024


def build_world(config: EmulatorConfig, storage_dir: Path) -> World:
    world = World(config=config, clock=Clock(), storage_dir=storage_dir)
    seed = load_seed_file(config.seed_file) if config.seed_file else DEFAULT_SEED
    plant(world, with_projects(seed, config.projects), config.earlier_drawing_uploads)
    return world


def api_app(world: World) -> web.Application:
    @web.middleware
    async def processing(request: web.Request, handler: Handler) -> web.StreamResponse:
        drawing_uploads.settle(world)  # time moves drawing uploads along; catch up first
        return await handler(request)

    app = web.Application(
        client_max_size=MAX_API_BODY,
        middlewares=[
            ledger_middleware(world),
            network_middleware(world, scope_of),
            processing,
            gate_middleware(world),
            refusals,
        ],
    )
    for module in (oauth, drawings, revisions, uploads, drawing_uploads, inspection):
        app.router.add_routes(module.routes(world))
    return app


def storage_app(world: World) -> web.Application:
    app = web.Application(
        middlewares=[ledger_middleware(world), network_middleware(world, lambda _: "s3")]
    )
    app.router.add_routes(storage.routes(world))
    return app


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    """A served emulator: where it listens, and its world for in-process inspection."""

    world: World
    api_base: str
    s3_base: str
    port: int
    s3_port: int

    @property
    def login_base(self) -> str:
        return self.api_base

    def startup_info(self) -> dict[str, Any]:
        """The one JSON line `bulkimport emulator` prints: where to connect and as whom."""
        return {
            "api_base": self.api_base,
            "login_base": self.login_base,
            "s3_base": self.s3_base,
            "port": self.port,
            "s3_port": self.s3_port,
            "state_url": f"{self.api_base}/_emulator/state",
            **summary(self.world),
        }


@asynccontextmanager
async def serve(config: EmulatorConfig) -> AsyncIterator[RunningEmulator]:
    """Serve the emulator until the block ends; ports 0 take free ones."""
    own_storage = config.storage_dir is None
    folder = (
        Path(await anyio.to_thread.run_sync(tempfile.mkdtemp, None, "bulkimport-emulator-"))
        if config.storage_dir is None
        else config.storage_dir
    )
    await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
    world = build_world(config, folder)
    runners = [
        web.AppRunner(api_app(world), handle_signals=False, access_log=None),
        web.AppRunner(storage_app(world), handle_signals=False, access_log=None),
    ]
    try:
        for runner, port in zip(runners, (config.port, config.s3_port), strict=True):
            await runner.setup()
            await web.TCPSite(runner, config.host, port).start()
        port, s3_port = (int(r.addresses[0][1]) for r in runners)
        host = f"[{config.host}]" if ":" in config.host else config.host
        world.s3_base = f"http://{host}:{s3_port}"
        yield RunningEmulator(world, f"http://{host}:{port}", world.s3_base, port, s3_port)
    finally:
        with anyio.CancelScope(shield=True):
            for runner in runners:
                await runner.cleanup()
            if own_storage:
                await anyio.to_thread.run_sync(shutil.rmtree, folder, True)
