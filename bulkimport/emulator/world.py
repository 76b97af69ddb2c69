"""Everything the emulator holds: Procore's records, the stored uploads and a ledger of traffic.

These are mutable records (the emulator is a server with state); the routes change them and
the inspection endpoint reports them.
"""

from __future__ import annotations

import secrets
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from .clock import Clock
from .config import EmulatorConfig
from .ids import IdSequence


@dataclass(slots=True)
class ApiClient:
    """An OAuth application: client-credentials tokens act as its service-account user."""

    client_id: str
    client_secret: str
    user_id: int
    company_ids: frozenset[int]


@dataclass(slots=True)
class AccessToken:
    client_id: str
    user_id: int
    created_at: float
    expires_at: float


@dataclass(slots=True)
class Company:
    id: int
    name: str


@dataclass(slots=True)
class Project:
    id: int
    company_id: int
    name: str


@dataclass(slots=True)
class DrawingArea:
    id: int
    project_id: int
    name: str
    created_at: float


@dataclass(slots=True)
class DrawingSet:
    id: int
    project_id: int
    name: str
    date: str | None
    position: int
    created_at: float


@dataclass(slots=True)
class Discipline:
    id: int
    project_id: int
    name: str


@dataclass(slots=True)
class Revision:
    id: int
    revision_number: str
    drawing_set_id: int
    drawing_date: str
    received_date: str | None
    upload_uuid: str
    drawing_upload_id: int
    # procore-api.md C8: List Drawing Revisions hides both unless asked.
    obsolete: bool = False
    deleted: bool = False


@dataclass(slots=True)
class Drawing:
    id: int
    area_id: int
    number: str  # the base number, without any "(Sheet X of Y)"
    title: str | None
    discipline: Discipline
    sheet_number: str | None = None  # procore-api.md C3
    revisions: list[Revision] = field(default_factory=list)

    @property
    def current(self) -> Revision | None:
        """The newest revision still in the log: obsolete and deleted ones are not current."""
        live = [r for r in self.revisions if not (r.obsolete or r.deleted)]
        return live[-1] if live else None


@dataclass(slots=True)
class Upload:
    uuid: str
    key: str
    bucket: str
    owner_user_id: int
    company_id: int
    project_id: int | None
    created_at: float
    expires_at: float
    response_filename: str | None
    content_type: str
    # Set by the storage POST that succeeded last.
    size: int | None = None
    sha256: str | None = None
    etag: str | None = None
    head: bytes = b""
    posted_at: float | None = None
    post_count: int = 0
    attached_to: int | None = None

    @property
    def posted(self) -> bool:
        return self.posted_at is not None


@dataclass(slots=True)
class LogImport:
    id: int
    upload_uuid: str
    filename: str | None
    drawing_set_id: int
    drawing_date: str
    received_date: str | None
    default_revision: str | None
    drawing_id: int | None
    custom_fields: dict[str, Any]
    # procore-api.md C7: a direct import whose auto-assignment failed waits in Items to Review.
    needs_review: bool = False


@dataclass(slots=True)
class DrawingUpload:
    id: int
    project_id: int
    company_id: int
    created_by_id: int
    created_at: float
    drawing_area_id: int | None
    drawing_set_id: int
    drawing_number_contains_revision: bool
    get_info_from_filename: bool
    imports: list[LogImport]
    idempotency_token: str | None
    api_version: str
    # Decided at creation, shown once processing_delay has passed.
    outcome: str
    failure_reason: str | None = None
    settled: bool = False


