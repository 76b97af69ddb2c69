"""What the journal gives back: a file's row, a batch left unanswered, what earlier runs left,
and how each rebuilds the engine's values (a DrawingFile, an Uploaded, a Batch)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bulkimport.journal.database import Row
from bulkimport.models import Batch, DrawingFile, FileState, Target, Uploaded

# Imported, and not yet seen in the drawing log: each run reads these back again (a sheet in
# Items to Review reaches the log once a person has reviewed it).
WAITING = (FileState.IMPORTED, FileState.NEEDS_REVIEW)
UNCONFIRMED = "sent, but not confirmed"  # how a note on a file still waiting for the log begins


@dataclass(frozen=True, slots=True)
class FileRow:
    project_id: int  # the Procore project the file goes to; its path is unique within it
    rel: str
    size: int
    mtime_ns: int
    sha256: str | None
    held_sha256: str | None
    number: str | None
    title: str | None
    revision: str | None
    discipline: str | None
    drawing_date: str | None
    received_date: str | None
    area: str | None
    drawing_set: str | None
    review: bool
    state: FileState
    upload_uuid: str | None
    uploaded_at: float | None
    drawing_id: int | None
    area_id: int | None
    set_id: int | None
    batch_id: str | None
    drawing_upload_id: int | None
    error: str | None
    # Which credential made the upload (a worker's tag; None outside worker mode): only that
    # credential's user can attach it.
    owner: str | None = None

    def drawing_file(self, root: Path) -> DrawingFile:
        """The file as the row describes it (for uploads and batches taken up again)."""
        return DrawingFile(
            path=root / self.rel,
            rel=self.rel,
            size=self.size,
            mtime_ns=self.mtime_ns,
            number=str(self.number or ""),
            title=self.title,
            revision=str(self.revision),
            discipline=self.discipline,
            drawing_date=str(self.drawing_date),
            area=str(self.area or ""),
            drawing_set=str(self.drawing_set or ""),
            received_date=self.received_date,
            review=self.review,
        )

    def upload(self, root: Path, target: Target) -> Uploaded:
        """The row's upload, to be attached at `target`."""
        return Uploaded(self.drawing_file(root), str(self.upload_uuid), self.drawing_id, target)

    def attachable(self, root: Path) -> Uploaded | None:
        """The upload the row holds, where it was meant to go; None when it cannot be attached
        (no uuid, no place, or a direct import with no drawing)."""
        placed = self.area_id is not None and self.set_id is not None
        if not (placed and self.upload_uuid and (self.drawing_id or self.review)):
            return None
        return self.upload(root, Target(int(self.area_id or 0), int(self.set_id or 0), self.review))


@dataclass(frozen=True, slots=True)
class PendingBatch:
    token: str
    area_id: int
    set_id: int
    review: bool
    rows: tuple[FileRow, ...]
    created_at: float  # unix seconds, when it was journalled (before its request)
    project_id: int  # the Procore project it imports into

    def batch(self, root: Path) -> Batch:
        """The batch to send again, under the same token."""
        target = Target(self.area_id, self.set_id, self.review)
        return Batch(self.token, target, tuple(r.upload(root, target) for r in self.rows))


@dataclass(frozen=True, slots=True)
class Leftovers:
    """What earlier runs left part-way, read from the journal once, when a run starts; the
    pipeline hands each stage its part in the first wave."""

    # Uploaded and not batched, by rel: the planner sends each straight to the batcher when its
    # file is unchanged and the upload is young enough to attach. Few: at most what the
    # pipeline's buffers and open batches held when the earlier run stopped.
    uploads: Mapping[str, Uploaded] = field(default_factory=dict)
    # Journalled and never answered: looked up in Procore, then resent with the same token.
    batches: tuple[PendingBatch, ...] = ()
    # Drawing uploads whose files wait for Procore's processing: id -> how many files.
    unverified: Mapping[int, int] = field(default_factory=dict)


def row_from(record: Row) -> FileRow:
    """A file's row as the journal stores it, as a FileRow."""
    values = {key: record[key] for key in record.keys()}  # noqa: SIM118 - rows iterate values
    for kept_apart in ("updated_at", "claimed_by", "lease_until"):  # the claims are workers'
        values.pop(kept_apart, None)
    values["state"] = FileState(values["state"])
    values["review"] = bool(values["review"])
    return FileRow(**values)
