"""List Drawing Revisions: item shape, filters, obsolete and deleted revisions, access."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Procore, running

pytestmark = pytest.mark.anyio

DAY = "2026-03-17T12:00:00Z"


async def import_revision(
    procore: Procore, drawing_id: int, revision: str = "1", set_index: int = 0
) -> None:
    uuid = await procore.uploaded(f"{drawing_id}-{revision}.pdf")
    body = {
        "drawing_area_id": procore.area_ids[0],
        "drawing_set_id": procore.set_ids[set_index],
        "drawing_log_imports": [
            {
                "upload_uuid": uuid,
                "drawing_date": DAY,
                "drawing_id": drawing_id,
                "default_revision": revision,
            }
        ],
    }
    path = f"/rest/v1.1/projects/{procore.project_id}/drawing_uploads"
    reply = await procore.call("POST", path, json={"drawing_upload": body})
    assert reply.status == 201, reply.text


async def revisions(procore: Procore, query: str = "") -> list[dict[str, Any]]:
    path = f"/rest/v1.0/projects/{procore.project_id}/drawing_revisions{query}"
    reply = await procore.call("GET", path)
    assert reply.status == 200, reply.text
    items: list[dict[str, Any]] = reply.json()
    return items


async def change(procore: Procore, **body: Any) -> dict[str, Any]:
    reply = await procore.raw("POST", "/_emulator/revisions", json=body)
    assert reply.status == 200, reply.text
    answer: dict[str, Any] = reply.json()
    return answer


async def test_items_carry_the_documented_fields(procore: Procore):
    area = procore.area_ids[0]
    path = f"/rest/v1.1/drawing_areas/{area}/drawings"
    for sheet in ("1", "2"):
        drawing = {
            "number": "A100",
            "sheet_number": sheet,
            "title": "Plan",
            "drawing_discipline": {"name": "Architectural"},
        }
        assert (await procore.call("POST", path, json={"drawing": drawing})).status == 201
    first, _ = (await procore.state("drawings"))["drawings"]
    await import_revision(procore, first["id"])
    (item,) = await revisions(procore)
    assert item == {
        "id": item["id"],
        "drawing_id": first["id"],
        "drawing_number": "A100",
        "number": "A100 (Sheet 1 of 2)",
        "title": "Plan",
        "revision_number": "1",
        "drawing_set": {"id": procore.set_ids[0]},
        "drawing_area": {"id": area},
        "drawing_date": "2026-03-17",
        "received_date": None,
        "current": True,
        "obsolete": False,
    }


async def test_filters_by_area_drawing_and_set(procore: Procore):
    a1 = await procore.create_drawing("A-1")
    a2 = await procore.create_drawing("A-2")
    await import_revision(procore, a1, "1", set_index=0)
    await import_revision(procore, a1, "2", set_index=1)
    await import_revision(procore, a2, "1", set_index=0)
    assert len(await revisions(procore)) == 3
    assert {r["drawing_id"] for r in await revisions(procore, f"?drawing_id={a2}")} == {a2}
    in_set = await revisions(procore, f"?drawing_set_id={procore.set_ids[1]}")
    assert [(r["drawing_id"], r["revision_number"]) for r in in_set] == [(a1, "2")]
    assert len(await revisions(procore, f"?drawing_area_id={procore.area_ids[0]}")) == 3
    assert await revisions(procore, f"?drawing_area_id={procore.area_ids[1]}") == []
    bad = await procore.call(
        "GET", f"/rest/v1.0/projects/{procore.project_id}/drawing_revisions?drawing_id=x"
    )
    assert bad.status == 400
    bad = await procore.call(
        "GET", f"/rest/v1.0/projects/{procore.project_id}/drawing_revisions?filters[deleted]=all"
    )
    assert bad.status == 400


async def test_obsolete_and_deleted_revisions_are_hidden_unless_asked(procore: Procore):
    drawing = await procore.create_drawing("A-1")
    for number in ("1", "2", "3"):
        await import_revision(procore, drawing, number)
    one, two, three = await revisions(procore)
    assert [r["current"] for r in (one, two, three)] == [False, False, True]

    obsolete = await change(procore, revision_id=one["id"], obsolete=True)
    assert (obsolete["obsolete"], obsolete["deleted"], obsolete["drawing_id"]) == (
        True,
        False,
        drawing,
    )
    await change(procore, revision_id=three["id"], deleted=True)

    assert [r["id"] for r in await revisions(procore)] == [two["id"]]
    assert (await revisions(procore))[0]["current"] is True  # the newest still in the log
    shown = await revisions(procore, "?with_obsolete=true")
    assert [(r["id"], r["obsolete"]) for r in shown] == [(one["id"], True), (two["id"], False)]
    assert "deleted" not in shown[0]
    with_deleted = await revisions(procore, "?filters[deleted]=with")
    assert [(r["id"], r["deleted"]) for r in with_deleted] == [
        (two["id"], False),
        (three["id"], True),
    ]
    only = await revisions(procore, "?filters[deleted]=only&with_obsolete=true")
    assert [r["id"] for r in only] == [three["id"]]

    drawings = (await procore.state("drawings"))["drawings"]
    flags = [(r["id"], r["obsolete"], r["deleted"]) for r in drawings[0]["revisions"]]
    assert flags == [
        (one["id"], True, False),
        (two["id"], False, False),
        (three["id"], False, True),
    ]


async def test_a_removed_revision_is_gone(procore: Procore):
    drawing = await procore.create_drawing("A-1")
    await import_revision(procore, drawing)
    (item,) = await revisions(procore)
    answer = await change(procore, revision_id=item["id"], remove=True)
    assert answer["removed"] is True
    assert await revisions(procore, "?filters[deleted]=with&with_obsolete=true") == []
    missing = await procore.raw(
        "POST", "/_emulator/revisions", json={"revision_id": item["id"], "deleted": True}
    )
    assert missing.status == 404
    assert (
        await procore.raw("POST", "/_emulator/revisions", json={"revision_id": 1})
    ).status == 400


async def test_obsolete_and_deleted_revisions_still_block_a_duplicate(procore: Procore):
    """Strict reading: the same revision number, set and dates are refused even when the
    earlier revision is obsolete or deleted."""
    drawing = await procore.create_drawing("A-1")
    await import_revision(procore, drawing, "1")
    await import_revision(procore, drawing, "2")
    one, two = await revisions(procore)
    await change(procore, revision_id=one["id"], obsolete=True)
    await change(procore, revision_id=two["id"], deleted=True)
    for number in ("1", "2"):
        uuid = await procore.uploaded(f"again-{number}.pdf")
        reply = await procore.drawing_upload(
            [
                {
                    "upload_uuid": uuid,
                    "drawing_date": DAY,
                    "drawing_id": drawing,
                    "default_revision": number,
                }
            ]
        )
        assert reply.status == 422
        assert "drawing_log_imports[0].default_revision" in reply.json()["errors"]
    await change(procore, revision_id=two["id"], remove=True)
    await import_revision(procore, drawing, "2")  # a removed revision no longer counts


async def test_without_access_the_list_is_404():
    async with running(revisions_access=False) as procore:
        reply = await procore.call(
            "GET", f"/rest/v1.0/projects/{procore.project_id}/drawing_revisions"
        )
        assert reply.status == 404
        assert reply.json() == {"errors": "Not Found"}
        state = await procore.state("requests", "rejections")
        assert state["requests"]["GET /rest/v1.0/projects/{project_id}/drawing_revisions"] == 1
        assert state["rejections"] == {"revisions_not_permitted": 1}


async def test_the_v11_path_does_not_exist(procore: Procore):
    path = f"/rest/v1.1/projects/{procore.project_id}/drawing_revisions"
    assert (await procore.call("GET", path)).status == 404
