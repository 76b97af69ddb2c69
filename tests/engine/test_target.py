"""Resolving the target and the area's drawings, with the real client against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkimport.emulator import RunningEmulator
from bulkimport.errors import ConfigError, FileRejected
from bulkimport.models import DrawingFile
from bulkimport.procore.client import ProcoreClient
from bulkimport.settings import TargetSettings
from bulkimport.stages.target import DrawingIndex, Targets

pytestmark = pytest.mark.anyio


def drawing(number: str, area: str | int = "Building A", drawing_set: str = "Bid Set"):
    return DrawingFile(
        path=Path("/x") / f"{number}.pdf",
        rel=f"{number}.pdf",
        size=1,
        mtime_ns=0,
        number=number,
        title=None,
        revision="0",
        discipline="Architectural",
        drawing_date="2026-01-01",
        area=str(area),
        drawing_set=drawing_set,
    )


async def test_names_ignore_case_and_ids_work_too(emulator: RunningEmulator, client: ProcoreClient):
    info = emulator.startup_info()
    targets = Targets(client, TargetSettings())
    by_name = await targets.target_for(drawing("A-1", "building b", "BID SET"))
    by_id = await targets.target_for(
        drawing("A-1", info["drawing_areas"][1]["id"], str(info["drawing_sets"][1]["id"]))
    )
    assert by_name == by_id
    assert by_name.area_id == info["drawing_areas"][1]["id"]


async def test_areas_and_sets_are_listed_once_for_many_targets(
    emulator: RunningEmulator, client: ProcoreClient
):
    targets = Targets(client, TargetSettings())
    for area in ("Building A", "Building B"):
        for drawing_set in ("Bid Set", "Issued for Construction"):
            await targets.target_for(drawing("A-1", area, drawing_set))
    assert client.requests["GET /rest/v1.1/projects/{id}/drawing_areas"] == 1
    assert client.requests["GET /rest/v1.0/projects/{id}/drawing_sets"] == 1


async def test_an_unknown_area_lists_what_the_project_has(client: ProcoreClient):
    with pytest.raises(ConfigError, match="it has: 'Building A', 'Building B'"):
        await Targets(client, TargetSettings("Tower C", "Bid Set")).check_defaults()
    with pytest.raises(FileRejected, match="'Tower C' is not in project"):
        await Targets(client, TargetSettings()).target_for(drawing("A-1", "Tower C"))


async def test_a_drawing_whose_create_answer_was_lost_is_found_not_created_twice(
    emulator: RunningEmulator, client: ProcoreClient
):
    """The index was listed; then the drawing was created but the answer never came (here:
    created directly). Create Drawing answers 422 'already taken'; the index looks it up."""
    area = emulator.startup_info()["drawing_areas"][0]["id"]
    index = await DrawingIndex.load(client, area)
    created_elsewhere = await client.create_drawing(area, "A-101", None, "Architectural")
    assert await index.id_for(drawing("A-101")) == created_elsewhere
    assert index.created == 0
    numbers = [d.number async for page in client.drawings(area) for d in page]
    assert numbers == ["A-101"]


async def test_concurrent_asks_for_a_new_number_create_it_once(
    emulator: RunningEmulator, client: ProcoreClient
):
    import anyio

    area = emulator.startup_info()["drawing_areas"][0]["id"]
    index = await DrawingIndex.load(client, area)
    ids: list[int] = []

    async def ask() -> None:
        ids.append(await index.id_for(drawing("S-200")))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(ask)
    assert len(set(ids)) == 1
    assert index.created == 1
