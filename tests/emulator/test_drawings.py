"""Drawing areas, sets and drawings: list shapes, pagination, Create Drawing and Create Set."""

from __future__ import annotations

import re

import pytest

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
    blank = await procore.call("POST", path, json={"drawing_set": {"name": " "}})
    assert blank.status == 422
    names = [s["name"] for s in (await procore.call("GET", path)).json()]
    assert names == ["Issued for Construction", "Bid Set", "Addendum 1"]
