"""The planner: scan the source and decide per file against the journal (producer.py
records the decisions and feeds the pipeline).

new        not in the journal                               → upload
changed    imported before, different bytes now (size or    → upload as a new revision
           mtime differ, then the sha256 confirms)
retry      failed (or skipped for a reason that may have    → upload
           changed) in an earlier run
resume     an earlier run stopped part-way: planned or      → upload
           uploading, or uploaded but too old to attach;
           uploaded and still attachable                    → straight to the batcher
unchanged  imported before and the same bytes; or skipped   → nothing
           because Procore has that revision already
skipped    not in the manifest (with manifest_only), or a   → noted, not sent
           second copy of a revision in this run
invalid    cannot be a drawing (see scan.describe)          → reported
Files in a batch whose answer never came are the sender's: it resends them first.

Deciding reads the journal and one stat per file; no file is opened except one whose size or
mtime changed since Procore took it, to tell touched bytes from changed ones by their sha256.
Whether a file is a PDF Procore can take is checked later, in the upload stage just before its
Create Upload (`checks.py`): a file that fails its check still fails before any request is
made for it, and counts as invalid.

Revision order: before anything is sent, a quick pass over the names (nothing is read) finds
drawing numbers that more than one file of the run carries. Those files are imported in waves,
the lowest revision in the first, so a later revision always reaches Procore after the earlier
one has been processed.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import anyio
import structlog

from bulkimport.errors import FileRejected
from bulkimport.journal.rows import FileRow
from bulkimport.journal.store import Journal
from bulkimport.models import DrawingFile, FileState, Plan, Uploaded
from bulkimport.settings import Settings, SourceSettings
from bulkimport.source.checks import checked_in_pool
from bulkimport.source.manifest import Manifest, ManifestProblem, ManifestRow, read_manifest
from bulkimport.source.scan import Found, describe, found_at, walk

log = structlog.get_logger("bulkimport.source.planner")

CHUNK = 500  # files per journal round trip
UPLOAD_PLANS = frozenset({Plan.NEW, Plan.CHANGED, Plan.RESUME, Plan.RETRY})


@dataclass(frozen=True, slots=True)
class Decision:
    plan: Plan
    found: Found
    file: DrawingFile | None = None  # to upload
    uploaded: Uploaded | None = None  # to batch
    reason: str | None = None  # why invalid or skipped
    restat: bool = False  # same bytes, new size/mtime: record the new stat
    opened: bool = False  # read to compare its sha256 with the journal's

    @property
    def rel(self) -> str:
        return self.found.rel


def revision_order(revision: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order: 2 before 10, A before B, numbers before letters (0, 1, A, B...)."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.casefold())
        for part in re.split(r"(\d+)", revision.strip())
        if part
    )


@dataclass(slots=True)
class Order:
    """What the pass over the names found: the wave of each file whose number repeats in this
    run (files not listed are in wave 0), and copies of a revision another file already is."""

    waves: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, str] = field(default_factory=dict)  # rel -> the rel it repeats
    # The first revision's file -> the later ones: a worker that claims the first claims them
    # all, so another worker cannot send a later revision before it (producer.py).
    followers: dict[str, list[str]] = field(default_factory=dict)
    files: int = 0
    manifest_problems: list[ManifestProblem] = field(default_factory=list)  # by line

    @property
    def last_wave(self) -> int:
        return max(self.waves.values(), default=0)

    def wave_of(self, rel: str) -> int:
        return self.waves.get(rel, 0)

    def in_wave(self, wave: int) -> list[str]:
        return [rel for rel, w in self.waves.items() if w == wave]


_Entry = tuple[tuple[tuple[int, int | str], ...], str, str | None, str, str]


def order_files(settings: Settings, manifest: Manifest | None) -> Order:
    """One pass over the names: no file is opened. Blocking: call it from a thread.

    Every file of the archive passes through here, so per drawing number it keeps only a hash
    and the first file's name (holding each file's sort key cost 60 MB at 100,000 files). The
    few files whose number repeats are described again afterwards, from their names."""
    order = Order()
    first: dict[int, str] = {}  # hash of (area, number) -> the first file that has it
    repeats: dict[int, list[str]] = {}  # hash -> every file that has it, the first included
    rows = manifest.rows if manifest else {}
    listed_and_found: set[str] = set()
    for found in walk(settings.source, rows):
        order.files += 1
        if found.rel in rows:
            listed_and_found.add(found.rel)
        if found.folder:  # unreadable: its own entry says so, not one "no such file" per row
            listed_and_found.update(rel for rel in rows if rel.startswith(found.rel))
        file = _described(found, settings, rows.get(found.rel))
        if file is None:
            continue
        key = hash((file.area.casefold(), file.number.casefold()))
        seen = first.setdefault(key, found.rel)
        if seen != found.rel:
            repeats.setdefault(key, [seen]).append(found.rel)
    del first
    if manifest is not None:
        order.manifest_problems = sorted(
            manifest.problems + manifest.unseen(listed_and_found), key=lambda p: p.line
        )
    for rels in repeats.values():
        _order_repeats(order, settings, rows, rels)
    return order


def _described(found: Found, settings: Settings, row: ManifestRow | None) -> DrawingFile | None:
    """The file from its name when it is a direct import with a number, else None: a file
    that cannot be a drawing is reported when it is decided, and Procore reads a review
    file's number itself, so there is nothing to order it by."""
    try:
        file = describe(found, settings, row)
    except FileRejected:
        return None
    return None if file.review or not file.number else file


