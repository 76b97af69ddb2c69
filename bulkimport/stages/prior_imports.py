"""Batches an earlier run left unanswered, looked up in Procore before they are sent again.

A resent batch carries the Idempotency-Token it was journalled with, and Procore answers a
repeated token with the drawing upload it made. How long Procore remembers a token is not
documented, though (procore-api.md, section 13). So before a journalled batch is resent, the
project's drawing uploads are read with their imports, and a batch whose files are all there
already, as one drawing upload in its area and set made after the batch was journalled, is
taken as sent: never sent twice. Each drawing upload answers for one batch at most; an entry
carries no upload id, so two batches of the same names, revisions and dates could otherwise
claim the same one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import PurePosixPath

import structlog

from bulkimport.journal.rows import FileRow, PendingBatch
from bulkimport.procore.answers import ListedDrawingUpload, ListedImport, day
from bulkimport.procore.client import ProcoreClient

log = structlog.get_logger("bulkimport.batch")

# filename, drawing, revision, drawing day, received day: what one import entry is.
EntryKey = tuple[str, int | None, str, str | None, str | None]
# How far Procore's clock may run behind ours when its created_at is compared with the time a
# batch was journalled (the journal's clock is the local one).
CLOCK_SLACK = 900.0


def row_entry(row: FileRow) -> EntryKey:
    return (
        PurePosixPath(row.rel).name,
        row.drawing_id,
        str(row.revision or "").casefold(),
        day(row.drawing_date),
        day(row.received_date),
    )


def listed_entry(entry: ListedImport) -> EntryKey:
    return (
        entry.filename,
        entry.drawing_id,
        entry.revision.casefold(),
        entry.drawing_date,
        entry.received_date,
    )


def same_batch(batch: PendingBatch, upload: ListedDrawingUpload) -> bool:
    """Whether a drawing upload Procore has is this batch: made after the batch was journalled,
    in the same area and set, with the same import entries, no more and no fewer."""
    imports = upload.imports
    if not batch.rows or imports is None or len(imports) != len(batch.rows):
        return False
    made = upload.created_at
    if made is None or made < batch.created_at - CLOCK_SLACK:
        return False  # older than the batch: an earlier import of the same files
    set_ids = {e.set_id or upload.set_id or 0 for e in imports}
    area_id = upload.area_id
    if set_ids != {batch.set_id} or (area_id is not None and area_id != batch.area_id):
        return False
    return Counter(listed_entry(e) for e in imports) == Counter(row_entry(r) for r in batch.rows)


async def already_sent(client: ProcoreClient, batches: Sequence[PendingBatch]) -> dict[str, int]:
    """Token -> drawing upload id, for each of `batches` Procore already holds. Reads every
    page of the project's drawing uploads, stopping once all are found."""
    found: dict[str, int] = {}
    if not batches:
        return found
    async for page in client.drawing_uploads_with_imports():
        for upload in page:
            for batch in batches:
                if batch.token not in found and same_batch(batch, upload):
                    found[batch.token] = upload.id
                    break  # this drawing upload is that batch's, and no other's
        if len(found) == len(batches):
            break
    log.info("batch.lookup", pending=len(batches), found=len(found))
    return found
