"""Create Drawing Upload under each reading of the reference: dates, refusal style, review."""

from __future__ import annotations

from typing import Any

import pytest

from bulkimport.emulator import Faults

from .conftest import Procore, running

pytestmark = pytest.mark.anyio


def direct(
    uuid: str, drawing_id: int, day: str, revision: str = "1", **extra: Any
) -> dict[str, Any]:
    return {
        "upload_uuid": uuid,
        "drawing_date": day,
        "drawing_id": drawing_id,
        "default_revision": revision,
        **extra,
    }


async def imported_days(procore: Procore) -> list[tuple[str, str | None]]:
    (upload,) = (await procore.state("drawing_uploads"))["drawing_uploads"]
    return [(i["drawing_date"], i["received_date"]) for i in upload["imports"]]


async def test_date_times_and_plain_dates_are_both_read_by_default(procore: Procore):
    drawing = await procore.create_drawing("A-1")
    reply = await procore.drawing_upload(
        [
            direct(await procore.uploaded("1.pdf"), drawing, "2026-03-17T12:00:00Z"),
            direct(await procore.uploaded("2.pdf"), drawing, "2026-03-18", "2"),
            direct(
                await procore.uploaded("3.pdf"),
                drawing,
                "2026-03-19T08:00:00+02:00",
                "3",
                received_date="2026-03-20T23:30:00-01:00",
            ),
        ]
    )
    assert reply.status == 201, reply.text
    assert await imported_days(procore) == [
        ("2026-03-17", None),
        ("2026-03-18", None),
        ("2026-03-19", "2026-03-21"),  # 23:30 at -01:00 is already the 21st in UTC
    ]
    path = f"/rest/v1.0/projects/{procore.project_id}/drawing_revisions"
    answered = [r["drawing_date"] for r in (await procore.call("GET", path)).json()]
    assert answered == ["2026-03-17", "2026-03-18", "2026-03-19"]  # responses return dates


async def test_strict_dates_refuse_a_plain_date():
    async with running(strict_dates=True) as procore:
        drawing = await procore.create_drawing("A-1")
        uuid = await procore.uploaded()
        reply = await procore.drawing_upload(
            [direct(uuid, drawing, "2026-03-17", received_date="2026-03-18")]
        )
        assert reply.status == 422
        assert reply.json()["errors"] == {
            "drawing_log_imports[0].drawing_date": ["must be an ISO 8601 date-time"],
            "drawing_log_imports[0].received_date": ["must be an ISO 8601 date-time"],
        }
        ok = await procore.drawing_upload([direct(uuid, drawing, "2026-03-17T12:00:00Z")])
        assert ok.status == 201


@pytest.mark.parametrize(
    ("offset", "sent", "day"),
    [
        (-8.0, "2026-03-17T12:00:00Z", "2026-03-17"),  # noon UTC keeps the day everywhere
        (12.0, "2026-03-17T12:00:00Z", "2026-03-18"),  # ... except at +12, where it is midnight
        (-5.0, "2026-03-17T00:00:00Z", "2026-03-16"),  # midnight UTC is the evening before
        (-5.0, "2026-03-17T00:00:00", "2026-03-17"),  # no zone: the project's own time
        (-5.0, "2026-03-17", "2026-03-17"),  # a plain date is a calendar day already
    ],
)
async def test_a_date_time_becomes_the_projects_calendar_day(offset: float, sent: str, day: str):
    async with running(project_utc_offset=offset) as procore:
        drawing = await procore.create_drawing("A-1")
        reply = await procore.drawing_upload([direct(await procore.uploaded(), drawing, sent)])
        assert reply.status == 201
        assert await imported_days(procore) == [(day, None)]


async def test_batch_refusals_are_400_and_name_no_entry():
    async with running(refusal_style="batch") as procore:
        good = await procore.uploaded("good.pdf")
        reply = await procore.drawing_upload(
            [{"upload_uuid": good, "drawing_date": "2026-03-17"}, {"upload_uuid": "nope"}]
        )
        assert reply.status == 400
        assert reply.json() == {"errors": "Bad Request: a drawing log import is invalid"}
        assert "[" not in reply.text
        assert (await procore.state("drawing_uploads"))["drawing_uploads"] == []
        kinds = [v["kind"] for v in (await procore.state("violations"))["violations"]]
        assert kinds == ["bad_drawing_log_imports"]
        # A bad target is not an entry: it keeps its field name, with the batch status.
        body = {"drawing_log_imports": [{"upload_uuid": good, "drawing_date": "2026-03-17"}]}
        target = await procore.call(
            "POST", f"/rest/v1.1/projects/{procore.project_id}/drawing_uploads", json=body
        )
        assert target.status == 400
        assert set(target.json()["errors"]) == {"drawing_set_id", "drawing_area_id"}
        # All or nothing: the good upload was not attached.
        ok = await procore.drawing_upload([{"upload_uuid": good, "drawing_date": "2026-03-17"}])
        assert ok.status == 201


async def test_a_direct_import_marked_for_review_waits_while_the_others_land(procore: Procore):
    first = await procore.create_drawing("A-1")
    second = await procore.create_drawing("A-2")
    reply = await procore.drawing_upload(
        [
            direct(await procore.uploaded("A-1.pdf"), first, "2026-03-17T12:00:00Z"),
            direct(await procore.uploaded("A-2 [review].pdf"), second, "2026-03-17T12:00:00Z"),
        ]
    )
    assert reply.status == 201
    path = f"/rest/v1.1/projects/{procore.project_id}/drawing_uploads/{reply.json()['id']}"
    shown = (await procore.call("GET", f"{path}?view=with_drawing_log_imports")).json()
    assert shown["status"] == "ready_for_review"
    assert all("needs_review" not in i for i in shown["drawing_log_imports"])  # undocumented
    state = await procore.state("drawing_uploads", "drawings")
    (upload,) = state["drawing_uploads"]
    assert [i["needs_review"] for i in upload["imports"]] == [False, True]
    assert [len(d["revisions"]) for d in state["drawings"]] == [1, 0]


async def test_review_rate_is_seeded_and_per_import():
    async def outcome(seed: int) -> list[bool]:
        async with running(review_rate=0.5, faults=Faults(seed=seed)) as procore:
            drawings = [await procore.create_drawing(f"A-{n}") for n in range(12)]
            imports = [
                direct(await procore.uploaded(f"A-{n}.pdf"), d, "2026-03-17T12:00:00Z")
                for n, d in enumerate(drawings)
            ]
            assert (await procore.drawing_upload(imports)).status == 201
            (upload,) = (await procore.state("drawing_uploads"))["drawing_uploads"]
            flags = [bool(i["needs_review"]) for i in upload["imports"]]
            assert upload["status"] == ("ready_for_review" if any(flags) else "reviewed")
            revisions = sum(
                len(d["revisions"]) for d in (await procore.state("drawings"))["drawings"]
            )
            assert revisions == flags.count(False)
            return flags

    first = await outcome(4)
    assert first == await outcome(4)
    assert True in first
    assert False in first


async def test_review_rate_one_leaves_no_direct_import_reviewed():
    async with running(review_rate=1.0) as procore:
        drawing = await procore.create_drawing("A-1")
        reply = await procore.drawing_upload(
            [direct(await procore.uploaded(), drawing, "2026-03-17T12:00:00Z")]
        )
        assert reply.status == 201
        (upload,) = (await procore.state("drawing_uploads"))["drawing_uploads"]
        assert upload["status"] == "ready_for_review"
