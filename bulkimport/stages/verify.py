"""Follow each drawing upload until Procore has processed it; then read the files back from
Procore's drawing log (readback.py) before any of them counts as verified.

It spends few requests, since the budget is shared with the imports: one List call covers every
upload still being processed (a Show call when only one is), and the wait between checks doubles
while nothing changes. Uploads left unverified by an earlier run are followed too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import anyio
import structlog
from anyio.abc import ObjectReceiveStream

from bulkimport.clock import SYSTEM, DeadlineClock, receive_until
from bulkimport.errors import NotFound, ProcoreError
from bulkimport.ledger import Ledger
from bulkimport.models import Sent
from bulkimport.procore.client import ProcoreClient
from bulkimport.stages.readback import read_back
from bulkimport.stopping import Stop

log = structlog.get_logger("bulkimport.stages.verify")

DONE = frozenset({"reviewed", "ready_for_review"})
GONE = "gone"
MAX_WAIT = 30.0


async def _statuses(client: ProcoreClient, ids: list[int]) -> dict[int, str]:
    """Each drawing upload's status: one List call for many, Show for one. GONE for one
    Procore answers 404 for (someone deleted it, e.g. in Items to Review); an upload missing
    from the List is asked for by Show before it is taken as gone."""
    statuses: dict[int, str] = {}
    if len(ids) > 1:
        listed = {u.id: u.status for u in await client.drawing_uploads()}
        statuses = {i: listed[i] for i in ids if i in listed}
    for upload_id in (i for i in ids if i not in statuses):
        try:
            answer = await client.drawing_upload(upload_id)
        except NotFound:
            statuses[upload_id] = GONE
        else:
            statuses[upload_id] = answer.status
    return statuses


async def verify_uploads(
    sent: ObjectReceiveStream[Sent],
    client: ProcoreClient,
    ledger: Ledger,
    interval: float,
    give_up_after: float,
    stop: Stop,
    unverified: Mapping[int, int] | None = None,
    clock: DeadlineClock = SYSTEM,
) -> None:
    """Follow each sent drawing upload, and those an earlier run left unverified (id -> files),
    until Procore has processed it; then read the processed ones back."""
    follow = _Follow(sent, client, ledger, interval, give_up_after, clock, dict(unverified or {}))
    async with sent:
        while follow.pending or not follow.closed:
            await follow.gather()
            if not follow.pending:
                continue
            if follow.closed and stop.stopping:
                log.info(
                    "verify.deferred",
                    drawing_uploads=len(follow.pending),
                    hint="the next run checks",
                )
                return
            await follow.check()
            if clock.now() > follow.give_up and follow.pending:
                log.warning(
                    "verify.timeout",
                    unverified=sorted(follow.pending),
                    hint="the files are imported, not yet confirmed; the next run checks them",
                )
                break
    if follow.processed:
        await read_back(client, ledger, follow.processed)


@dataclass(slots=True)
class _Follow:
    """Verify's state: the uploads it follows, and when it checks next."""

    sent: ObjectReceiveStream[Sent]
    client: ProcoreClient
    ledger: Ledger
    interval: float
    give_up_after: float  # seconds after input ends
    clock: DeadlineClock
    pending: dict[int, int] = field(default_factory=dict)  # drawing upload -> files
    processed: dict[int, str] = field(default_factory=dict)  # drawing upload -> final status
    closed: bool = False  # no more uploads will be sent
    give_up: float = math.inf  # once input is done: the time the run stops waiting
    wait: float = 0.0  # until the next check; doubles while nothing changes

    def __post_init__(self) -> None:
        self.wait = self.interval

    async def gather(self) -> None:
        """Take in sent uploads until the next check is due (while none is pending, until one
        is sent or input ends); once input is done, only the clock remains."""
        clock = self.clock
        due = clock.now() + self.wait if self.pending else math.inf
        while not self.closed:
            try:
                item = await receive_until(self.sent, clock, due)
            except anyio.EndOfStream:
                self.closed = True
                self.give_up = clock.now() + self.give_up_after
                break
            if item is None:
                return
            self.pending[item.drawing_upload_id] = len(item.rels)
            self.wait = self.interval
            due = min(due, clock.now() + self.wait)
        if self.pending:
            await clock.sleep(max(0.0, min(self.wait, due - clock.now())))

    async def check(self) -> None:
        """One look at the pending uploads: settled ones leave, the rest wait longer."""
        try:
            statuses = await _statuses(self.client, sorted(self.pending))
        except ProcoreError as exc:  # the files are in; only news of them is late
            log.warning("verify.unavailable", error=str(exc), pending=len(self.pending))
            statuses = {}
        settled = [i for i in self.pending if statuses.get(i) in DONE | {"failed", GONE}]
        for upload_id in settled:
            status = statuses[upload_id]
            files = self.pending.pop(upload_id)
            if status in DONE:
                self.processed[upload_id] = status
                log.info("verify.done", drawing_upload=upload_id, status=status, files=files)
                continue
            note = (
                f"drawing upload {upload_id} is no longer in Procore (deleted there); the "
                "next run sends the file again"
                if status == GONE
                else f"Procore could not process drawing upload {upload_id}"
            )
            await self.ledger.processing_failed(upload_id, note, files)
        self.wait = self.interval if settled else min(self.wait * 2, MAX_WAIT)
