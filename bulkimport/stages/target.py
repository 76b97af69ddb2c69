"""Where drawings go: areas and sets by name, and the drawings (and revisions) already there.

One run may feed many areas and sets (from the manifest or the folder layout). The project's
areas and sets are listed once, when first needed; each name is resolved once. A missing set is
created once when the config allows it. An area's drawings are listed once (every page), the
first time a file goes there; a number already there is reused as a new revision, a new number
gets one Create Drawing, however many workers ask for it at once. The area's revisions are
listed only when a file is about to become a new revision of an existing drawing, to skip a
revision Procore already has rather than have it refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import anyio
import structlog

from bulkimport.compact import HashIndex
from bulkimport.errors import ConfigError, DrawingNumberTaken, FileRejected, ProcoreError
from bulkimport.models import DrawingFile, Target
from bulkimport.procore.answers import Drawing, DrawingArea, DrawingSet
from bulkimport.procore.client import ProcoreClient
from bulkimport.settings import TargetSettings

log = structlog.get_logger("bulkimport.stages.target")

RevisionKey = tuple[str, int, str | None, str | None]  # revision, set, drawing and received date
Named = TypeVar("Named", DrawingArea, DrawingSet)


def _pick(items: list[Named], wanted: str | int, what: str) -> Named | None:
    """The item whose id is `wanted`, or whose name is (ignoring case)."""
    text = str(wanted).strip()
    if text.isdigit():
        for item in items:
            if str(item.id) == text:
                return item
    matches = [i for i in items if i.name.casefold() == text.casefold()]
    if len(matches) > 1:
        raise ConfigError(f"{len(matches)} {what}s are named {text!r}; give the id instead")
    return matches[0] if matches else None


def _names(items: Sequence[DrawingArea | DrawingSet]) -> str:
    return ", ".join(repr(i.name) for i in items) or "none"


def area_in(areas: list[DrawingArea], wanted: str | int, project_id: int) -> DrawingArea:
    area = _pick(areas, wanted, "drawing area")
    if area is None:
        raise ConfigError(
            f"drawing area {wanted!r} is not in project {project_id} (it has: {_names(areas)})"
        )
    return area


def set_in(
    sets: list[DrawingSet], wanted: str | int, create: bool, project_id: int
) -> DrawingSet | None:
    """The drawing set, or None when it is missing and may be created."""
    drawing_set = _pick(sets, wanted, "drawing set")
    if drawing_set is None and (not create or str(wanted).isdigit()):
        raise ConfigError(
            f"drawing set {wanted!r} is not in project {project_id} (it has: {_names(sets)}); "
            "set target.create_missing_set = true to create it"
        )
    return drawing_set


def revision_key(file: DrawingFile, set_id: int) -> RevisionKey:
    return (file.revision.casefold(), set_id, file.drawing_date, file.received_date)


@dataclass(slots=True)
class _Listed:
    areas: list[DrawingArea]
    sets: list[DrawingSet]


class Targets:
    """Every area and set this run sends to, and each area's drawings."""

    def __init__(self, client: ProcoreClient, wanted: TargetSettings) -> None:
        self._client = client
        self._wanted = wanted
        self._listed: _Listed | None = None
        self._lock = anyio.Lock()
        self._targets: dict[tuple[str, str], Target | ConfigError] = {}
        self._indexes: dict[int, DrawingIndex] = {}
        self._created_before = 0  # drawings created by indexes since forgotten

    @property
    def project_id(self) -> int:
        return self._client.settings.project_id

    async def _lists(self) -> _Listed:
        """The project's areas and sets, both listed at once, once; the first time, the config's
        own area and set are checked against them (ConfigError: a typo stops the run)."""
        if self._listed is None:
            areas: list[DrawingArea] = []
            sets: list[DrawingSet] = []

            async def read_areas() -> None:
                areas.extend(await self._client.drawing_areas())

            async def read_sets() -> None:
                sets.extend(await self._client.drawing_sets())

            async with anyio.create_task_group() as both:
                both.start_soon(read_areas)
                both.start_soon(read_sets)
            listed = _Listed(areas, sets)
            self._check_defaults(listed)
            self._listed = listed
        return self._listed

    async def check_defaults(self) -> None:
        """The config's own area and set must exist (or the set be creatable). A run checks
        when its first file needs a target, not before: a nightly run with nothing to send
        asks Procore nothing."""
        async with self._lock:
            await self._lists()

    def _check_defaults(self, listed: _Listed) -> None:
        if self._wanted.drawing_area is not None:
            area_in(listed.areas, self._wanted.drawing_area, self.project_id)
        if self._wanted.drawing_set is not None:
            set_in(
                listed.sets,
                self._wanted.drawing_set,
                self._wanted.create_missing_set,
                self.project_id,
            )

    async def target_for(self, file: DrawingFile) -> Target:
        """The file's area and set as ids; FileRejected when the project lacks them."""
        key = (file.area.casefold(), file.drawing_set.casefold())
        if key not in self._targets:  # every file asks; only the first of a place waits
            async with self._lock:
                if key not in self._targets:
                    listed = await self._lists()  # the config's own typo stops the run here
                    try:
                        self._targets[key] = await self._resolve(
                            listed, file.area, file.drawing_set
                        )
                    except ConfigError as exc:
                        self._targets[key] = exc  # every file of this place: the same answer
        found = self._targets[key]
        if isinstance(found, ConfigError):
            raise FileRejected(file.rel, str(found))
        return Target(found.area_id, found.set_id, file.review)

    async def _resolve(self, listed: _Listed, area_name: str, set_name: str) -> Target:
        area = area_in(listed.areas, area_name, self.project_id)
        drawing_set = set_in(
            listed.sets, set_name, self._wanted.create_missing_set, self.project_id
        )
        if drawing_set is None:
            drawing_set = await self._client.create_drawing_set(set_name)
            listed.sets.append(drawing_set)
            log.info("target.set_created", name=drawing_set.name, id=drawing_set.id)
        target = Target(area_id=area.id, set_id=drawing_set.id)
        log.info(
            "target.resolved",
            area=area.name,
            area_id=target.area_id,
            set=drawing_set.name,
            set_id=target.set_id,
        )
        return target

    async def index(self, area_id: int) -> DrawingIndex:
        if area_id not in self._indexes:
            async with self._lock:
                if area_id not in self._indexes:
                    self._indexes[area_id] = await DrawingIndex.load(self._client, area_id)
        return self._indexes[area_id]

    @property
    def drawings_created(self) -> int:
        return self._created_before + sum(i.created for i in self._indexes.values())

    def forget_drawings(self) -> None:
        """Let each area's drawing index go once no file of the run is left to look up: at
        100,000 drawings it holds some 9 MB the read-back would otherwise sit on top of."""
        self._created_before = self.drawings_created
        self._indexes.clear()


