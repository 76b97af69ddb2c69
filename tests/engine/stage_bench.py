"""A bench for one stage at a time: the emulator on 127.0.0.1, a real journal (the test's: SQLite
or PostgreSQL), the engine's own client, and files uploaded the way the upload stage uploads
them."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import anyio

from bulkimport.emulator import EmulatorConfig, RunningEmulator, serve
from bulkimport.journal.rows import FileRow, PendingBatch
from bulkimport.journal.store import Journal
from bulkimport.ledger import Ledger
from bulkimport.models import Group, Sent, Uploaded
from bulkimport.procore.client import ProcoreClient
from bulkimport.procore.storage import post_file
from bulkimport.progress import RunStats
from bulkimport.settings import Credentials, Settings
from bulkimport.source.scan import describe, found_at
from bulkimport.stages.sender import SendStage
from bulkimport.stages.target import Targets
from tests.journals import JournalPlace

from .conftest import CREDENTIALS, make_settings, write_pdf


@dataclasses.dataclass
class Bench:
    """An emulator, a journal and the engine's client: what one stage needs."""

    emu: RunningEmulator
    settings: Settings
    journal: Journal
    session: aiohttp.ClientSession
    client: ProcoreClient
    stats: RunStats

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.journal, self.stats)

    def sender(self, client: ProcoreClient | None = None) -> SendStage:
        return SendStage(client or self.client, self.ledger, self.settings.source.root)

    def client_as(self, credentials: Credentials = CREDENTIALS, **procore: object) -> ProcoreClient:
        """Another client on the same session: other credentials, or another company."""
        settings = dataclasses.replace(self.settings.procore, **procore)  # type: ignore[arg-type]
        return ProcoreClient(settings, credentials, self.session)

    async def uploads(
        self, *names: str, bad: Sequence[str] = (), not_pdf: Sequence[str] = ()
    ) -> list[Uploaded]:
        """Each file written, planned and uploaded as the upload stage does it; those in `bad`
        are journalled with an upload Procore does not know, those in `not_pdf` hold bytes
        Procore cannot process."""
        targets = Targets(self.client, self.settings.target)
        done = []
        for n, name in enumerate(names):
            write_pdf(self.settings.source.root / name, seed=n)
            if name in not_pdf:
                (self.settings.source.root / name).write_bytes(b"not a PDF " * 100)
            found = found_at(self.settings.source, name)
            assert found is not None
            file = describe(found, self.settings)
            await self.journal.plan([file])
            target = await targets.target_for(file)
            drawing_id = await (await targets.index(target.area_id)).id_for(file)
            await self.journal.uploading(file.rel, drawing_id, target, file.received_date)
            if name in bad:
                uuid, sha256 = f"no-such-upload-{n}", "-"
            else:
                ticket = await self.client.create_upload(file.filename)
                uuid, sha256 = ticket.uuid, await post_file(self.session, ticket, file)
            await self.journal.uploaded(file.rel, uuid, 1_800_000_000.0, sha256)
            done.append(Uploaded(file, uuid, drawing_id, target))
        return done

    async def row(self, name: str) -> FileRow:
        return (await self.journal.lookup([name]))[name]

    def batch_states(self) -> list[str]:
        """Each batch's status, in the order they were journalled."""
        path = self.journal.path
        backend = "sqlite" if isinstance(path, Path) else "postgresql"
        place = JournalPlace(backend, str(path), self.settings.source.root.parent)
        return [s for (s,) in place.rows("SELECT status FROM batches ORDER BY created_at")]


@asynccontextmanager
async def bench(tmp_path: Path, **config: object) -> AsyncIterator[Bench]:
    config = {"processing_delay": 0.0, **config}
    async with serve(EmulatorConfig(**config)) as emu:  # type: ignore[arg-type]
        settings = make_settings(emu, tmp_path / "src")
        journal = await Journal.open(
            settings.engine.journal, projects=(settings.procore.project_id,)
        )
        try:
            async with aiohttp.ClientSession() as session:
                client = ProcoreClient(settings.procore, CREDENTIALS, session)
                yield Bench(emu, settings, journal, session, client, RunStats())
        finally:
            await journal.close()


async def send(
    sender: SendStage, *groups: Sequence[Uploaded], left: Sequence[PendingBatch] = ()
) -> list[set[str]]:
    """Run the sender over `groups` (each one batch) to the end of input: the files of each
    drawing upload Procore made, in order."""
    groups_tx, groups_rx = anyio.create_memory_object_stream[Group](len(groups) + 1)
    sent_tx, sent_rx = anyio.create_memory_object_stream[Sent](64)
    async with groups_tx:
        for items in groups:
            await groups_tx.send(Group(items[0].target, tuple(items)))
    async with sent_rx:
        await sender.run(groups_rx, sent_tx, left)
        return [set(s.rels) async for s in sent_rx]
