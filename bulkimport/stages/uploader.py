"""The two upload pools.

Create-upload workers check each file (a whole, readable PDF: `checks.py`) before any request
is made for it, then find (or create) its drawing, then ask for its ticket just in
time: the buffer between the pools is small, so a ticket rarely waits long enough to age.
POST workers stream the file to storage. A ticket nearer its expiry than the margin (plus the
time the POST may take), or answered "Policy expired", is replaced by a new one; each
replacement is counted and logged with its reason.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import anyio
import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from bulkimport.clock import SYSTEM, Clock
from bulkimport.errors import FileRejected, PolicyExpired, ProcoreError, StorageError
from bulkimport.ledger import Ledger
from bulkimport.models import DrawingFile, Target, Ticket, Uploaded
from bulkimport.procore.client import ProcoreClient
from bulkimport.procore.retry import storage_retrier
from bulkimport.procore.storage import MIN_RATE, post_file
from bulkimport.settings import SameRevision
from bulkimport.source.checks import Checks
from bulkimport.source.planner import sha256_of
from bulkimport.stages.target import DrawingIndex, Targets, revision_key
from bulkimport.stopping import Stop

log = structlog.get_logger("bulkimport.upload")

A = TypeVar("A")
B = TypeVar("B")


def too_old(ticket: Ticket, size: int, margin: float, now: float) -> bool:
    """Too close to expiry to start a POST of `size` bytes: less left than the margin plus the
    file's time at the slowest rate allowed for. The margin never exceeds half the ticket's
    life, or tickets that live less than the margin could never be used."""
    life = ticket.expires_at - ticket.issued_at
    return ticket.expires_at - now < min(margin + size / MIN_RATE, life / 2)


async def _together(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Both results, the two awaited side by side; the first failure raised as it is (not in a
    group), the other call then cancelled."""
    results: list[Any] = [None, None]
    failures: list[Exception] = []

    async def run(index: int, call: Awaitable[Any], scope: anyio.CancelScope) -> None:
        try:
            results[index] = await call
        except Exception as exc:  # noqa: BLE001 - handed to the caller as it is
            failures.append(exc)
            scope.cancel()

    async with anyio.create_task_group() as both:
        both.start_soon(run, 0, first, both.cancel_scope)
        both.start_soon(run, 1, second, both.cancel_scope)
    if failures:
        raise failures[0]
    return results[0], results[1]


@dataclass(frozen=True, slots=True)
class Ticketed:
    file: DrawingFile
    drawing_id: int | None
    target: Target
    ticket: Ticket


