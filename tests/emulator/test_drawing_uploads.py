"""Create Drawing Upload: validation of every import, idempotency, processing over time."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from .conftest import Procore, running

pytestmark = pytest.mark.anyio

DAY = "2026-03-17T22:42:36Z"


def entry(
    uuid: str, drawing_id: int | None = None, revision: str = "1", **extra: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {"upload_uuid": uuid, "drawing_date": DAY, **extra}
    if drawing_id is not None:
        item |= {"drawing_id": drawing_id, "default_revision": revision}
    return item


async def test_direct_import_moves_to_reviewed_and_adds_revisions():
    async with running(processing_delay=10) as procore:
        drawings = [await procore.create_drawing(f"A-10{n}") for n in range(3)]
        uuids = [await procore.uploaded(f"A-10{n}.pdf") for n in range(3)]
        reply = await procore.drawing_upload(
            [entry(u, d) for u, d in zip(uuids, drawings, strict=True)]
        )
        assert reply.status == 201
        created = reply.json()
        assert created["status"] == "in_queue"
        path = f"/rest/v1.1/projects/{procore.project_id}/drawing_uploads/{created['id']}"
        await procore.advance(5)
        assert (await procore.call("GET", path)).json()["status"] == "in_progress"
        await procore.advance(5)
        shown = (await procore.call("GET", f"{path}?view=with_drawing_log_imports")).json()
        assert shown["status"] == "reviewed"
        assert [i["drawing_id"] for i in shown["drawing_log_imports"]] == drawings
        assert shown["drawing_log_imports"][0]["drawing_date"] == "2026-03-17"
        assert shown["drawing_log_imports"][0]["filename"] == "A-100.pdf"
        listed = await procore.call(
            "GET", f"/rest/v1.1/drawing_areas/{procore.area_ids[0]}/drawings"
        )
        assert all(d["current_revision"]["revision_number"] == "1" for d in listed.json())


async def test_without_drawing_id_it_waits_for_review(procore: Procore):
    reply = await procore.drawing_upload([entry(await procore.uploaded())], wrap=False)
    assert reply.status == 201
    shown = await procore.call(
        "GET", f"/rest/v1.1/projects/{procore.project_id}/drawing_uploads/{reply.json()['id']}"
    )
    assert shown.json()["status"] == "ready_for_review"
    assert (await procore.state("drawings"))["drawings"] == []


async def test_a_file_that_is_not_a_pdf_fails_processing(procore: Procore):
    drawing = await procore.create_drawing("A-1")
    uuid = await procore.uploaded("A-1.pdf", content=b"PK\x03\x04 a zip, renamed")
    reply = await procore.drawing_upload([entry(uuid, drawing)])
    assert reply.status == 201
    (upload,) = (await procore.state("drawing_uploads"))["drawing_uploads"]
    assert upload["status"] == "failed"
    assert uuid in upload["failure_reason"]
    (stored,) = (await procore.state("drawings"))["drawings"]
    assert stored["revisions"] == []


async def test_the_same_idempotency_token_returns_the_original(procore: Procore):
    imports = [entry(await procore.uploaded())]
    first = await procore.drawing_upload(imports, token="batch-0001")
    again = await procore.drawing_upload(imports, token="batch-0001")
    assert (first.status, again.status) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len((await procore.state("drawing_uploads"))["drawing_uploads"]) == 1


async def test_rejections_name_each_bad_entry_and_apply_nothing(procore: Procore):
    good = await procore.uploaded("good.pdf")
    not_posted = (await procore.create_upload("never.pdf"))["uuid"]
    other_user = await (await procore.as_other_user()).uploaded("theirs.pdf")
    other_area = await procore.create_drawing("B-1", procore.area_ids[1])
    reply = await procore.drawing_upload(
        [
            entry(good),
            entry("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            entry(not_posted),
            entry(other_user),
            entry(good),
            {"upload_uuid": await procore.uploaded("nodate.pdf")},
            entry(await procore.uploaded("b.pdf"), other_area),
            {**entry(await procore.uploaded("c.pdf"), other_area), "default_revision": None},
        ]
    )
    assert reply.status == 422
    errors = reply.json()["errors"]
    assert errors == {
        "drawing_log_imports[1].upload_uuid": ["does not name an upload"],
        "drawing_log_imports[2].upload_uuid": ["has not been uploaded to storage yet"],
        "drawing_log_imports[3].upload_uuid": [
            "belongs to another user: only the user who created an upload may use it"
        ],
        "drawing_log_imports[4].upload_uuid": ["appears more than once in this request"],
        "drawing_log_imports[5].drawing_date": ["is missing or not a date"],
        "drawing_log_imports[6].drawing_id": ["is not a drawing of this drawing area"],
        "drawing_log_imports[7].drawing_id": ["is not a drawing of this drawing area"],
        "drawing_log_imports[7].default_revision": ["can't be blank when drawing_id is given"],
    }
    assert (await procore.state("drawing_uploads"))["drawing_uploads"] == []
    # Nothing was attached, so the good upload still imports.
    assert (await procore.drawing_upload([entry(good)])).status == 201


async def test_an_upload_imports_once(procore: Procore):
    uuid = await procore.uploaded()
    first = await procore.drawing_upload([entry(uuid)])
    second = await procore.drawing_upload([entry(uuid)])
    assert second.status == 422
    assert second.json()["errors"]["drawing_log_imports[0].upload_uuid"] == [
        f"has already been imported by drawing upload {first.json()['id']}"
    ]


async def test_uploads_past_the_attach_deadline_are_gone():
    async with running(attach_deadline=60) as procore:
        uuid = await procore.uploaded()
        await procore.advance(60)
        reply = await procore.drawing_upload([entry(uuid)])
        assert reply.status == 422
        assert "was deleted" in reply.json()["errors"]["drawing_log_imports[0].upload_uuid"][0]
        (upload,) = (await procore.state("uploads"))["uploads"]
        assert upload["deleted"] is True


async def test_a_revision_with_the_same_set_and_dates_is_refused(procore: Procore):
    drawing = await procore.create_drawing("A-1")
    assert (await procore.drawing_upload([entry(await procore.uploaded(), drawing)])).status == 201
    same = await procore.drawing_upload([entry(await procore.uploaded(), drawing)])
    assert same.status == 422
    assert "default_revision" in next(iter(same.json()["errors"]))
    newer = await procore.drawing_upload([entry(await procore.uploaded(), drawing, revision="2")])
    assert newer.status == 201


async def test_target_must_be_this_projects_area_and_set(procore: Procore):
    reply = await procore.call(
        "POST",
        f"/rest/v1.1/projects/{procore.project_id}/drawing_uploads",
        json={"drawing_area_id": 1, "drawing_log_imports": [entry(await procore.uploaded())]},
    )
    assert reply.status == 422
    assert reply.json()["errors"] == {
        "drawing_set_id": ["can't be blank"],
        "drawing_area_id": ["is not a drawing area of this project"],
    }


async def test_empty_or_oversized_batches_are_refused():
    async with running(max_imports_per_upload=2) as procore:
        assert (await procore.drawing_upload([])).status == 422
        three = [entry(await procore.uploaded(f"{n}.pdf")) for n in range(3)]
        reply = await procore.drawing_upload(three)
        assert reply.status == 422
        assert reply.json()["errors"] == {"drawing_log_imports": ["has more than 2 entries"]}


async def test_v11_refuses_multipart_and_v10_takes_the_flat_form(procore: Procore):
    uuid = await procore.uploaded()
    base = f"/rest/{{}}/projects/{procore.project_id}/drawing_uploads"
    fields = [
        ("drawing_area_id", str(procore.area_ids[0])),
        ("drawing_set_id", str(procore.set_ids[0])),
        ("upload_uuids[]", uuid),
        ("drawing_date", "2026-03-17"),
    ]
    form = aiohttp.FormData(fields, default_to_multipart=True)
    assert (await procore.call("POST", base.format("v1.1"), data=form)).status == 400
    form = aiohttp.FormData(fields, default_to_multipart=True)
    reply = await procore.call("POST", base.format("v1.0"), data=form)
    assert reply.status == 201, reply.text
    assert reply.json()["status"] == "ready_for_review"


async def test_list_is_paginated_and_can_include_imports():
    async with running(max_per_page=2) as procore:
        for n in range(3):
            await procore.drawing_upload([entry(await procore.uploaded(f"{n}.pdf"))])
        path = f"/rest/v1.1/projects/{procore.project_id}/drawing_uploads"
        page = await procore.call("GET", f"{path}?view=with_drawing_log_imports")
        assert page.headers["Total"] == "3"
        assert len(page.json()) == 2
        assert "drawing_log_imports" in page.json()[0]
        v10 = await procore.call("GET", path.replace("v1.1", "v1.0") + "?page=2")
        assert len(v10.json()) == 1
        assert "drawing_log_imports" not in v10.json()[0]


async def test_show_of_an_unknown_upload_is_404(procore: Procore):
    path = f"/rest/v1.1/projects/{procore.project_id}/drawing_uploads/77"
    assert (await procore.call("GET", path)).status == 404


async def test_a_project_can_start_with_the_history_of_an_old_one():
    """`earlier_drawing_uploads`: processed drawing uploads, each with its import, listed in
    pages with the documented headers (default page size, the largest one granted), before
    the uploads made later, and each one shown on its own."""
    async with running(earlier_drawing_uploads=2500) as procore:
        created = await procore.drawing_upload([entry(await procore.uploaded())])
        path = f"/rest/v1.1/projects/{procore.project_id}/drawing_uploads"
        first = await procore.call("GET", path)
        assert (first.headers["Total"], first.headers["Per-Page"]) == ("2501", "100")
        assert 'page=26&per_page=100>; rel="last"' in first.headers["Link"]
        assert {u["status"] for u in first.json()} == {"reviewed"}
        last = await procore.call("GET", f"{path}?per_page=5000&page=3")
        assert last.headers["Per-Page"] == "1000"  # clamped to the largest page
        assert [u["id"] for u in last.json()][-1] == created.json()["id"]
        assert len(last.json()) == 501
        earlier = first.json()[0]
        shown = await procore.call("GET", f"{path}/{earlier['id']}?view=with_drawing_log_imports")
        assert shown.status == 200
        (imported,) = shown.json()["drawing_log_imports"]
        assert imported["filename"] == "earlier-000001.pdf"
        assert earlier["created_at"] < created.json()["created_at"]
        assert earlier["drawing_set_id"] == procore.set_ids[0]
