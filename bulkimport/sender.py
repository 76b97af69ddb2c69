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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from .batcher import new_token
from .errors import ProcoreError, ProcoreRejected, ProcoreUnavailable
from .journal import Journal, PendingBatch
from .models import Batch, Target, Uploaded
from .planner import file_from_row
from .prior_imports import already_sent
from .procore import ProcoreClient
from .progress import RunStats

log = structlog.get_logger("bulkimport.batch")

_ENTRY = re.compile(r"drawing_log_imports\[(\d+)\]")
# Refusals of the request's content, which a smaller batch may pass; 401 and 403 are about the
# caller, and no split can help them.
SPLITTABLE = frozenset({400, 422})


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

    async def _send(self, batch: Batch, out: ObjectSendStream[Sent], journalled: bool) -> None:
        if not journalled:
            await self.journal.batch_created(batch)
        if not batch.items:
            await self.journal.batch_closed(batch.token, "no files left in the batch")
            return
        self.stats.batches += 1
        try:
            answer = await self.client.create_drawing_upload(
                batch.target, [import_entry(i) for i in batch.items], batch.token
            )
        except ProcoreUnavailable as exc:
            # Left pending: the next run resends it with the same token.
            log.error("batch.unsent", token=batch.token, files=len(batch.items), error=str(exc))
            return
        except ProcoreRejected as exc:
            await self._rejected(batch, exc, out)
            return
        upload_id = int(answer["id"])
        await self.journal.batch_sent(batch.token, upload_id)
        self.stats.imported += len(batch.items)
        log.info("batch.sent", token=batch.token, drawing_upload=upload_id, files=len(batch.items))
        await out.send(Sent(upload_id, tuple(i.file.rel for i in batch.items)))

    async def _rejected(
        self, batch: Batch, exc: ProcoreRejected, out: ObjectSendStream[Sent]
    ) -> None:
        bad = entry_errors(exc.body) if exc.status == 422 else {}
        if bad:
            await self._drop_named(batch, bad, out)
        elif exc.status in SPLITTABLE and len(batch.items) > 1:
            await self._split(batch, exc, out)
        else:
            whole = "it" if len(batch.items) == 1 else f"the batch ({exc.status})"
            await self.journal.batch_closed(batch.token, f"Procore refused {whole}: {exc.message}")
            self.stats.failed += len(batch.items)
            for item in batch.items:
                log.error("import.rejected", file=item.file.rel, reason=exc.message)

    async def _drop_named(
        self, batch: Batch, bad: dict[int, str], out: ObjectSendStream[Sent]
    ) -> None:
        for index, reason in sorted(bad.items()):
            if index < len(batch.items):
                rel = batch.items[index].file.rel
                await self.journal.failed([rel], f"Procore refused it: {reason}")
                self.stats.failed += 1
                log.error("import.rejected", file=rel, reason=reason)
        rest = tuple(i for n, i in enumerate(batch.items) if n not in bad)
        await self._resend_as(batch, [rest], "split after Procore refused entries", out)

    async def _split(self, batch: Batch, exc: ProcoreRejected, out: ObjectSendStream[Sent]) -> None:
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
        await self._resend_as(batch, halves, "split to find the files Procore refused", out)

    async def _resend_as(
        self,
        batch: Batch,
        parts: list[tuple[Uploaded, ...]],
        why: str,
        out: ObjectSendStream[Sent],
    ) -> None:
        """The batch's files again in new batches, each with its own token. Every part is
        journalled (moving its files out of the old batch) before the old one is closed, so a
        run killed in between resends the parts, never the old batch."""
        again = [Batch(new_token(), batch.target, part) for part in parts]
        for part in again:
            await self.journal.batch_created(part)
        await self.journal.batch_closed(batch.token, why)
        for part in again:
            await self._send(part, out, journalled=True)