class DrawingIndex:
    """Drawing ids of one area by number, creating the drawings that do not exist yet."""

    def __init__(self, client: ProcoreClient, area_id: int, ids: dict[str, int]) -> None:
        self._client = client
        self._area_id = area_id
        # Kept as hashes: an area may gather 100,000 drawings in one run.
        self._ids = HashIndex(ids.items())
        self._existing = frozenset(ids.values())  # drawings that were there before this run
        self._locks: dict[str, anyio.Lock] = {}
        self._revisions: dict[int, set[RevisionKey]] | None = None
        self._revisions_lock = anyio.Lock()
        self.created = 0

    @classmethod
    async def load(cls, client: ProcoreClient, area_id: int) -> DrawingIndex:
        """Every page of the area's drawings, kept as number -> id only."""
        return cls(client, area_id, await cls._listed(client, area_id))

    @staticmethod
    async def _listed(client: ProcoreClient, area_id: int) -> dict[str, int]:
        numbers = DrawingNumbers()
        async for page in client.drawings(area_id):
            for drawing in page:
                numbers.add(drawing)
        return numbers.ids()

    def __len__(self) -> int:
        return len(self._ids)

    def creates(self, file: DrawingFile) -> bool:
        """Whether `id_for` will create the file's drawing: its number is not in the area."""
        return file.discipline is not None and self._ids.get(file.number.casefold()) is None

    async def id_for(self, file: DrawingFile) -> int:
        key = file.number.casefold()
        known = self._ids.get(key)
        if known is not None:
            return known
        lock = self._locks.setdefault(key, anyio.Lock())
        try:
            async with lock:  # the first worker creates it; the others then find it
                return await self._create(key, file)
        finally:
            if key in self._ids and self._locks.get(key) is lock:
                del self._locks[key]  # known now: later callers never need the lock

    async def _create(self, key: str, file: DrawingFile) -> int:
        known = self._ids.get(key)
        if known is not None:
            return known
        if file.discipline is None:
            raise FileRejected(file.rel, f"drawing {file.number} is new and has no discipline")
        try:
            drawing_id = await self._client.create_drawing(
                self._area_id, file.number, file.title, file.discipline
            )
            self.created += 1
            log.debug("drawing.created", number=file.number, id=drawing_id)
        except DrawingNumberTaken:
            # A create whose answer was lost comes back as "already taken": look it up.
            for number, listed_id in (await self._listed(self._client, self._area_id)).items():
                self._ids[number] = listed_id
            found = self._ids.get(key)
            if found is None:
                raise
            return found
        self._ids[key] = drawing_id
        return drawing_id

    async def has_revision(self, drawing_id: int, key: RevisionKey) -> bool:
        """Whether a drawing that existed before this run already has this revision (same
        label, set and dates): Procore would refuse it again.

        The answer is only a saving: when the revisions cannot be read (a permission the
        account lacks answers 404, an endpoint that moved), the file is sent and Procore
        decides, rather than failed for a read it did not need."""
        if drawing_id not in self._existing:
            return False
        async with self._revisions_lock:
            if self._revisions is None:
                try:
                    self._revisions = await self._revisions_of_area()
                except ProcoreError as exc:
                    log.warning(
                        "revisions.unreadable",
                        area_id=self._area_id,
                        error=str(exc),
                        effect="files are sent without the check; Procore refuses duplicates",
                    )
                    self._revisions = {}
        return key in self._revisions.get(drawing_id, set())

    async def _revisions_of_area(self) -> dict[int, set[RevisionKey]]:
        found: dict[int, set[RevisionKey]] = {}
        async for page in self._client.drawing_revisions(self._area_id):
            for revision in page:
                if revision.drawing_id not in self._existing:
                    continue  # another area's, if the filter was not applied
                found.setdefault(revision.drawing_id, set()).add(
                    (
                        revision.label.casefold(),
                        revision.set_id or 0,
                        revision.drawing_date,
                        revision.received_date,
                    )
                )
        return found


class DrawingNumbers:
    """The number a file names a drawing by -> the drawing's id. A multi-sheet drawing's
    `number` carries "(Sheet X of Y)"; its `drawing_number` does not (procore-api.md C2). A file
    named by the bare number is that drawing's first sheet, never a new drawing: the engine
    sends it there, and reconcile looks for it there."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._first_sheets: dict[str, tuple[str, int]] = {}  # bare number -> (sheet, id)

    def add(self, drawing: Drawing) -> None:
        self._ids[drawing.number.casefold()] = drawing.id
        base = (drawing.drawing_number or "").casefold()
        if base:
            sheet = _sheet_order(drawing.sheet_number)
            seen = self._first_sheets.get(base)
            if seen is None or sheet < seen[0]:
                self._first_sheets[base] = (sheet, drawing.id)

    def ids(self) -> dict[str, int]:
        for base, (_, drawing_id) in self._first_sheets.items():
            self._ids.setdefault(base, drawing_id)
        return self._ids


def _sheet_order(value: str | None) -> str:
    """Sheet numbers sort numerically when they are numbers ("2" before "10")."""
    text = value or ""
    return text.zfill(12) if text.isdigit() else text
