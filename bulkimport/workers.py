"""Several workers on one migration (`engine.workers = "shared"`): processes, on one host or
several, each with its own credential or sharing one, that import one archive into one project
through one PostgreSQL journal.

Each worker scans the folder and plans as a single run does (the journal's upsert makes
planning the same file twice harmless), but uploads and batches only the files it holds a
claim on (journal/claims.py): a file is claimed before its Create Upload, under a lease the
worker renews while it works. A worker killed with SIGKILL stops renewing; once its lease runs
out, what it held is free again, and the next pass of any worker takes it over:

- its uploads never batched: attached by a worker of the same credential (Procore lets only
  the user who made an upload attach it), uploaded again by any other;
- its batches never answered: a worker of the same credential looks each up among Procore's
  drawing uploads and resends it, under the Idempotency-Token it was journalled with, only if
  Procore does not hold it (as a resumed run does); a worker of another credential cannot use
  the token (Procore keeps tokens per user) nor the uploads, so it looks the batch up, takes it
  as sent when Procore holds it, and otherwise closes it and gives its files back to be
  uploaded again.

A worker goes round again while another worker's live lease holds unfinished files (it may
die), and ends when nothing unfinished is left that it could take.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import structlog

from bulkimport.errors import ConfigError, ProcoreError
from bulkimport.journal import claims
from bulkimport.journal.claims import Worker
from bulkimport.journal.rows import Leftovers
from bulkimport.journal.store import Journal
from bulkimport.journal_location import JournalUrl
from bulkimport.ledger import Ledger
from bulkimport.procore.client import ProcoreClient
from bulkimport.settings import Credentials, Settings
from bulkimport.stages.prior_imports import already_sent
from bulkimport.stopping import Stop

log = structlog.get_logger("bulkimport.worker")

GIVEN_BACK = (
    "journalled by a worker of another credential that stopped before Procore made it: "
    "closed, and its files uploaded again"
)


def worker_for(settings: Settings, credentials: Credentials) -> Worker | None:
    """This process as a worker, or None for a single run. Refused before anything is opened
    or sent when the journal cannot be shared."""
    engine = settings.engine
    if engine.workers == "single":
        return None
    if not isinstance(engine.journal, JournalUrl):
        raise ConfigError(
            'engine.workers = "shared" needs a PostgreSQL journal (engine.journal = '
            '"postgresql://..."): workers claim files through it, and a SQLite file is one '
            "machine's"
        )
    if engine.lease < 1:
        raise ConfigError(f"engine.lease must be at least 1 second, got {engine.lease:g}")
    # The credential's tag, not its id: enough to tell two credentials apart in the journal.
    tag = hashlib.sha256(credentials.client_id.encode()).hexdigest()[:12]
    me = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    return Worker(me, f"credential-{tag}", engine.lease)


async def work_shared(
    journal: Journal,
    client: ProcoreClient,
    ledger: Ledger,
    stop: Stop,
    root: Path,
    one_pass: Callable[[Leftovers], Awaitable[None]],
) -> None:
    """Passes over the archive, each after taking over what others left, until none is left;
    the leases renewed all the while, and everything held let go at the end."""
    worker = journal.worker
    assert worker is not None
    log.info("worker.started", worker=worker.id, lease=worker.lease)
    before: int | None = None
    waited = False
    async with anyio.create_task_group() as tg:
        tg.start_soon(_keep_leases, journal, worker.lease / 3)
        try:
            while not stop.stopping:
                await take_over(journal, client, ledger)
                await one_pass(await journal.leftovers(root))
                # What is left unfinished is free to all between passes; another worker may
                # be quicker to it, which is as good.
                await journal.claiming(claims.release)
                left = await journal.claiming(claims.remaining)
                stuck = left.held_elsewhere == 0 and (before is not None and left.free >= before)
                if (left.held_elsewhere == 0 and left.free == 0) or (stuck and waited):
                    break
                log.info("worker.again", held_elsewhere=left.held_elsewhere, free=left.free)
                # Only a pass that others could not have added to tells whether this one is
                # stuck: while they held files, theirs may run out and be free after it.
                before = left.free if left.held_elsewhere == 0 else None
                # A dead worker's batch is renewed after its files, and made after their last
                # renewal: its lease can outlast theirs by up to a third of one, so its files
                # count as free while the batch still cannot be taken. Stuck once, wait that
                # out and look again; stuck twice, stop.
                waited = stuck
                if left.held_elsewhere or stuck:
                    await anyio.sleep(worker.lease / 2)  # theirs, until they end or die
        finally:
            with anyio.CancelScope(shield=True):
                await journal.claiming(claims.release)
            tg.cancel_scope.cancel()
    log.info("worker.done", worker=worker.id)


async def _keep_leases(journal: Journal, interval: float) -> None:
    """A lease renewed three times in its life: one late renewal does not lose it."""
    while True:
        await anyio.sleep(interval)
        await journal.claiming(claims.renew)


async def take_over(journal: Journal, client: ProcoreClient, ledger: Ledger) -> None:
    """Claim what nobody holds any more; settle at once the batches of other credentials this
    worker cannot resend (its own are resent by the sender, as a resumed run's are)."""
    await journal.claiming(claims.claim_leftovers)
    foreign = await journal.claiming(claims.held_batches, False)
    if not foreign:
        return
    try:
        found = await already_sent(client, foreign)
    except ProcoreError as exc:
        # Without the lookup there is no telling whether Procore made them: left to the
        # next pass (or a worker of their credential).
        log.warning("batch.lookup_unavailable", error=str(exc), pending=len(foreign))
        return
    for pending in foreign:
        rels = tuple(r.rel for r in pending.rows)
        if pending.token in found:
            await ledger.batch_sent(pending.token, found[pending.token], rels, found=True)
        else:
            await ledger.batch_given_back(pending.token, len(rels), GIVEN_BACK)
