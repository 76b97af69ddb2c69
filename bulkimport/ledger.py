"""The one seam through which a run changes state: each transition is journalled, counted and
logged by one call, so the journal, the `RunStats` counters (the display, `bulkimport status`,
the report) and the log events cannot drift apart.

The stages write only through a `Ledger`; they read the journal through `ledger.journal`.
Events that change nothing (a retry, a look-up, a deferral) are logged where they happen.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from bulkimport.journal.store import Journal
from bulkimport.models import Batch, DrawingFile, FileState, Plan, Target, Uploaded
from bulkimport.progress import ProjectTally, RunStats

_upload_log = structlog.get_logger("bulkimport.upload")
_batch_log = structlog.get_logger("bulkimport.batch")
_verify_log = structlog.get_logger("bulkimport.stages.verify")
_readback_log = structlog.get_logger("bulkimport.stages.readback")

Outcome = tuple[str, FileState, str | None]  # what the read-back found: (rel, state, note)


class Ledger:
    def __init__(
        self, journal: Journal, stats: RunStats, tally: ProjectTally | None = None
    ) -> None:
        self.journal = journal  # for reads; every write goes through a method below
        self.stats = stats
        self.tally = tally  # the project's share, in a run over several

    def _settle(self, state: FileState, files: int = 1, sent: bool = False) -> None:
        """Files that reached a final state (`sent`: from a drawing upload Procore made)."""
        if state is FileState.VERIFIED:
            self.stats.verified += files
        elif state is FileState.NEEDS_REVIEW:
            self.stats.needs_review += files
        elif state is FileState.SKIPPED:
            self.stats.skipped += files
        else:
            self.stats.failed += files
        if self.tally is not None:
            self.tally.settled[state] += files
            if sent:
                self.tally.read_back += files

    # Planning ---------------------------------------------------------------------------

    async def plan(self, files: Sequence[DrawingFile]) -> None:
        """Files about to be imported (again): earlier progress on them is forgotten."""
        if files:
            await self.journal.plan(files)

    async def decided(
        self, rel: str, size: int, mtime_ns: int, plan: Plan, reason: str | None, restat: bool
    ) -> None:
        """The planner's decision for one file: invalid files fail, skipped ones are noted, a
        file whose bytes are the same under a new stat keeps its row with the new stat."""
        self.stats.planned[plan] += 1
        if self.tally is not None and plan == Plan.UNCHANGED:
            self.tally.unchanged += 1
        if plan == Plan.INVALID:
            await self.journal.reject(rel, size, mtime_ns, str(reason))
            self._settle(FileState.FAILED)
        elif plan == Plan.SKIPPED:
            await self.journal.reject(rel, size, mtime_ns, str(reason), FileState.SKIPPED)
            self._settle(FileState.SKIPPED)
        elif restat:
            await self.journal.touch(rel, size, mtime_ns)

    def queued(self, file: DrawingFile | None) -> None:
        """Handed to the uploaders (`file`), or an earlier upload to the batcher (None)."""
        self.stats.to_upload += 1
        if file is not None:
            self.stats.bytes_to_upload += file.size

    # Uploads ----------------------------------------------------------------------------

    async def upload_failed(self, rel: str, reason: str) -> None:
        _upload_log.error("upload.failed", file=rel, reason=reason)
        self._settle(FileState.FAILED)
        await self.journal.failed([rel], reason)

    async def uploading(
        self, file: DrawingFile, drawing_id: int | None, target: Target, note: str | None
    ) -> None:
        """On its way; its received date as it will be sent (a policy may have chosen it)."""
        await self.journal.uploading(file.rel, drawing_id, target, file.received_date, note)

    async def skipped(self, rel: str, note: str, drawing_id: int, sha256: str | None) -> None:
        """Procore has this revision already: not sent (see `Journal.skipped`)."""
        _upload_log.debug("upload.skipped", file=rel, reason=note)
        self._settle(FileState.SKIPPED)
        await self.journal.skipped(rel, note, drawing_id, sha256)

    def rerequested(self, rel: str, uuid: str, reason: str) -> None:
        """A ticket replaced before its POST: it expired, or nearly."""
        self.stats.rerequested[reason] += 1
        _upload_log.debug("upload.rerequested", file=rel, uuid=uuid, reason=reason)

    async def uploaded(self, item: Uploaded, issued_at: float, sha256: str) -> None:
        await self.journal.uploaded(item.file.rel, item.uuid, issued_at, sha256)
        self.stats.uploaded += 1
        self.stats.bytes_uploaded += item.file.size
        _upload_log.debug("upload.posted", file=item.file.rel, uuid=item.uuid)

    # Batches ----------------------------------------------------------------------------

    async def batch_created(self, batch: Batch) -> None:
        """Journalled before its request, so a retry or a later run sends the same token."""
        await self.journal.batch_created(batch)

    def sending(self) -> None:
        """A Create Drawing Upload is about to be made."""
        self.stats.batches += 1

    async def batch_sent(
        self, token: str, drawing_upload_id: int, rels: Sequence[str], found: bool = False
    ) -> None:
        """Procore made the batch's drawing upload; `found` when an earlier run's batch was
        found there rather than answered now."""
        await self.journal.batch_sent(token, drawing_upload_id)
        self.stats.imported += len(rels)
        if self.tally is not None:
            self.tally.sent += len(rels)
        event = "batch.found" if found else "batch.sent"
        _batch_log.info(event, token=token, drawing_upload=drawing_upload_id, files=len(rels))

    async def batch_given_back(self, token: str, files: int, reason: str) -> None:
        """Another credential's batch Procore does not hold: closed, its files planned again."""
        await self.journal.give_back(token, reason)
        _batch_log.info("batch.given_back", token=token, files=files)

    async def batch_emptied(self, token: str) -> None:
        await self.journal.batch_closed(token, "no files left in the batch")

    async def batch_refused(self, token: str, rels: Sequence[str], note: str, reason: str) -> None:
        """Procore refused the batch whole: its files fail with `note`."""
        await self.journal.batch_closed(token, note)
        self._settle(FileState.FAILED, len(rels))
        for rel in rels:
            _batch_log.error("import.rejected", file=rel, reason=reason)

    async def entries_refused(
        self, token: str, failed: Sequence[tuple[str, str]], rest: Batch, why: str
    ) -> None:
        """Procore named bad entries: those files fail (rel, reason), the others move to a new
        batch, and the old one closes, in one transaction."""
        for rel, reason in failed:
            self._settle(FileState.FAILED)
            _batch_log.error("import.rejected", file=rel, reason=reason)
        await self.journal.batch_split(token, failed, [rest], why)

    async def batch_halved(
        self,
        token: str,
        halves: Sequence[Batch],
        why: str,
        status: int | None,
        error: str,
    ) -> None:
        """Procore refused the batch without naming a file: its files move to `halves`, each
        a call of its own, and the old batch closes, in one transaction."""
        self.stats.split_calls += len(halves)
        files = sum(len(half.items) for half in halves)
        _batch_log.warning("batch.split", token=token, files=files, status=status, error=error)
        await self.journal.batch_split(token, (), halves, why)

    # Processing and read-back -----------------------------------------------------------

    async def processing_failed(self, drawing_upload_id: int, note: str, files: int) -> None:
        """Procore could not process the drawing upload (or it is gone): its files fail."""
        await self.journal.outcome(drawing_upload_id, note)
        self._settle(FileState.FAILED, files, sent=True)
        _verify_log.error("verify.failed", drawing_upload=drawing_upload_id, files=files)

    async def settled(self, outcomes: Sequence[Outcome]) -> None:
        """What the read-back found for each imported file."""
        if not outcomes:
            return
        await self.journal.settled(outcomes)
        for rel, state, note in outcomes:
            self._settle(state, sent=True)
            if state is FileState.NEEDS_REVIEW:
                _readback_log.warning("readback.needs_review", file=rel, reason=note)
            elif state is not FileState.VERIFIED:
                _readback_log.error("readback.missing", file=rel, reason=note)

    async def unconfirmed(self, rels: Sequence[str], note: str) -> None:
        """Files that stay imported, and why (the drawing log could not be read)."""
        await self.journal.annotate(rels, note)

    def read_back(self, files: int, places: int, requests: int) -> None:
        self.stats.readback_requests += requests
        _readback_log.info("readback.done", files=files, places=places, requests=requests)
