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

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from bulkimport.errors import ProcoreError, ProcoreRejected, ProcoreUnavailable
from bulkimport.journal.store import Journal, PendingBatch
from bulkimport.models import Batch, Target, Uploaded
from bulkimport.procore.client import ProcoreClient
from bulkimport.progress import RunStats
from bulkimport.source.planner import file_from_row
from bulkimport.stages.batcher import new_token
from bulkimport.stages.prior_imports import already_sent

log = structlog.get_logger("bulkimport.batch")

_ENTRY = re.compile(r"drawing_log_imports\[(\d+)\]")
# Refusals of the request's content, which a smaller batch may pass; 401 and 403 are about the
# caller, and no split can help them.
SPLITTABLE = frozenset({400, 422})
# A batch this large refused without one file taken is a refusal of the batch, not of files.
WHOLE_BATCH_FILES = 4


@dataclass(frozen=True, slots=True)
class Sent:
    """A drawing upload Procore accepted, and the files in it: for the verifier."""

    drawing_upload_id: int
    rels: tuple[str, ...]


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


def entry_errors(body: Any) -> dict[int, str]:
    """Procore's per-entry reasons from a 422 body, by index in the batch."""
    errors = body.get("errors") if isinstance(body, dict) else None
    found: dict[int, str] = {}
    if isinstance(errors, dict):
        for key, messages in errors.items():
            match = _ENTRY.match(str(key))
            if match:
                text = ", ".join(map(str, messages)) if isinstance(messages, list) else messages
                field = str(key)[match.end() :].lstrip(".") or "entry"
                index = int(match.group(1))
                found[index] = "; ".join(filter(None, [found.get(index), f"{field} {text}"]))
    return found


@dataclass(frozen=True, slots=True)
class SendStage:
    client: ProcoreClient
    journal: Journal
    stats: RunStats
    root: Path
    # Refusals (status, message) that turned out to be about whole batches: not split again.
    batch_wide: set[tuple[int | None, str]] = field(default_factory=set)

    async def run(
        self, batches: ObjectReceiveStream[Batch], out: ObjectSendStream[Sent], resend: bool
    ) -> None:
        """Send each batch; with `resend`, first those an earlier run left unanswered."""
        async with batches, out:
            left = await self.journal.pending_batches() if resend else []
            try:
                found = await already_sent(self.client, left)
            except ProcoreError as exc:
                # The lookup is a second guard; the journalled token is still the first.
                log.warning("batch.lookup_unavailable", error=str(exc), pending=len(left))
                found = {}
            for pending in left:
                if pending.token in found:
                    await self._found(pending, found[pending.token], out)
                    continue
                target = Target(pending.area_id, pending.set_id, pending.review)
                items = tuple(
                    Uploaded(file_from_row(r, self.root), str(r.upload_uuid), r.drawing_id, target)
                    for r in pending.rows
                )
                batch = Batch(pending.token, target, items)
                log.info("batch.resend", token=batch.token, files=len(items))
                await self._send(batch, out, journalled=True)
            async for batch in batches:
                await self._send(batch, out, journalled=False)

    async def _found(
        self, pending: PendingBatch, upload_id: int, out: ObjectSendStream[Sent]
    ) -> None:
        """Procore made this batch's drawing upload before the earlier run heard back."""
        await self.journal.batch_sent(pending.token, upload_id)
        self.stats.imported += len(pending.rows)
        log.info(
            "batch.found", token=pending.token, drawing_upload=upload_id, files=len(pending.rows)
        )
        await out.send(Sent(upload_id, tuple(r.rel for r in pending.rows)))

    async def _send(
        self, batch: Batch, out: ObjectSendStream[Sent], journalled: bool, part: bool = False
    ) -> int:
        """Send one batch. Returns how many of its files Procore did not refuse (after any
        split): imported, or left pending for the next run."""
        if not journalled:
            await self.journal.batch_created(batch)
        if not batch.items:
            await self.journal.batch_closed(batch.token, "no files left in the batch")
            return 0
        self.stats.batches += 1
        try:
            answer = await self.client.create_drawing_upload(
                batch.target, [import_entry(i) for i in batch.items], batch.token
            )
        except ProcoreUnavailable as exc:
            # Left pending: the next run resends it with the same token.
            log.error("batch.unsent", token=batch.token, files=len(batch.items), error=str(exc))
            return len(batch.items)
        except ProcoreRejected as exc:
            return await self._rejected(batch, exc, out, part)
        upload_id = answer.id
        await self.journal.batch_sent(batch.token, upload_id)
        self.stats.imported += len(batch.items)
        log.info("batch.sent", token=batch.token, drawing_upload=upload_id, files=len(batch.items))
        await out.send(Sent(upload_id, tuple(i.file.rel for i in batch.items)))
        return len(batch.items)

    async def _rejected(
        self, batch: Batch, exc: ProcoreRejected, out: ObjectSendStream[Sent], part: bool
    ) -> int:
        """How many of the batch's files Procore did not refuse in the end (after a split)."""
        named = entry_errors(exc.body) if exc.status == 422 else {}
        bad = {i: reason for i, reason in named.items() if i < len(batch.items)}
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
        await self.journal.batch_closed(batch.token, note)
        self.stats.failed += len(batch.items)
        for item in batch.items:
            log.error("import.rejected", file=item.file.rel, reason=exc.message)
        return 0

    async def _drop_named(
        self, batch: Batch, bad: dict[int, str], out: ObjectSendStream[Sent]
    ) -> int:
        failed = [(batch.items[i].file.rel, f"Procore refused it: {r}") for i, r in bad.items()]
        for rel, reason in failed:
            self.stats.failed += 1
            log.error("import.rejected", file=rel, reason=reason)
        rest = tuple(i for n, i in enumerate(batch.items) if n not in bad)
        return await self._resend_as(
            batch, [rest], "split after Procore refused entries", out, failed
        )

    async def _split(
        self, batch: Batch, exc: ProcoreRejected, out: ObjectSendStream[Sent], part: bool
    ) -> int:
        middle = len(batch.items) // 2
        halves = [batch.items[:middle], batch.items[middle:]]
        self.stats.split_calls += len(halves)
        log.warning(
            "batch.split",
            token=batch.token,
            files=len(batch.items),
            status=exc.status,
            error=exc.message,
        )
        taken = await self._resend_as(batch, halves, "split to find the files Procore refused", out)
        if taken == 0 and not part and len(batch.items) >= WHOLE_BATCH_FILES:
            # Not one file of a whole batch went in: the refusal is about the batch (its set,
            # its area, the account), not its files. Later batches refused the same way are not
            # split: that would cost two calls per file for nothing.
            self.batch_wide.add((exc.status, exc.message))
        return taken

    async def _resend_as(
        self,
        batch: Batch,
        parts: list[tuple[Uploaded, ...]],
        why: str,
        out: ObjectSendStream[Sent],
        failed: Sequence[tuple[str, str]] = (),
    ) -> int:
        """The batch's files again in new batches, each with its own token, journalled with
        the refused files and the old batch's closing in one transaction."""
        again = [Batch(new_token(), batch.target, items) for items in parts]
        await self.journal.batch_split(batch.token, failed, again, why)
        taken = 0
        for piece in again:
            taken += await self._send(piece, out, journalled=True, part=True)
        return taken
