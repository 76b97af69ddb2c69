"""Plain values that move through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class FileState(StrEnum):
    """A source file's place in the journal; the order is the order of the pipeline."""

    PLANNED = "planned"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    BATCHED = "batched"
    IMPORTED = "imported"
    VERIFIED = "verified"
    FAILED = "failed"


class Plan(StrEnum):
    """What a run does with a scanned file."""

    NEW = "new"
    CHANGED = "changed"  # imported before, different now: a new revision
    RESUME = "resume"  # an earlier run stopped part-way through it
    RETRY = "retry"  # failed in an earlier run
    UNCHANGED = "unchanged"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class DrawingFile:
    """A source PDF and what its name says about the drawing."""

    path: Path  # absolute
    rel: str  # relative to the source root, with forward slashes: the journal key
    size: int
    mtime_ns: int
    number: str
    title: str | None
    revision: str
    discipline: str
    drawing_date: str  # YYYY-MM-DD

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True, slots=True)
class Ticket:
    """A Create Upload answer: where and how to POST one file, until `expires_at`."""

    uuid: str
    url: str
    fields: tuple[tuple[str, str], ...]  # in the order Procore gave them
    issued_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class Uploaded:
    """A file whose bytes are in storage under `uuid`, ready to be attached to a drawing."""

    file: DrawingFile
    uuid: str
    drawing_id: int


@dataclass(frozen=True, slots=True)
class Target:
    area_id: int
    set_id: int


@dataclass(frozen=True, slots=True)
class Batch:
    """One Create Drawing Upload; `token` is its Idempotency-Token and journal key."""

    token: str
    target: Target
    items: tuple[Uploaded, ...] = field(default_factory=tuple)