def _order_repeats(
    order: Order, settings: Settings, rows: Mapping[str, ManifestRow], rels: list[str]
) -> None:
    """Waves and duplicates among the files whose (area, number) hash is the same: each is
    described again, and grouped by its real area and number, as two may share a hash."""
    groups: dict[tuple[str, str], list[_Entry]] = {}
    for rel in rels:
        found = found_at(settings.source, rel)
        file = _described(found, settings, rows.get(rel)) if found is not None else None
        if file is None:
            continue  # gone or renamed since the walk: deciding it says so
        entry = (
            revision_order(file.revision),
            file.drawing_date,
            file.received_date,
            file.drawing_set.casefold(),
            file.rel,
        )
        groups.setdefault((file.area.casefold(), file.number.casefold()), []).append(entry)
    for entries in groups.values():
        wave = -1
        seen: dict[tuple[object, ...], str] = {}
        for entry in sorted(entries):
            same = entry[:4]
            if same in seen:
                order.duplicates[entry[4]] = seen[same]
                continue
            seen[same] = entry[4]
            wave += 1
            if wave:
                order.waves[entry[4]] = wave
                order.followers.setdefault(next(iter(seen.values())), []).append(entry[4])


# Rows whose file Procore has taken: sent again only when the file changes.
IN_PROCORE = (FileState.IMPORTED, FileState.VERIFIED, FileState.NEEDS_REVIEW)


def held_content(row: FileRow | None) -> str | None:
    """The content Procore holds for the file, as far as the journal knows: what was read back
    (or found there), else what was sent if it may have landed; never an upload that failed."""
    if row is None:
        return None
    if row.held_sha256 is not None:
        return row.held_sha256
    return row.sha256 if row.state in IN_PROCORE else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_if_readable(path: Path) -> str | None:
    """None when the file cannot be read: its check then says why, rather than the run stop."""
    try:
        return sha256_of(path)
    except OSError:
        return None


def _attachable(row: FileRow, ctx: Context) -> Uploaded | None:
    """The upload an earlier run finished and did not attach (the journal's leftovers), if it
    still can be: Procore deletes an unattached upload after `engine.attach_deadline`."""
    fresh = (row.uploaded_at or 0) + ctx.settings.engine.attach_deadline > ctx.now
    return ctx.uploads.get(row.rel) if fresh else None


@dataclass(frozen=True, slots=True)
class Context:
    """What decide needs beyond the file and its row."""

    settings: Settings
    manifest: Manifest | None
    order: Order
    now: float  # unix seconds
    uploads: Mapping[str, Uploaded] = field(default_factory=dict)  # Leftovers.uploads


