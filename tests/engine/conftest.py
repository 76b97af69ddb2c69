"""Engine tests run the real engine against the emulator on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulkimport.emulator import EmulatorConfig, RunningEmulator, serve
from bulkimport.procore import ProcoreClient
from bulkimport.settings import Credentials, Settings, parse_settings

CREDENTIALS = Credentials("emulator-client-id", "emulator-client-secret")


def pdf_bytes(size: int, seed: int = 0) -> bytes:
    """A PDF-looking file of exactly `size` bytes whose content depends on `seed`."""
    head = f"%PDF-1.7\n% sample {seed}\n".encode()
    tail = b"\n%%EOF\n"
    filler = hashlib.sha256(str(seed).encode()).hexdigest().encode()
    body = (filler * (size // len(filler) + 1))[: max(0, size - len(head) - len(tail))]
    return head + body + tail


def write_pdf(path: Path, size: int = 2048, seed: int = 0) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    content = pdf_bytes(size, seed)
    path.write_bytes(content)
    return content


def config_dict(emu: RunningEmulator, root: Path, **engine: Any) -> dict[str, Any]:
    info = emu.startup_info()
    return {
        "procore": {
            "api_base": emu.api_base,
            "login_base": emu.login_base,
            "company_id": info["company_id"],
            "project_id": info["project_id"],
            "max_attempts": 4,
        },
        "source": {"root": str(root)},
        "target": {"drawing_area": "Building A", "drawing_set": "Issued for Construction"},
        "engine": {
            "journal": str(root.parent / "journal.sqlite3"),
            "batch_max_wait": 0.5,
            "verify_interval": 0.05,
            "expiry_margin": 0.0,
            **engine,
        },
    }


def make_settings(emu: RunningEmulator, root: Path, **engine: Any) -> Settings:
    return parse_settings(config_dict(emu, root, **engine), base=root.parent)


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with serve(EmulatorConfig(processing_delay=0.0)) as emu:
        yield emu


@pytest.fixture
async def client(emulator: RunningEmulator) -> AsyncIterator[ProcoreClient]:
    settings = make_settings(emulator, Path(os.devnull).parent)
    async with aiohttp.ClientSession() as session:
        yield ProcoreClient(settings.procore, CREDENTIALS, session)


async def emulator_state(emu: RunningEmulator, *sections: str) -> dict[str, Any]:
    query = f"?sections={','.join(sections)}" if sections else ""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{emu.api_base}/_emulator/state{query}") as response,
    ):
        assert response.status == 200
        result: dict[str, Any] = await response.json()
        return result
