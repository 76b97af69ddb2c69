"""The producer: scan the source, decide per file against the journal, feed the pipeline.

new        not in the journal                               → upload
changed    imported before, different bytes now (size or    → upload as a new revision
           mtime differ, then the sha256 confirms)
retry      failed in an earlier run                         → upload
resume     an earlier run stopped part-way: planned or      → upload
           uploading, or uploaded but too old to attach;
           uploaded and still attachable                    → straight to the batcher
unchanged  imported before and the same bytes               → nothing
invalid    cannot be a drawing (see scan.describe)          → reported
Files in a batch whose answer never came are the sender's: it resends them first.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import anyio
from anyio.abc import ObjectSendStream

from .errors import FileRejected
from .journal import FileRow, Journal
from .models import DrawingFile, FileState, Plan, Uploaded
from .progress import RunStats
from .scan import Found, describe, walk
from .settings import Settings
from .stopping import Stop

CHUNK = 500  # files per journal round trip


@dataclass(frozen=True, slots=True)
class Decision:
    plan: Plan
    found: Found
    file: DrawingFile | None = None  # to upload
    uploaded: Uploaded | None = None  # to batch
    reason: str | None = None  # why invalid
    restat: bool = False  # same bytes, new size/mtime: record the new stat

    @property
    def rel(self) -> str:
        return self.found.rel


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def file_from_row(row: FileRow, root: Path) -> DrawingFile:
    """The DrawingFile a journal row describes (for batches and uploads resumed as they were)."""
    return DrawingFile(
        path=root / row.rel,
        rel=row.rel,
        size=row.size,
        mtime_ns=row.mtime_ns,
        number=str(row.number),
        title=row.title,
        revision=str(row.revision),
        discipline=str(row.discipline),
        drawing_date=str(row.drawing_date),
    )


def decide(found: Found, row: FileRow | None, settings: Settings, now: float) -> Decision:
    """What to do with one file. Blocking (it may read the file): call it from a thread."""
    same_stat = row is not None and (row.size, row.mtime_ns) == (found.size, found.mtime_ns)
    if row is not None and row.state in (FileState.IMPORTED, FileState.VERIFIED):
        if same_stat:
            return Decision(Plan.UNCHANGED, found)
        if row.sha256 is not None and sha256_of(found.path) == row.sha256:
            return Decision(Plan.UNCHANGED, found, restat=True)
        plan = Plan.CHANGED
    elif row is not None and row.state == FileState.BATCHED:
        return Decision(Plan.RESUME, found)  # the sender resends its batch
    elif row is not None and row.state == FileState.UPLOADED and same_stat:
        fresh = (row.uploaded_at or 0) + settings.engine.attach_deadline > now
        if fresh and row.upload_uuid and row.drawing_id:
            item = Uploaded(
                file_from_row(row, settings.source.root), row.upload_uuid, row.drawing_id
            )
            return Decision(Plan.RESUME, found, uploaded=item)
        plan = Plan.RESUME
    elif row is not None and row.state == FileState.FAILED:
        plan = Plan.RETRY
    elif row is not None:
        plan = Plan.RESUME
    else:
        plan = Plan.NEW
    try:
        return Decision(plan, found, file=describe(found, settings.source))
    except FileRejected as exc:
        return Decision(Plan.INVALID, found, reason=exc.reason)


async def decisions(settings: Settings, journal: Journal | None) -> AsyncIterator[list[Decision]]:
    """Decisions in chunks, as the walk goes; nothing is written here."""
    files = walk(settings.source)
    while chunk := await anyio.to_thread.run_sync(lambda: list(islice(files, CHUNK))):
        rows = await journal.lookup([f.rel for f in chunk]) if journal else {}
        yield await anyio.to_thread.run_sync(decide_all, chunk, rows, settings)


def decide_all(chunk: list[Found], rows: dict[str, FileRow], settings: Settings) -> list[Decision]:
    now = time.time()
    return [decide(f, rows.get(f.rel), settings, now) for f in chunk]


async def produce(
    settings: Settings,
    journal: Journal,
    stats: RunStats,
    plans: dict[str, Plan],
    to_upload: ObjectSendStream[DrawingFile],
    to_batch: ObjectSendStream[Uploaded],
    stop: Stop,
) -> None:
    """Scan, record the plan in the journal, and send each file to its stage."""
    async with to_upload, to_batch:
        async for chunk in decisions(settings, journal):
            if stop.stopping:
                break
            uploads = [d.file for d in chunk if d.file is not None]
            await journal.plan(uploads)
            for d in chunk:
                plans[d.rel] = d.plan
                stats.planned[d.plan] += 1
                if d.plan == Plan.INVALID:
                    await journal.reject(d.rel, d.found.size, d.found.mtime_ns, str(d.reason))
                    stats.failed += 1
                elif d.restat:
                    await journal.touch(d.rel, d.found.size, d.found.mtime_ns)
            for file in uploads:
                if stop.stopping:
                    break  # planned in the journal: the next run takes it up
                stats.to_upload += 1
                stats.bytes_to_upload += file.size
                await to_upload.send(file)
            for d in chunk:
                if d.uploaded is not None:
                    stats.to_upload += 1
                    await to_batch.send(d.uploaded)
        stats.scanning = False