def decide(found: Found, row: FileRow | None, ctx: Context) -> Decision:
    """What to do with one file, from its stat and its journal row. Blocking (a file whose
    stat changed since Procore took it is read for its sha256): call it from a thread."""
    same_stat = row is not None and (row.size, row.mtime_ns) == (found.size, found.mtime_ns)
    opened = False
    if row is not None and row.state in IN_PROCORE:
        if same_stat:
            return Decision(Plan.UNCHANGED, found)
        if row.sha256 is not None:
            opened = True
            if _sha256_if_readable(found.path) == row.sha256:
                return Decision(Plan.UNCHANGED, found, restat=True, opened=True)
        plan = Plan.CHANGED
    elif row is not None and row.state == FileState.SKIPPED and same_stat and row.drawing_id:
        return Decision(Plan.UNCHANGED, found)  # Procore had that revision; still the same file
    elif row is not None and row.state == FileState.BATCHED:
        return Decision(Plan.RESUME, found)  # the sender resends its batch
    elif row is not None and row.state == FileState.UPLOADED and same_stat:
        item = _attachable(row, ctx)
        if item is not None:
            return Decision(Plan.RESUME, found, uploaded=item)
        plan = Plan.RESUME
    elif row is not None and row.state in (FileState.FAILED, FileState.SKIPPED):
        plan = Plan.RETRY
    elif row is not None:
        plan = Plan.RESUME
    else:
        plan = Plan.NEW
    listed: ManifestRow | None = ctx.manifest.rows.get(found.rel) if ctx.manifest else None
    if listed is None and ctx.settings.source.manifest_only and not found.folder:
        return Decision(
            Plan.SKIPPED, found, reason="not in the manifest (source.manifest_only = true)"
        )
    repeats = ctx.order.duplicates.get(found.rel)
    if repeats is not None:
        return Decision(
            Plan.SKIPPED,
            found,
            reason=f"the same drawing, revision, set and dates as {repeats}: not sent twice",
        )
    try:
        file = describe(found, ctx.settings, listed)
    except FileRejected as exc:
        return Decision(Plan.INVALID, found, reason=exc.reason, opened=opened)
    held = held_content(row)
    if held is not None:
        file = replace(file, previous_sha256=held)
    return Decision(plan, found, file=file, opened=opened)


async def decisions(
    settings: Settings,
    journal: Journal | None,
    manifest: Manifest | None,
    order: Order,
    wave: int | None = None,
    uploads: Mapping[str, Uploaded] | None = None,
) -> AsyncIterator[list[Decision]]:
    """Decisions in chunks, as the walk goes; nothing is written here. With `wave`, only the
    files of that wave: the first walks the root, later ones look up the few files the pass
    over the names put in them. `uploads` are those an earlier run left to attach."""
    files: Iterator[Found]
    if wave:
        looked_up = (found_at(settings.source, rel) for rel in order.in_wave(wave))
        files = (f for f in looked_up if f is not None)
    else:
        files = walk(settings.source, manifest.rows if manifest else ())
    while chunk := await anyio.to_thread.run_sync(lambda: list(islice(files, CHUNK))):
        if wave is not None:
            chunk = [f for f in chunk if order.wave_of(f.rel) == wave]
        rows = await journal.lookup([f.rel for f in chunk]) if journal else {}
        ctx = Context(settings, manifest, order, time.time(), uploads or {})
        yield await anyio.to_thread.run_sync(decide_all, chunk, rows, ctx)


def decide_all(chunk: list[Found], rows: dict[str, FileRow], ctx: Context) -> list[Decision]:
    return [decide(f, rows.get(f.rel), ctx) for f in chunk]


async def read_order(settings: Settings) -> tuple[Manifest | None, Order]:
    """The manifest, and the pass over the names that orders revisions: what a run and a dry
    run read before deciding anything. Each manifest problem is logged with its line."""
    path = settings.source.manifest
    manifest = await anyio.to_thread.run_sync(read_manifest, path) if path else None
    order = await anyio.to_thread.run_sync(order_files, settings, manifest)
    for problem in order.manifest_problems:
        log.error("manifest.problem", line=problem.line, path=problem.path, reason=problem.reason)
    return manifest, order


async def checked_decisions(
    chunks: AsyncIterator[list[Decision]], source: SourceSettings
) -> AsyncIterator[list[Decision]]:
    """For a dry run: the decisions with each file to upload checked as the upload stage would
    check it, so the plan lists every file that will not be sent, with its reason. The checks
    run in worker processes while the walk goes on."""
    held: deque[list[Decision]] = deque()

    async def to_check() -> AsyncIterator[list[DrawingFile]]:
        async for chunk in chunks:
            held.append(chunk)
            yield [d.file for d in chunk if d.file is not None]

    async for verdicts in checked_in_pool(to_check(), source):
        each = iter(verdicts)
        yield [_with_verdict(d, next(each)) if d.file is not None else d for d in held.popleft()]


def _with_verdict(decision: Decision, verdict: DrawingFile | str) -> Decision:
    if isinstance(verdict, str):
        return replace(decision, plan=Plan.INVALID, file=None, reason=verdict)
    return replace(decision, file=verdict)