@dataclass(slots=True)
class Ledger:
    """What reached the emulator, for tests and benchmarks to assert on."""

    requests: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    timeline: list[tuple[float, str]] = field(default_factory=list)  # admitted REST calls
    faults: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    violations: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))
    tokens_issued: int = 0
    _arrival: anyio.Event | None = None

    def count(self, endpoint: str) -> None:
        self.requests[endpoint] += 1
        if self._arrival is not None:
            self._arrival.set()
            self._arrival = None

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait, without polling, until `condition` holds; checked at every request counted."""
        while not condition():
            if self._arrival is None:
                self._arrival = anyio.Event()
            await self._arrival.wait()

    def reject(self, kind: str, detail: str, *, violation: bool) -> None:
        """Count a rejection; a violation is one that only a client bug causes."""
        self.rejections[kind] += 1
        if violation:
            self.violations.append({"kind": kind, "detail": detail})


def _number_key(area_id: int, number: str, sheet: str | None) -> tuple[int, str, str | None]:
    return (area_id, number.strip().casefold(), None if sheet is None else sheet.casefold())


@dataclass(slots=True)
class World:
    config: EmulatorConfig
    clock: Clock
    storage_dir: Path
    next_id: IdSequence = field(default_factory=IdSequence)
    clients: dict[str, ApiClient] = field(default_factory=dict)
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token -> client_id
    companies: dict[int, Company] = field(default_factory=dict)
    projects: dict[int, Project] = field(default_factory=dict)
    areas: dict[int, DrawingArea] = field(default_factory=dict)
    sets: dict[int, DrawingSet] = field(default_factory=dict)
    disciplines: dict[int, Discipline] = field(default_factory=dict)
    drawings: dict[int, Drawing] = field(default_factory=dict)
    # (area, base number, sheet number) -> drawing; numbers compare case-insensitively.
    drawing_numbers: dict[tuple[int, str, str | None], int] = field(default_factory=dict)
    sheet_counts: Counter[tuple[int, str]] = field(default_factory=Counter)
    drawings_by_area: dict[int, list[Drawing]] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    drawing_uploads: dict[int, DrawingUpload] = field(default_factory=dict)
    unsettled: list[int] = field(default_factory=list)  # drawing uploads still processing
    idempotency: dict[tuple[int, int, str], int] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    s3_base: str = ""  # known once the storage site is listening
    s3_access_key: str = "AKIAEMULATEDPROCORE1"
    s3_secret: str = field(default_factory=lambda: secrets.token_hex(20))

    def areas_of(self, project_id: int) -> list[DrawingArea]:
        return [a for a in self.areas.values() if a.project_id == project_id]

    def sets_of(self, project_id: int) -> list[DrawingSet]:
        return [s for s in self.sets.values() if s.project_id == project_id]

    def drawings_of(self, area_id: int) -> list[Drawing]:
        return self.drawings_by_area.get(area_id, [])

    def drawing_by_number(
        self, area_id: int, number: str, sheet_number: str | None = None
    ) -> Drawing | None:
        """The drawing with that base number (and sheet, for one sheet of several)."""
        drawing_id = self.drawing_numbers.get(_number_key(area_id, number, sheet_number))
        return None if drawing_id is None else self.drawings[drawing_id]

    def add_drawing(self, drawing: Drawing) -> None:
        self.drawings[drawing.id] = drawing
        key = _number_key(drawing.area_id, drawing.number, drawing.sheet_number)
        self.drawing_numbers[key] = drawing.id
        if drawing.sheet_number is not None:
            self.sheet_counts[key[:2]] += 1
        self.drawings_by_area.setdefault(drawing.area_id, []).append(drawing)

    def display_number(self, drawing: Drawing) -> str:
        """`A100 (Sheet 1 of 3)` when the area holds several sheets of that base number (DOCS
        tutorial_direct_drawing_uploads.md, procore-api.md C2); the base number otherwise."""
        if drawing.sheet_number is None:
            return drawing.number
        total = self.sheet_counts[_number_key(drawing.area_id, drawing.number, None)[:2]]
        if total < 2:
            return drawing.number
        return f"{drawing.number} (Sheet {drawing.sheet_number} of {total})"

    def find_revision(self, revision_id: int) -> tuple[Drawing, Revision] | None:
        for drawing in self.drawings.values():
            for revision in drawing.revisions:
                if revision.id == revision_id:
                    return drawing, revision
        return None

    def bucket_of(self, company_id: int) -> str:
        """Each company's uploads go to a bucket of its own, as Procore's URLs vary by company."""
        return f"procore-emulated-{company_id}"

    def buckets(self) -> set[str]:
        return {self.bucket_of(company_id) for company_id in self.companies}

    def discipline(self, project_id: int, name: str) -> Discipline:
        """The project's discipline of that name; Procore creates an unknown one on the fly."""
        for d in self.disciplines.values():
            if d.project_id == project_id and d.name.casefold() == name.casefold():
                return d
        created = Discipline(id=self.next_id(), project_id=project_id, name=name)
        self.disciplines[created.id] = created
        return created
