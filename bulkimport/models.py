"""Plain values that move through the pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from bulkimport.compact import HashIndex


class FileState(StrEnum):
    """A source file's place in the journal; the order is the order of the pipeline."""

    PLANNED = "planned"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    BATCHED = "batched"
    IMPORTED = "imported"
    VERIFIED = "verified"  # read back from Procore's drawing log as the revision it meant
    NEEDS_REVIEW = "needs_review"  # a direct import Procore could not assign: in Items to Review
    SKIPPED = "skipped"  # deliberately not imported; the note says why
    FAILED = "failed"


class BatchState(StrEnum):
    """A journalled batch's place: written before its request, then answered or given up."""

    PENDING = "pending"  # journalled, no answer yet: a later run looks it up, then resends it
    SENT = "sent"  # Procore made its drawing upload
    CLOSED = "closed"  # never sent again: refused, split into new batches, or left empty


class Plan(StrEnum):
    """What a run does with a scanned file."""

    NEW = "new"
    CHANGED = "changed"  # imported before, different now: a new revision
    RESUME = "resume"  # an earlier run stopped part-way through it
    RETRY = "retry"  # failed in an earlier run
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # not imported on purpose: not in the manifest, a duplicate, ...
    INVALID = "invalid"


class Plans:
    """What a run decided for each file it saw, by the file's journal key, kept small: a run may
    see 100,000 files, and a dict of their paths held some 11 MB to the end of the run. A
    HashIndex keeps a hash of each path and its plan's number; the newest word on a path wins,
    as when the checks turn a planned file invalid."""

    _CODES = tuple(Plan)

    def __init__(self) -> None:
        self._index = HashIndex()

    @classmethod
    def of(cls, decided: Mapping[str, Plan]) -> Plans:
        plans = cls()
        for rel, plan in decided.items():
            plans[rel] = plan
        return plans

    def __setitem__(self, rel: str, plan: Plan) -> None:
        self._index[rel] = self._CODES.index(plan)

    def get(self, rel: str) -> Plan | None:
        code = self._index.get(rel)
        return None if code is None else self._CODES[code]

    def __getitem__(self, rel: str) -> Plan:
        return self._CODES[self._index[rel]]

    def __contains__(self, rel: object) -> bool:
        return rel in self._index

    def __len__(self) -> int:
        return len(self._index)


@dataclass(frozen=True, slots=True)
class DrawingFile:
    """A source PDF and what its name, folder or manifest row says about the drawing."""

    path: Path  # absolute
    rel: str  # relative to the source root, with forward slashes: the journal key
    size: int
    mtime_ns: int
    number: str  # "" when Procore is to read it (review)
    title: str | None
    revision: str
    discipline: str | None  # needed only to create a drawing
    drawing_date: str  # YYYY-MM-DD
    area: str  # drawing area by name or id, as the config, layout or manifest gives it
    drawing_set: str
    received_date: str | None = None
    review: bool = False  # through Items to Review: no drawing_id, Procore reads the sheet(s)
    # The content an earlier run gave Procore (or found there), as the journal remembers it:
    # tells a changed file from one Procore already holds when the revision is the same.
    previous_sha256: str | None = None

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
class Target:
    """Where a Create Drawing Upload puts its files: one area, one set, and whether they go
    through review (a drawing upload cannot mix the two)."""

    area_id: int
    set_id: int
    review: bool = False


@dataclass(frozen=True, slots=True)
class Uploaded:
    """A file whose bytes are in storage under `uuid`, ready to be attached to a drawing."""

    file: DrawingFile
    uuid: str
    drawing_id: int | None  # None for review
    target: Target


@dataclass(frozen=True, slots=True)
class Group:
    """Uploaded files for one target, as the batcher flushes them: the sender makes a batch
    of them under a token of its own."""

    target: Target
    items: tuple[Uploaded, ...]


@dataclass(frozen=True, slots=True)
class Batch:
    """One Create Drawing Upload; `token` is its Idempotency-Token and journal key."""

    token: str
    target: Target
    items: tuple[Uploaded, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Sent:
    """A drawing upload Procore accepted, and the files in it: for the verifier."""

    drawing_upload_id: int
    rels: tuple[str, ...]
