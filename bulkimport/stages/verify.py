"""Follow each drawing upload until Procore has processed it; then read the files back from
Procore's drawing log (readback.py) before any of them counts as verified.

It spends few requests, since the budget is shared with the imports: a check costs at most one
request per upload still being processed, and the wait between checks doubles while nothing
changes. The List of drawing uploads has no filter (procore-api.md C14): on a project with
thousands of earlier drawing uploads it is many pages, so a check reads it only while its pages
left are fewer than the uploads it has not shown yet, and asks for the others by Show. Uploads
left unverified by an earlier run are followed too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import anyio
import structlog
from anyio.abc import ObjectReceiveStream

from bulkimport.clock import SYSTEM, DeadlineClock, receive_until
from bulkimport.errors import NotFound, ProcoreError, ProcoreRejected
from bulkimport.ledger import Ledger
from bulkimport.models import Sent
from bulkimport.procore.client import ProcoreClient
from bulkimport.stages.readback import read_back
from bulkimport.stopping import Stop

log = structlog.get_logger("bulkimport.stages.verify")

DONE = frozenset({"reviewed", "ready_for_review"})
GONE = "gone"
MAX_WAIT = 30.0


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
    # Pages the List takes, as its last answer said: None before one did; inf when the
    # answer did not say, or Procore refused the List (Show costs what it says, so it wins).
    list_pages: float | None = None

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
        statuses: dict[int, str] = {}
        try:
            await self._statuses(sorted(self.pending), statuses)
        except ProcoreError as exc:  # the files are in; only news of them is late
            log.warning("verify.unavailable", error=str(exc), pending=len(self.pending))
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

    async def _statuses(self, ids: list[int], statuses: dict[int, str]) -> None:
        """Into `statuses`, each upload's status, for at most one request per upload: the List
        when it is cheaper (`_listed`), then Show for those it did not show, as many as that
        allowance leaves (any other waits for the next check). GONE for one Procore answers
        404 for (someone deleted it, e.g. in Items to Review): an upload missing from the List
        is asked for by Show before it is taken as gone."""
        allowance = len(ids)
        # One upload is one Show: only for more can the List cost less. Its length is known
        # from its last answer; before one, its first page tells it (and on a young project
        # is the whole List). That page is asked for at the usual size rather than as a small
        # probe: only an answer at that size says how large a page Procore grants.
        if len(ids) > 1 and (self.list_pages is None or self.list_pages < len(ids)):
            allowance -= await self._listed(set(ids), statuses)
        for upload_id in [i for i in ids if i not in statuses][:allowance]:
            try:
                answer = await self.client.drawing_upload(upload_id)
            except NotFound:
                statuses[upload_id] = GONE
            else:
                statuses[upload_id] = answer.status

    async def _listed(self, wanted: set[int], statuses: dict[int, str]) -> int:
        """Read the List page by page into `statuses` (the `wanted` uploads only), while the
        pages left are fewer than the wanted uploads not seen yet, and never more pages than
        there are wanted uploads; the pages read. Every page says the List's size afresh, so
        one that grew while it was read is priced as it now is."""
        read = 0
        try:
            async for page in self.client.drawing_upload_pages():
                read += 1
                statuses.update((u.id, u.status) for u in page.items if u.id in wanted)
                self.list_pages = math.inf if page.size is None else page.size.pages
                unseen = len(wanted) - len(statuses)
                if not unseen or read >= len(wanted) or self.list_pages - read >= unseen:
                    break
        except ProcoreRejected as exc:
            # Refused (the account may not list drawing uploads): Show still answers. The
            # refused call counts against this check's allowance too.
            read += 1
            self.list_pages = math.inf
            log.warning("verify.list_refused", error=str(exc), hint="asking for each by Show")
        return read
