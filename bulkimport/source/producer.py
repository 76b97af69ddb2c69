"""The producer: the planner's decisions recorded in the journal and handed to the stages.

A worker among several (`engine.workers = "shared"`) claims the files it is about to upload in
small slices, just before it hands them on (the stream to the uploaders is short, so a slice is
claimed when the uploaders can take it): claimed a whole chunk at a time, the first worker to
scan would hold the whole archive and the others would wait for it. The later revisions of a
drawing number go with its first: a worker that meets the first revision (whatever it decides
for it) claims the later ones too, and they wait in its journal rows for its later waves; a
worker that meets a later revision held that way passes over it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import anyio
from anyio.abc import ObjectSendStream

from bulkimport.journal.store import Journal
from bulkimport.ledger import Ledger
from bulkimport.models import DrawingFile, Plan, Plans, Uploaded
from bulkimport.settings import Settings
from bulkimport.source.checks import Checks
from bulkimport.source.manifest import Manifest
from bulkimport.source.planner import Context, Decision, Order, decide_all, decisions
from bulkimport.stopping import Stop

CLAIM_SLICE = 20  # files a worker claims at a time


async def claimed(
    journal: Journal, decided: list[Decision], ctx: Context, followers: list[str]
) -> list[Decision]:
    """A worker's decisions: the files to upload are claimed (journal/claims.py), decided
    again from their rows as they are under the claim (another worker may have imported one
    since), and those another worker holds are left to it. `followers`, the later revisions
    of the first revisions in `decided`, are claimed with them, for a later wave."""
    wanted = [d.found for d in decided if d.file is not None]
    if not wanted and not followers:
        return decided
    later = [(rel, 0, 0) for rel in followers]  # a row to hold until their wave plans them
    held, rows = await journal.claim([(f.rel, f.size, f.mtime_ns) for f in wanted] + later)
    mine = [f for f in wanted if f.rel in held]
    again = {d.rel: d for d in await anyio.to_thread.run_sync(decide_all, mine, rows, ctx)}
    return [
        d if d.file is None else again[d.rel] for d in decided if d.file is None or d.rel in again
    ]


@dataclass(frozen=True, slots=True)
class Producer:
    settings: Settings
    ledger: Ledger
    manifest: Manifest | None
    order: Order
    plans: Plans
    stop: Stop
    checks: Checks
    uploads: Mapping[str, Uploaded]  # Leftovers.uploads: earlier uploads still to attach

    async def run(
        self,
        wave: int,
        to_upload: ObjectSendStream[DrawingFile],
        to_batch: ObjectSendStream[Uploaded],
    ) -> None:
        """Scan, record the plan in the journal, and send each file of the wave to its stage."""
        async with to_upload, to_batch:
            async for chunk in decisions(
                self.settings, self.ledger.journal, self.manifest, self.order, wave, self.uploads
            ):
                async for part in self._mine(chunk):
                    if self.stop.stopping:
                        return  # planned in the journal: the next run takes it up
                    await self._record(part)
                    await self._hand_on(part, to_upload, to_batch)

    async def _mine(self, chunk: list[Decision]) -> AsyncIterator[list[Decision]]:
        """The chunk, or for a worker, its files claimed a slice at a time."""
        journal = self.ledger.journal
        if journal.worker is None:
            yield chunk
            return
        for start in range(0, len(chunk), CLAIM_SLICE):
            part = chunk[start : start + CLAIM_SLICE]
            ctx = Context(self.settings, self.manifest, self.order, time.time(), self.uploads)
            later = [rel for d in part for rel in self.order.followers.get(d.rel, ())]
            yield await claimed(journal, part, ctx, later)

    async def _hand_on(
        self,
        part: list[Decision],
        to_upload: ObjectSendStream[DrawingFile],
        to_batch: ObjectSendStream[Uploaded],
    ) -> None:
        for d in part:
            if d.file is None:
                continue
            if self.stop.stopping:
                break  # planned in the journal: the next run takes it up
            self.ledger.queued(d.file)
            await to_upload.send(d.file)
        for d in part:
            if d.uploaded is not None:
                self.ledger.queued(None)
                await to_batch.send(d.uploaded)

    async def _record(self, chunk: list[Decision]) -> None:
        await self.ledger.plan([d.file for d in chunk if d.file is not None])
        for d in chunk:
            if d.plan == Plan.UNCHANGED and self.plans.get(d.rel) is not None and not d.restat:
                # A worker's later pass over a file an earlier pass decided (and maybe sent):
                # what this run did with it stands, and is counted once.
                continue
            if d.opened:
                self.checks.opened_for_sha256(d.file)
            self.plans[d.rel] = d.plan
            size, mtime_ns = d.found.size, d.found.mtime_ns
            await self.ledger.decided(d.rel, size, mtime_ns, d.plan, d.reason, d.restat)
