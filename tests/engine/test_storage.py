"""The engine's storage POST against the emulator's S3 rules."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp
import pytest

from bulkimport.emulator import RunningEmulator
from bulkimport.errors import FileChanged, PolicyExpired
from bulkimport.procore.client import ProcoreClient
from bulkimport.procore.retry import Step, storage_verdict
from bulkimport.procore.storage import post_file
from bulkimport.settings import SourceSettings
from bulkimport.source.scan import describe, walk

from .conftest import emulator_state, write_pdf
from .test_scan import settings_at

pytestmark = pytest.mark.anyio


def drawing(root: Path, name: str):
    (found,) = [f for f in walk(SourceSettings(root=root)) if f.rel == name]
    return describe(found, settings_at(root))


async def test_streams_the_exact_bytes_and_returns_their_hash(
    emulator: RunningEmulator, client: ProcoreClient, tmp_path: Path
):
    content = write_pdf(tmp_path / 'A-101 "Quoted" Façade.pdf', size=3 * 1024 * 1024 + 17)
    file = drawing(tmp_path, 'A-101 "Quoted" Façade.pdf')
    ticket = await client.create_upload(file.filename)
    async with aiohttp.ClientSession() as session:
        digest = await post_file(session, ticket, file)
    assert digest == hashlib.sha256(content).hexdigest()
    (upload,) = (await emulator_state(emulator, "uploads"))["uploads"]
    assert (upload["size"], upload["sha256"]) == (len(content), digest)
    assert (await emulator_state(emulator, "violations"))["violations"] == []


async def test_an_expired_ticket_raises_policy_expired(
    emulator: RunningEmulator, client: ProcoreClient, tmp_path: Path
):
    write_pdf(tmp_path / "A-1.pdf")
    file = drawing(tmp_path, "A-1.pdf")
    ticket = await client.create_upload(file.filename)
    emulator.world.clock.advance(3600)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(PolicyExpired) as caught:
            await post_file(session, ticket, file)
    assert caught.value.status == 403
    assert storage_verdict(caught.value).step is Step.AGAIN  # with a new ticket


async def test_a_file_that_shrank_is_not_sent_short(
    emulator: RunningEmulator, client: ProcoreClient, tmp_path: Path
):
    write_pdf(tmp_path / "A-1.pdf", size=100_000)
    file = drawing(tmp_path, "A-1.pdf")
    write_pdf(tmp_path / "A-1.pdf", size=50_000)
    ticket = await client.create_upload(file.filename)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(FileChanged) as caught:
            await post_file(session, ticket, file)
    assert storage_verdict(caught.value).step is Step.FINAL
    (upload,) = (await emulator_state(emulator, "uploads"))["uploads"]
    assert upload["posted"] is False
