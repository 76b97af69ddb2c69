"""Follow each drawing upload until Procore has processed it; then read the files back from
Procore's drawing log (readback.py) before any of them counts as verified.

It spends few requests, since the budget is shared with the imports: one List call covers every
upload still being processed (a Show call when only one is), and the wait between checks doubles
while nothing changes. Uploads left unverified by an earlier run are followed too.
"""

from __future__ import annotations

import math

import anyio
import structlog
from anyio.abc import ObjectReceiveStream

from bulkimport.errors import ProcoreError, ProcoreRejected
from bulkimport.journal.store import Journal
from bulkimport.procore.client import ProcoreClient
from bulkimport.progress import RunStats
from bulkimport.stages.readback import read_back
from bulkimport.stages.sender import Sent
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
        except ProcoreRejected as exc:
            if exc.status != 404:
                raise
            statuses[upload_id] = GONE
        else:
            statuses[upload_id] = answer.status
    return statuses


async def verify_uploads(
    sent: ObjectReceiveStream[Sent],
    client: ProcoreClient,
    journal: Journal,
    stats: RunStats,
    interval: float,
    give_up_after: float,
    stop: Stop,
    resume: bool = True,
) -> None:
    """With `resume`, also the uploads an earlier run (or wave) left unverified."""
    earlier = await journal.unverified() if resume else {}
    pending: dict[int, int] = {k: len(v) for k, v in earlier.items()}
    processed: dict[int, str] = {}  # drawing upload -> the status it settled in
    closed = False
    wait = interval
    give_up = math.inf
    async with sent:
        while pending or not closed:
            with anyio.CancelScope(
                deadline=anyio.current_time() + wait if pending else math.inf
            ) as scope:
                while not closed:
                    try:
                        item = await sent.receive()
                    except anyio.EndOfStream:
                        closed = True
                        give_up = anyio.current_time() + give_up_after
                        break
                    pending[item.drawing_upload_id] = len(item.rels)
                    wait = interval
                    scope.deadline = min(scope.deadline, anyio.current_time() + wait)
                if closed and pending:
                    await anyio.sleep(wait)  # input is done: only the clock remains
            if not pending:
                continue
            if closed and stop.stopping:
                log.info(
                    "verify.deferred", drawing_uploads=len(pending), hint="the next run checks"
                )
                return
            try:
                statuses = await _statuses(client, sorted(pending))
            except ProcoreError as exc:  # the files are in; only news of them is late
                log.warning("verify.unavailable", error=str(exc), pending=len(pending))
                statuses = {}
            settled = [i for i in pending if statuses.get(i) in DONE | {"failed", GONE}]
            for upload_id in settled:
                status = statuses[upload_id]
                files = pending.pop(upload_id)
                if status in DONE:
                    processed[upload_id] = status
                    log.info("verify.done", drawing_upload=upload_id, status=status, files=files)
                    continue
                await journal.outcome(
                    upload_id,
                    f"drawing upload {upload_id} is no longer in Procore (deleted there); the "
                    "next run sends the file again"
                    if status == GONE
                    else f"Procore could not process drawing upload {upload_id}",
                )
                stats.failed += files
                log.error("verify.failed", drawing_upload=upload_id, files=files)
            wait = interval if settled else min(wait * 2, MAX_WAIT)
            if anyio.current_time() > give_up and pending:
                log.warning(
                    "verify.timeout",
                    unverified=sorted(pending),
                    hint="the files are imported, not yet confirmed; the next run checks them",
                )
                break
    if processed:
        await read_back(client, journal, stats, processed)
