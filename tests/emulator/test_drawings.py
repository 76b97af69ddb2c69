"""Drawing areas, sets and drawings: list shapes, pagination, Create Drawing and Create Set."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bulkimport.emulator import EmulatorConfig, serve

from .conftest import Procore, running

pytestmark = pytest.mark.anyio


async def test_area_lists_have_the_v10_and_v11_shapes(procore: Procore):
    v10 = await procore.call("GET", f"/rest/v1.0/projects/{procore.project_id}/drawing_areas")
    v11 = await procore.call("GET", f"/rest/v1.1/projects/{procore.project_id}/drawing_areas")
    assert [a["name"] for a in v10.json()] == ["Building A", "Building B"]
    assert {s["name"] for s in v10.json()[0]["drawing_sets"]} == {
        "Issued for Construction",
        "Bid Set",
    }
    assert "drawing_sets" not in v11.json()[0]
    assert v11.json()[0]["deletable"] is True
    assert v11.headers["Total"] == "2"


async def test_every_page_is_reachable_by_following_link_next():
    async with running(max_per_page=2) as procore:
        for n in range(5):
            await procore.create_drawing(f"A-{100 + n}")
        area = procore.area_ids[0]
        url = f"{procore.emu.api_base}/rest/v1.1/drawing_areas/{area}/drawings?per_page=50"
        numbers, pages = [], 0
        while url:
            reply = await procore.call("GET", url)
            assert reply.status == 200
            assert reply.headers["Per-Page"] == "2"  # clamped to the maximum
            assert reply.headers["Total"] == "5"
            numbers += [d["number"] for d in reply.json()]
            pages += 1
            found = re.search(r'<([^>]+)>; rel="next"', reply.headers.get("Link", ""))
            url = found.group(1) if found else ""
        assert pages == 3
        assert numbers == [f"A-{100 + n}" for n in range(5)]


async def test_bad_page_parameters_are_400(procore: Procore):
    path = f"/rest/v1.1/projects/{procore.project_id}/drawing_areas?page=0"
    assert (await procore.call("GET", path)).status == 400


async def test_create_drawing_returns_flat_discipline_and_lists_it(procore: Procore):
    area = procore.area_ids[0]
    reply = await procore.call(
        "POST",
        f"/rest/v1.1/drawing_areas/{area}/drawings",
        json={
            "drawing": {
                "number": "I-101",
                "title": "Preliminary as-built interior",
                "drawing_discipline": {"name": "Interiors"},
            }
        },
    )
    assert reply.status == 201
    created = reply.json()
    assert created["discipline"] == "Interiors"
    assert created["obsolete"] is False
    assert created["id"] > 2**32  # ids do not fit 32 bits
    listed = (await procore.call("GET", f"/rest/v1.0/drawing_areas/{area}/drawings")).json()
    assert listed == [
        {
            "id": created["id"],
            "number": "I-101",
            "drawing_number": "I-101",
            "sheet_number": None,
            "title": "Preliminary as-built interior",
            "discipline": "Interiors",
            "drawing_discipline_id": listed[0]["drawing_discipline_id"],
            "drawing_area_id": area,
            "obsolete": False,
            "current_revision": None,
        }
    ]


@pytest.mark.parametrize(
    ("drawing", "status", "field"),
    [
        ({"title": "no number", "drawing_discipline": {"name": "Civil"}}, 400, "number"),
        ({"number": "C-1", "drawing_discipline": "Civil"}, 400, "drawing_discipline"),
        ({"number": "C-1"}, 400, "drawing_discipline"),
    ],
)
async def test_create_drawing_rejects_missing_fields(procore: Procore, drawing, status, field):
    area = procore.area_ids[0]
    reply = await procore.call(
        "POST", f"/rest/v1.1/drawing_areas/{area}/drawings", json={"drawing": drawing}
    )
    assert reply.status == status
    assert field in reply.json()["errors"]


async def test_discipline_beside_drawing_is_blank(procore: Procore):
    """A common mistake: drawing_discipline as a sibling of drawing."""
    area = procore.area_ids[0]
    reply = await procore.call(
        "POST",
        f"/rest/v1.1/drawing_areas/{area}/drawings",
        json={"drawing": {"number": "C-2"}, "drawing_discipline": {"name": "Civil"}},
    )
    assert reply.status == 400
    assert reply.json()["errors"]["drawing_discipline"] == ["Drawing Discipline can't be blank"]


async def test_duplicate_number_in_the_area_is_422_but_fine_elsewhere(procore: Procore):
    await procore.create_drawing("A-101")
    area = procore.area_ids[0]
    again = await procore.call(
        "POST",
        f"/rest/v1.1/drawing_areas/{area}/drawings",
        json={"drawing": {"number": "a-101", "drawing_discipline": {"name": "Architectural"}}},
    )
    assert again.status == 422
    assert again.json()["errors"]["number"] == ["has already been taken"]
    await procore.create_drawing("A-101", procore.area_ids[1])


async def test_create_drawing_needs_json(procore: Procore):
    area = procore.area_ids[0]
    reply = await procore.call(
        "POST", f"/rest/v1.1/drawing_areas/{area}/drawings", data={"drawing[number]": "A-1"}
    )
    assert reply.status == 400


async def test_drawings_of_an_unknown_area_are_404(procore: Procore):
    assert (await procore.call("GET", "/rest/v1.1/drawing_areas/1/drawings")).status == 404


async def test_create_and_list_drawing_sets(procore: Procore):
    path = f"/rest/v1.0/projects/{procore.project_id}/drawing_sets"
    created = await procore.call("POST", path, json={"name": "Addendum 1", "date": "2026-03-01"})
    assert created.status == 201
    assert created.json()["name"] == "Addendum 1"
    assert created.json()["date"] == "2026-03-01"
    blank = await procore.call("POST", path, json={"name": " "})
    assert blank.status == 422
    names = [s["name"] for s in (await procore.call("GET", path)).json()]
    assert names == ["Issued for Construction", "Bid Set", "Addendum 1"]


async def test_a_nested_only_drawing_set_body_has_a_blank_name(procore: Procore):
    """The reference documents a flat body for Create Drawing Set; only PATCH is wrapped."""
    path = f"/rest/v1.0/projects/{procore.project_id}/drawing_sets"
    nested = await procore.call("POST", path, json={"drawing_set": {"name": "Addendum 2"}})
    assert nested.status == 422
    assert nested.json() == {"errors": {"name": ["can't be blank"]}}
    state = await procore.state("violations", "drawing_sets")
    assert state["violations"][-1]["kind"] == "nested_set_body"
    assert "Addendum 2" not in [s["name"] for s in state["drawing_sets"]]


async def test_both_set_shapes_at_once_work_and_the_flat_one_wins(procore: Procore):
    path = f"/rest/v1.0/projects/{procore.project_id}/drawing_sets"
    reply = await procore.call(
        "POST",
        path,
        json={"name": "Flat", "date": "2026-04-01", "drawing_set": {"name": "Nested"}},
    )
    assert reply.status == 201
    assert (reply.json()["name"], reply.json()["date"]) == ("Flat", "2026-04-01")


async def test_project_id_on_area_scoped_calls_must_be_the_areas_project(procore: Procore):
    area = procore.area_ids[0]
    path = f"/rest/v1.1/drawing_areas/{area}/drawings"
    body = {"drawing": {"number": "A-1", "drawing_discipline": {"name": "Architectural"}}}
    good = await procore.call("POST", f"{path}?project_id={procore.project_id}", json=body)
    assert good.status == 201
    listed = await procore.call("GET", f"{path}?project_id={procore.project_id}")
    assert [d["number"] for d in listed.json()] == ["A-1"]
    for wrong in ("1", "abc"):
        for method in ("GET", "POST"):
            reply = await procore.call(method, f"{path}?project_id={wrong}", json=body)
            assert reply.status == 404
            assert reply.json() == {"errors": "Drawing area not found"}
    assert (await procore.call("GET", path)).status == 200  # optional by default


async def test_require_project_id_refuses_calls_without_it():
    async with running(require_project_id=True) as procore:
        path = f"/rest/v1.0/drawing_areas/{procore.area_ids[0]}/drawings"
        body = {"drawing": {"number": "A-1", "drawing_discipline": {"name": "Architectural"}}}
        for method in ("GET", "POST"):
            reply = await procore.call(method, path, json=body)
            assert reply.status == 400
            assert reply.json() == {"errors": {"project_id": ["can't be blank"]}}
        reply = await procore.call("POST", f"{path}?project_id={procore.project_id}", json=body)
        assert reply.status == 201
        kinds = [v["kind"] for v in (await procore.state("violations"))["violations"]]
        assert kinds == ["missing_project_id", "missing_project_id"]


async def create_sheet(procore: Procore, number: str, sheet: str | None) -> dict[str, Any]:
    drawing: dict[str, Any] = {"number": number, "drawing_discipline": {"name": "Architectural"}}
    if sheet is not None:
        drawing["sheet_number"] = sheet
    reply = await procore.call(
        "POST",
        f"/rest/v1.1/drawing_areas/{procore.area_ids[0]}/drawings",
        json={"drawing": drawing},
    )
    assert reply.status == 201, reply.text
    created: dict[str, Any] = reply.json()
    return created


async def test_sheets_of_one_number_carry_the_sheet_suffix(procore: Procore):
    first = await create_sheet(procore, "A100", "1")
    assert (first["number"], first["drawing_number"], first["sheet_number"]) == (
        "A100",
        "A100",
        "1",
    )  # a single sheet has no suffix
    await create_sheet(procore, "A100", "2")
    third = await create_sheet(procore, "A100", "3")
    assert third["number"] == "A100 (Sheet 3 of 3)"
    assert third["drawing_number"] == "A100"
    await create_sheet(procore, "A200", None)
    listed = await procore.call("GET", f"/rest/v1.1/drawing_areas/{procore.area_ids[0]}/drawings")
    assert [(d["number"], d["drawing_number"], d["sheet_number"]) for d in listed.json()] == [
        ("A100 (Sheet 1 of 3)", "A100", "1"),
        ("A100 (Sheet 2 of 3)", "A100", "2"),
        ("A100 (Sheet 3 of 3)", "A100", "3"),
        ("A200", "A200", None),
    ]
    (drawing,) = [
        d for d in (await procore.state("drawings"))["drawings"] if d["sheet_number"] == "2"
    ]
    assert (drawing["number"], drawing["drawing_number"]) == ("A100 (Sheet 2 of 3)", "A100")


async def test_a_number_is_taken_per_sheet(procore: Procore):
    await create_sheet(procore, "A100", "1")
    await create_sheet(procore, "A300", None)
    area = procore.area_ids[0]
    for number, sheet in (("a100", "1"), ("A300", None)):
        drawing: dict[str, Any] = {"number": number, "drawing_discipline": {"name": "Civil"}}
        if sheet:
            drawing["sheet_number"] = sheet
        reply = await procore.call(
            "POST", f"/rest/v1.1/drawing_areas/{area}/drawings", json={"drawing": drawing}
        )
        assert reply.status == 422
        assert reply.json()["errors"]["number"] == ["has already been taken"]
    assert (await create_sheet(procore, "A100", "2"))["number"] == "A100 (Sheet 2 of 2)"


async def test_seed_file_drawings_may_carry_sheet_numbers(tmp_path: Path):
    seed = {
        "clients": [{"client_id": "c", "client_secret": "s"}],
        "companies": [
            {
                "name": "Acme",
                "projects": [
                    {
                        "name": "Depot",
                        "drawing_areas": [
                            {
                                "name": "Shed",
                                "drawings": [
                                    {"number": "S-1", "discipline": "Structural", "sheet_number": n}
                                    for n in ("1", "2")
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    async with serve(EmulatorConfig(seed_file=path)) as emu:
        world = emu.world
        (area,) = world.areas.values()
        second = world.drawing_by_number(area.id, "s-1", "2")
        assert second is not None
        assert world.display_number(second) == "S-1 (Sheet 2 of 2)"
        assert world.drawing_by_number(area.id, "S-1") is None  # no sheetless S-1
