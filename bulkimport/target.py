"""Where drawings go: the target area and set, and the drawings already in that area.

Names or ids from the config are resolved through the list endpoints once per run. The area's
drawings are listed once (every page); a number already there is reused as a new revision, a new
number gets one Create Drawing, however many workers ask for it at once.
"""

from __future__ import annotations

from typing import Any

import anyio
import structlog

from .errors import ConfigError, ProcoreRejected
from .models import DrawingFile, Target
from .procore import ProcoreClient
from .settings import TargetSettings

log = structlog.get_logger("bulkimport.target")


def _pick(items: list[dict[str, Any]], wanted: str | int, what: str) -> dict[str, Any] | None:
    """The item whose id is `wanted`, or whose name is (ignoring case)."""
    text = str(wanted).strip()
    if text.isdigit():
        for item in items:
            if str(item.get("id")) == text:
                return item
    matches = [i for i in items if str(i.get("name", "")).casefold() == text.casefold()]
    if len(matches) > 1:
        raise ConfigError(f"{len(matches)} {what}s are named {text!r}; give the id instead")
    return matches[0] if matches else None


async def find_area(client: ProcoreClient, wanted: str | int) -> dict[str, Any]:
    areas = await client.drawing_areas()
    area = _pick(areas, wanted, "drawing area")
    if area is None:
        names = ", ".join(repr(a.get("name")) for a in areas) or "none"
        raise ConfigError(
            f"drawing area {wanted!r} is not in project {client.settings.project_id} "
            f"(it has: {names})"
        )
    return area


async def find_set(client: ProcoreClient, wanted: TargetSettings) -> dict[str, Any] | None:
    """The drawing set, or None when it is missing and may be created."""
    sets = await client.drawing_sets()
    drawing_set = _pick(sets, wanted.drawing_set, "drawing set")
    if drawing_set is None and (not wanted.create_missing_set or str(wanted.drawing_set).isdigit()):
        names = ", ".join(repr(s.get("name")) for s in sets) or "none"
        raise ConfigError(
            f"drawing set {wanted.drawing_set!r} is not in project "
            f"{client.settings.project_id} (it has: {names}); "
            "set target.create_missing_set = true to create it"
        )
    return drawing_set


async def resolve_target(client: ProcoreClient, wanted: TargetSettings) -> Target:
    area = await find_area(client, wanted.drawing_area)
    drawing_set = await find_set(client, wanted)
    if drawing_set is None:
        drawing_set = await client.create_drawing_set(str(wanted.drawing_set))
        log.info("target.set_created", name=drawing_set.get("name"), id=drawing_set.get("id"))
    target = Target(area_id=int(area["id"]), set_id=int(drawing_set["id"]))
    log.info(
        "target.resolved",
        area=area.get("name"),
        area_id=target.area_id,
        set=drawing_set.get("name"),
        set_id=target.set_id,
    )
    return target


class DrawingIndex:
    """Drawing ids of one area by number, creating the drawings that do not exist yet."""

    def __init__(self, client: ProcoreClient, area_id: int, ids: dict[str, int]) -> None:
        self._client = client
        self._area_id = area_id
        self._ids = ids
        self._locks: dict[str, anyio.Lock] = {}
        self.created = 0

    @classmethod
    async def load(cls, client: ProcoreClient, area_id: int) -> DrawingIndex:
        """Every page of the area's drawings, kept as number -> id only."""
        return cls(client, area_id, await cls._listed(client, area_id))

    @staticmethod
    async def _listed(client: ProcoreClient, area_id: int) -> dict[str, int]:
        ids: dict[str, int] = {}
        async for page in client.drawings(area_id):
            ids.update((str(d["number"]).casefold(), int(d["id"])) for d in page)
        return ids

    def __len__(self) -> int:
        return len(self._ids)

    async def id_for(self, file: DrawingFile) -> int:
        key = file.number.casefold()
        if key in self._ids:
            return self._ids[key]
        lock = self._locks.setdefault(key, anyio.Lock())
        try:
            async with lock:  # the first worker creates it; the others then find it
                return await self._create(key, file)
        finally:
            if key in self._ids and self._locks.get(key) is lock:
                del self._locks[key]  # known now: later callers never need the lock

    async def _create(self, key: str, file: DrawingFile) -> int:
        if key in self._ids:
            return self._ids[key]
        try:
            drawing_id = await self._client.create_drawing(
                self._area_id, file.number, file.title, file.discipline
            )
            self.created += 1
            log.info("drawing.created", number=file.number, id=drawing_id)
        except ProcoreRejected as exc:
            # A create whose answer was lost comes back as "already taken": look it up.
            if exc.status != 422 or "taken" not in exc.message:
                raise
            self._ids.update(await self._listed(self._client, self._area_id))
            if key not in self._ids:
                raise
            return self._ids[key]
        self._ids[key] = drawing_id
        return drawing_id