@dataclass(frozen=True, slots=True)
class UploadStage:
    client: ProcoreClient
    session: aiohttp.ClientSession
    ledger: Ledger
    targets: Targets
    expiry_margin: float
    stop: Stop
    checks: Checks
    same_revision: SameRevision = "received-date"  # engine.same_revision
    clock: Clock = SYSTEM

    async def fail(self, file: DrawingFile, reason: str) -> None:
        await self.ledger.upload_failed(file.rel, reason)

    async def create_tickets(
        self, files: ObjectReceiveStream[DrawingFile], out: ObjectSendStream[Ticketed]
    ) -> None:
        async with files, out:
            async for file in files:
                if self.stop.stopping:
                    continue  # still planned: the next run takes it up
                try:
                    ready = await self._prepare(await self._checked(file))
                except FileRejected as exc:
                    await self.fail(file, exc.reason)
                    continue
                except ProcoreError as exc:
                    await self.fail(file, f"could not prepare its upload: {exc}")
                    continue
                if ready is not None:
                    await out.send(ready)

    async def _checked(self, file: DrawingFile) -> DrawingFile:
        """The file as its check lets it go, or FileRejected: before any request for it."""
        checked = await self.checks.check(file)
        if checked.review != file.review:  # a multi-page PDF, through Items to Review
            await self.ledger.plan([checked])
        return checked

    async def _prepare(self, file: DrawingFile) -> Ticketed | None:
        """Its target, its drawing (direct mode), then its ticket; None when the file is not
        to be sent (see `_same_revision`)."""
        target = await self.targets.target_for(file)
        if file.review:
            return await self._ticketed(file, None, target, None)
        index = await self.targets.index(target.area_id)
        if index.creates(file):
            # A drawing this run creates has no revision to collide with, so the file goes
            # for sure, and its ticket needs no drawing: both are asked for at once.
            drawing_id, ticket = await _together(
                index.id_for(file), self.client.create_upload(file.filename)
            )
            await self.ledger.uploading(file, drawing_id, target, None)
            return Ticketed(file, drawing_id, target, ticket)
        drawing_id = await index.id_for(file)
        note = None
        if await index.has_revision(drawing_id, revision_key(file, target.set_id)):
            placed = await self._same_revision(file, drawing_id, target, index)
            if placed is None:
                return None
            file, note = placed
        return await self._ticketed(file, drawing_id, target, note)

    async def _ticketed(
        self, file: DrawingFile, drawing_id: int | None, target: Target, note: str | None
    ) -> Ticketed:
        await self.ledger.uploading(file, drawing_id, target, note)
        return Ticketed(file, drawing_id, target, await self.client.create_upload(file.filename))

    async def _same_revision(
        self, file: DrawingFile, drawing_id: int, target: Target, index: DrawingIndex
    ) -> tuple[DrawingFile, str] | None:
        """Procore already has this revision label, set and dates on the drawing, and refuses
        a second. Content it holds already is skipped with a note. Changed content goes as a new
        revision received today (`engine.same_revision = "received-date"`), or fails with what
        to do ("fail"), or is left on purpose ("skip"). None when the file is not sent."""
        where = (
            f"Procore already has revision {file.revision} of {file.number} in this drawing set "
            f"with drawing date {file.drawing_date}"
            + (f" and received date {file.received_date}" if file.received_date else "")
        )
        sha256 = await anyio.to_thread.run_sync(sha256_of, file.path)
        if file.previous_sha256 in (None, sha256):
            note = f"{where}: skipped"
            await self._skip(file, drawing_id, note, sha256)
            return None
        policy = self.same_revision
        if policy == "skip":
            note = f"{where}; its content changed, left as it is (engine.same_revision = skip)"
            await self._skip(file, drawing_id, note, None)
            return None
        found_at = datetime.fromtimestamp(self.clock.time(), UTC).astimezone()
        today = found_at.date().isoformat()  # the local day it was found
        if policy == "received-date" and file.received_date is None:
            dated = replace(file, received_date=today)
            if not await index.has_revision(drawing_id, revision_key(dated, target.set_id)):
                note = (
                    f"{where}; its content changed, so it goes as a new revision received {today}"
                )
                log.debug("upload.new_received_date", file=file.rel, received_date=today)
                return dated, note
        reason = (
            f"{where}, and its content changed: give it a new revision label or drawing date"
            + (
                ""
                if policy == "fail"
                else f" (a received date of {file.received_date or today} is taken too)"
            )
        )
        await self.fail(file, reason)
        return None

    async def _skip(self, file: DrawingFile, drawing_id: int, note: str, sha: str | None) -> None:
        await self.ledger.skipped(file.rel, note, drawing_id, sha)

    async def _renew(self, item: Ticketed, reason: str) -> Ticketed:
        self.ledger.rerequested(item.file.rel, item.ticket.uuid, reason)
        ticket = await self.client.create_upload(item.file.filename)
        return Ticketed(item.file, item.drawing_id, item.target, ticket)

    async def post(
        self, tickets: ObjectReceiveStream[Ticketed], out: ObjectSendStream[Uploaded]
    ) -> None:
        async with tickets, out:
            async for item in tickets:
                try:
                    done = await self._post_one(item)
                except ProcoreError as exc:
                    await self.fail(item.file, f"could not get a new upload: {exc}")
                    continue
                except StorageError as exc:
                    await self.fail(item.file, f"storage refused it: {exc.code}: {exc.message}")
                    continue
                await out.send(done)

    async def _post_one(self, item: Ticketed) -> Uploaded:
        item, sha256 = await self._posted(item)
        done = Uploaded(item.file, item.ticket.uuid, item.drawing_id, item.target)
        await self.ledger.uploaded(done, item.ticket.issued_at, sha256)
        return done

    async def _posted(self, item: Ticketed) -> tuple[Ticketed, str]:
        """The file POSTed under the retry policy: the ticket that took it, and its sha256. A
        ticket too near its expiry is replaced first; one storage found expired, next time."""
        expired = False

        async def attempt() -> str:
            nonlocal item, expired
            now = self.clock.time()
            if expired or too_old(item.ticket, item.file.size, self.expiry_margin, now):
                item = await self._renew(item, "expired" if expired else "near_expiry")
            expired = False
            try:
                return await post_file(self.session, item.ticket, item.file)
            except PolicyExpired:
                expired = True
                raise

        retrying = storage_retrier(self.client.settings, self.clock, item.file.size)
        sha256 = await retrying(attempt, {"file": item.file.rel})
        return item, sha256
