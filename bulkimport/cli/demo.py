"""`bulkimport demo`: the whole job against the built-in emulator, checked end to end.

Starts the emulator on a free loopback port, writes sample drawings into a temporary folder,
imports them with the real engine, then asks the emulator what it received and checks that
every file arrived exactly once, with the right bytes, as a revision of the right drawing. It
says what it is doing at each step, so the seconds spent writing the samples are not silent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import structlog

from bulkimport.emulator import EmulatorConfig, serve
from bulkimport.outcome import RunResult
from bulkimport.pipeline import run_import
from bulkimport.progress import Figures, follow
from bulkimport.samples import write_archive
from bulkimport.settings import Credentials, parse_settings

log = structlog.get_logger("bulkimport.cli.demo")


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    result: RunResult
    files: int
    problems: list[str]  # empty when every file arrived exactly once with the right bytes

    @property
    def ok(self) -> bool:
        return not self.problems


def check_arrivals(paths: list[Path], state: dict[str, Any]) -> list[str]:
    """Each file's bytes are attached exactly once and became exactly one revision."""
    attached = [u for u in state["uploads"] if u["attached_to"] is not None]
    by_hash: dict[str, int] = {}
    for upload in attached:
        by_hash[upload["sha256"]] = by_hash.get(upload["sha256"], 0) + 1
    problems = []
    for path in paths:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if by_hash.get(digest, 0) != 1:
            problems.append(f"{path.name}: attached {by_hash.get(digest, 0)} times")
    revisions = sum(len(d["revisions"]) for d in state["drawings"])
    if revisions != len(paths):
        problems.append(f"{revisions} revisions for {len(paths)} files")
    if state["violations"]:
        problems.append(f"the emulator saw protocol violations: {state['violations'][:3]}")
    return problems


def _log_step(text: str) -> None:
    log.info("demo.step", doing=text)


async def run_demo(
    files: int,
    workdir: Path,
    show: Callable[[Figures], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> DemoOutcome:
    """`show` draws the run's figures (the live display); `say` tells each step (a `demo.step`
    event when not given)."""
    say = say or _log_step
    folder = workdir / "drawings"
    say(f"demo: writing {files} sample drawings (one-page PDFs, 20 KB to 2 MB) into {folder}")
    paths = await anyio.to_thread.run_sync(lambda: write_archive(folder, files))
    say("demo: starting the Procore emulator on 127.0.0.1")
    async with serve(EmulatorConfig(processing_delay=0.5)) as emu:
        info = emu.startup_info()
        settings = parse_settings(
            {
                "procore": {
                    "api_base": emu.api_base,
                    "login_base": emu.login_base,
                    "company_id": info["company_id"],
                    "project_id": info["project_id"],
                },
                "source": {"root": "drawings"},
                "target": {"drawing_area": "Building A", "drawing_set": "Issued for Construction"},
                "engine": {
                    "journal": "journal.sqlite3",
                    "batch_max_wait": 1.0,
                    "verify_interval": 0.5,
                },
            },
            base=workdir,
        )
        credentials = Credentials(info["client_id"], info["client_secret"])
        say(f"demo: importing them with the real engine into {emu.api_base}")
        watcher = partial(
            follow,
            journal=settings.engine.journal,
            projects=[each.procore.project_id for each in settings.projects()],
            interval=settings.engine.progress_interval,
            show=show,
        )
        result = await run_import(settings, credentials, progress=watcher)
        say("demo: asking the emulator what it received")
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{emu.api_base}/_emulator/state?sections=uploads,drawings,violations"
            ) as reply,
        ):
            state = await reply.json()
    problems = await anyio.to_thread.run_sync(check_arrivals, paths, state)
    return DemoOutcome(result, files, problems)
