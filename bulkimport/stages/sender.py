"""One Create Drawing Upload per batch, each with its Idempotency-Token.

The batch and its token are journalled before the request, so a retry, or a run resumed after a
crash, sends the same token and Procore answers with the original instead of importing twice.
Batches whose answer never came in an earlier run are first looked up in Procore
(prior_imports.py), since how long it remembers a token is undocumented; only those it does not
hold are resent.

Procore checks a whole batch at once. When it names bad entries, those files fail with its
reason and the others go again in a new batch. When it refuses the batch without naming any
(the reference documents a 400 and no error body for this call: procore-api.md C4), the batch is
split in halves, each journalled with a token of its own, until every bad file stands alone: a
bad file costs about 2·log2(batch size) extra calls, and its good neighbours are imported.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from bulkimport.errors import (
    ProcoreError,
    ProcoreRejected,
    ProcoreUnavailable,
    UnexpectedAnswer,
)
from bulkimport.journal.rows import PendingBatch
from bulkimport.ledger import Ledger
from bulkimport.models import Batch, Group, Sent, Uploaded
from bulkimport.procore.client import ProcoreClient
from bulkimport.stages.prior_imports import already_sent

log = structlog.get_logger("bulkimport.batch")

# Refusals of the request's content, which a smaller batch may pass; 401 and 403 are about the
# caller, and no split can help them.
SPLITTABLE = frozenset({400, 422})
# A batch this large refused without one file taken is a refusal of the batch, not of files.
WHOLE_BATCH_FILES = 4


def new_token() -> str:
    """An Idempotency-Token: unique per batch, journalled before the request."""
    return f"bulkimport-{uuid.uuid4().hex}"


def date_time(day: str) -> str:
    """A calendar day as the ISO date-time the reference asks for (procore-api.md C5). Noon UTC
    stays on the same day in every zone from UTC-12 to UTC+11; east of that it is the next day
    there, and no fixed instant can serve zones 26 hours apart."""
    return f"{day}T12:00:00Z"


def import_entry(item: Uploaded) -> dict[str, Any]:
    """One `drawing_log_imports` entry. Without a drawing_id (review), Procore reads number
    and title from the sheet; the revision and dates are still ours."""
    entry: dict[str, Any] = {
        "upload_uuid": item.uuid,
        "default_revision": item.file.revision,
        "drawing_date": date_time(item.file.drawing_date),
    }
    if item.drawing_id is not None:
        entry["drawing_id"] = item.drawing_id
    if item.file.received_date:
        entry["received_date"] = date_time(item.file.received_date)
    return entry


@dataclass(frozen=True, slots=True)
class SendStage:
    client: ProcoreClient
    ledger: Ledger
    root: Path
    # Refusals (status, message) that turned out to be about whole batches: not split again.
    batch_wide: set[tuple[int | None, str]] = field(default_factory=set)

    async def run(
        self,
        groups: ObjectReceiveStream[Group],
        out: ObjectSendStream[Sent],
        left: Sequence[PendingBatch] = (),
    ) -> None:
        """Send each group as a batch with a new token; first the batches an earlier run left
        unanswered (`left`, from the journal's leftovers), under their own."""
        async with groups, out:
            await self._resume(left, out)
            async for group in groups:
                batch = Batch(new_token(), group.target, group.items)
                await self._send(batch, out, journalled=False)

    async def _resume(self, left: Sequence[PendingBatch], out: ObjectSendStream[Sent]) -> None:
        """Batches Procore made before the earlier run heard back count as sent; the others go
        again with the token they were journalled with."""
        try:
            found = await already_sent(self.client, left)
        except ProcoreError as exc:
            # The lookup is a second guard; the journalled token is still the first.
            log.warning("batch.lookup_unavailable", error=str(exc), pending=len(left))
            found = {}
        for pending in left:
            if pending.token in found:
                rels = tuple(r.rel for r in pending.rows)
                await self.ledger.batch_sent(pending.token, found[pending.token], rels, found=True)
                await out.send(Sent(found[pending.token], rels))
                continue
            batch = pending.batch(self.root)
            log.info("batch.resend", token=batch.token, files=len(batch.items))
            await self._send(batch, out, journalled=True)

    async def _send(
        self, batch: Batch, out: ObjectSendStream[Sent], journalled: bool, part: bool = False
    ) -> int:
        """Send one batch. Returns how many of its files Procore did not refuse (after any
        split): imported, or left pending for the next run."""
        if not journalled:
            await self.ledger.batch_created(batch)
        if not batch.items:
            await self.ledger.batch_emptied(batch.token)
            return 0
        if not await self.ledger.journal.holds(batch.token):
            # A worker whose lease lapsed: the batch is another's now, who sends it (same token).
            log.warning("batch.claim_lost", token=batch.token, files=len(batch.items))
            return len(batch.items)
        self.ledger.sending()
        try:
            answer = await self.client.create_drawing_upload(
                batch.target, [import_entry(i) for i in batch.items], batch.token
            )
        except (ProcoreUnavailable, UnexpectedAnswer) as exc:
            # Left pending: the next run looks for it among the drawing uploads (an answer
            # without its id may come from an upload Procore made) or resends it, same token.
            log.error("batch.unsent", token=batch.token, files=len(batch.items), error=str(exc))
            return len(batch.items)
        except ProcoreRejected as exc:
            return await self._rejected(batch, exc, out, part)
        upload_id = answer.id
        rels = tuple(i.file.rel for i in batch.items)
        await self.ledger.batch_sent(batch.token, upload_id, rels)
        await out.send(Sent(upload_id, rels))
        return len(batch.items)

    async def _rejected(
        self, batch: Batch, exc: ProcoreRejected, out: ObjectSendStream[Sent], part: bool
    ) -> int:
        """How many of the batch's files Procore did not refuse in the end (after a split)."""
        bad = {i: reason for i, reason in exc.entries.items() if i < len(batch.items)}
        refusal = (exc.status, exc.message)
        splittable = exc.status in SPLITTABLE and len(batch.items) > 1
        if bad:
            return await self._drop_named(batch, bad, out)
        if splittable and refusal not in self.batch_wide:
            return await self._split(batch, exc, out, part)
        whole = "it" if len(batch.items) == 1 else f"the batch ({exc.status})"
        note = f"Procore refused {whole}: {exc.message}"
        if splittable:
            note += (
                "; an earlier batch refused the same way had no file Procore would take, so "
                "this one was not split to find them"
            )
        rels = [item.file.rel for item in batch.items]
        await self.ledger.batch_refused(batch.token, rels, note, exc.message)
        return 0

    async def _drop_named(
        self, batch: Batch, bad: dict[int, str], out: ObjectSendStream[Sent]
    ) -> int:
        """The files Procore named fail; the rest go again in a new batch."""
        failed = [(batch.items[i].file.rel, f"Procore refused it: {r}") for i, r in bad.items()]
        rest = tuple(i for n, i in enumerate(batch.items) if n not in bad)
        again = Batch(new_token(), batch.target, rest)
        await self.ledger.entries_refused(
            batch.token, failed, again, "split after Procore refused entries"
        )
        return await self._send_parts([again], out)

    async def _split(
        self, batch: Batch, exc: ProcoreRejected, out: ObjectSendStream[Sent], part: bool
    ) -> int:
        """Refused without a file named: the two halves go again, each with a token of its
        own, and each is split again while it is refused."""
        middle = len(batch.items) // 2
        halves = [
            Batch(new_token(), batch.target, items)
            for items in (batch.items[:middle], batch.items[middle:])
        ]
        why = "split to find the files Procore refused"
        await self.ledger.batch_halved(batch.token, halves, why, exc.status, exc.message)
        taken = await self._send_parts(halves, out)
        if taken == 0 and not part and len(batch.items) >= WHOLE_BATCH_FILES:
            # Not one file of a whole batch went in: the refusal is about the batch (its set,
            # its area, the account), not its files. Later batches refused the same way are not
            # split: that would cost two calls per file for nothing.
            self.batch_wide.add((exc.status, exc.message))
        return taken

    async def _send_parts(self, parts: Sequence[Batch], out: ObjectSendStream[Sent]) -> int:
        """The parts of a refused batch, journalled already with its closing."""
        taken = 0
        for piece in parts:
            taken += await self._send(piece, out, journalled=True, part=True)
        return taken
