"""Drawing Uploads: Create (v1.1 JSON, v1.0 multipart), Show (v1.1) and List.

A create is all or nothing: every `drawing_log_imports` entry is checked first (imports.py),
and one bad entry rejects the request: a 422 naming each bad entry by index, or with
`refusal_style="batch"` a 400 naming none. What passes is processed over `processing_delay`:
`in_queue`, `in_progress`, then `reviewed` when every import carries a `drawing_id` and was
auto-assigned, `ready_for_review` otherwise, or `failed` when a file is not a PDF. Revisions are
added to their drawings when processing ends.
"""

from __future__ import annotations

import random
from typing import Any

from aiohttp import web

from .access import Refusal, json_object, path_id, project_for
from .clock import iso
from .imports import Errors, read_imports
from .pagination import paginated
from .replies import field_errors, procore_error
from .traffic import drop_connection, principal
from .world import DrawingUpload, LogImport, Project, Revision, World

# A filename carrying this marker makes its direct import need review: a deterministic
# stand-in for review_rate, so a test can pick which import Procore fails to auto-assign.
REVIEW_MARKER = "[review]"
BATCH_REFUSAL = "Bad Request: a drawing log import is invalid"


def status_of(world: World, upload: DrawingUpload) -> str:
    elapsed = world.clock.now() - upload.created_at
    delay = world.config.processing_delay
    if elapsed >= delay:
        return upload.outcome
    return "in_queue" if elapsed < delay / 2 else "in_progress"


def settle(world: World) -> None:
    """Finish the processing whose time has come: add the revisions it produced."""
    still: list[int] = []
    for upload_id in world.unsettled:
        upload = world.drawing_uploads[upload_id]
        if status_of(world, upload) in ("in_queue", "in_progress"):
            still.append(upload_id)
            continue
        upload.settled = True
        if upload.outcome == "failed":
            continue
        for entry in upload.imports:
            if entry.drawing_id is None or entry.needs_review:
                continue  # waits in Items to Review
            world.drawings[entry.drawing_id].revisions.append(
                Revision(
                    id=world.next_id(),
                    revision_number=str(entry.default_revision),
                    drawing_set_id=entry.drawing_set_id,
                    drawing_date=entry.drawing_date,
                    received_date=entry.received_date,
                    upload_uuid=entry.upload_uuid,
                    drawing_upload_id=upload.id,
                )
            )
    world.unsettled = still


def drawing_upload_json(world: World, upload: DrawingUpload, with_imports: bool) -> dict[str, Any]:
    status = status_of(world, upload)
    body: dict[str, Any] = {
        "id": upload.id,
        "project_id": upload.project_id,
        "company_id": upload.company_id,
        "created_by_id": upload.created_by_id,
        "created_at": iso(upload.created_at),
        "updated_at": iso(upload.created_at),
        "error_email_sent": status == "failed",
        "notify_on_success": True,
        "deletion_in_progress": False,
        "success_email_sent": status in ("reviewed", "ready_for_review"),
        "drawing_area_id": upload.drawing_area_id,
        "drawing_set_id": upload.drawing_set_id,
        "status": status,
        "pre_adaptive_complete": status != "in_queue",
        "drawing_number_contains_revision": upload.drawing_number_contains_revision,
        "get_info_from_filename": upload.get_info_from_filename,
        "language": None,
        "audit_transaction_timestamp": iso(upload.created_at),
    }
    if with_imports:
        body["drawing_log_imports"] = [
            {
                "id": e.id,
                "filename": e.filename,
                "drawing_set_id": e.drawing_set_id,
                "drawing_date": e.drawing_date,
                "received_date": e.received_date,
                "default_revision": e.default_revision,
                "drawing_id": e.drawing_id,
                "custom_fields": e.custom_fields,
            }
            for e in upload.imports
        ]
    return body


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def refusal(world: World, kind: str, errors: Errors) -> Refusal:
    world.ledger.reject(kind, str(errors), violation=True)
    if world.config.refusal_style == "named":
        return Refusal(procore_error(422, errors))
    # procore-api.md C4: the reference lists 400 (not 422) and documents no error body, so the
    # batch reading refuses the whole request without saying which entry was wrong.
    if any("[" in key for key in errors):
        return Refusal(procore_error(400, BATCH_REFUSAL))
    return Refusal(procore_error(400, errors))


def needs_review(world: World, entry: LogImport, rng: random.Random) -> bool:
    """DOCS tutorial_direct_drawing_uploads.md (procore-api.md C7): a direct import skips
    review "unless issues are encountered"; how often is unknown, so it is a rate."""
    if entry.drawing_id is None:
        return False
    rate = world.config.review_rate
    drawn = rate > 0 and rng.random() < rate
    return drawn or REVIEW_MARKER in (entry.filename or "")


def create(
    world: World,
    request: web.Request,
    project: Project,
    body: dict[str, Any],
    version: str,
    review_rng: random.Random,
) -> DrawingUpload:
    who = principal(request)
    errors: Errors = {}
    set_id, area_id = body.get("drawing_set_id"), body.get("drawing_area_id")
    drawing_set = world.sets.get(int(str(set_id))) if str(set_id).isdigit() else None
    if drawing_set is None or drawing_set.project_id != project.id:
        errors["drawing_set_id"] = [
            "can't be blank" if set_id in (None, "") else "is not a drawing set of this project"
        ]
    area = world.areas.get(int(str(area_id))) if str(area_id).isdigit() else None
    if area is None or area.project_id != project.id:
        errors["drawing_area_id"] = [
            "can't be blank" if area_id in (None, "") else "is not a drawing area of this project"
        ]
    if errors:
        raise refusal(world, "bad_drawing_upload_target", errors)
    assert drawing_set is not None
    assert area is not None
    imports, errors = read_imports(
        world,
        who,
        area.id,
        drawing_set.id,
        body.get("drawing_log_imports"),
        # C5 concerns the v1.1 item fields; the v1.0 form's dates are plain form values.
        strict_dates=world.config.strict_dates and version == "v1.1",
    )
    if errors:
        raise refusal(world, "bad_drawing_log_imports", errors)
    for entry in imports:
        entry.needs_review = needs_review(world, entry, review_rng)
    not_pdf = [
        e.upload_uuid for e in imports if not world.uploads[e.upload_uuid].head.startswith(b"%PDF-")
    ]
    outcome = (
        "failed"
        if not_pdf
        else "reviewed"
        if all(e.drawing_id is not None and not e.needs_review for e in imports)
        else "ready_for_review"
    )
    upload = DrawingUpload(
        id=world.next_id(),
        project_id=project.id,
        company_id=project.company_id,
        created_by_id=who.user_id,
        created_at=world.clock.now(),
        drawing_area_id=area.id,
        drawing_set_id=drawing_set.id,
        drawing_number_contains_revision=_flag(body.get("drawing_number_contains_revision")),
        get_info_from_filename=_flag(body.get("get_info_from_filename")),
        imports=imports,
        idempotency_token=request.headers.get("Idempotency-Token"),
        api_version=version,
        outcome=outcome,
        failure_reason=f"not a PDF: {', '.join(not_pdf)}" if not_pdf else None,
    )
    world.drawing_uploads[upload.id] = upload
    world.unsettled.append(upload.id)
    for entry in imports:
        world.uploads[entry.upload_uuid].attached_to = upload.id
    return upload


async def v10_body(world: World, request: web.Request) -> dict[str, Any]:
    """The legacy flat form: `upload_uuids[]` and one `drawing_date` for every file."""
    if request.content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        world.ledger.reject("v10_not_form", request.content_type, violation=True)
        raise Refusal(procore_error(400, "v1.0 drawing uploads are sent as multipart/form-data"))
    form = await request.post()
    if form.getall("files[]", []):
        raise Refusal(
            field_errors(422, "files", "are not accepted here: upload first, send upload_uuids[]")
        )
    flat = {k: v for k, v in form.items() if isinstance(v, str)}
    day = flat.get("drawing_date") or iso(world.clock.now())[:10]
    return {
        **flat,
        "drawing_log_imports": [
            {"upload_uuid": str(u), "drawing_date": day, "received_date": flat.get("received_date")}
            for u in form.getall("upload_uuids[]", [])
        ],
    }


def routes(world: World) -> web.RouteTableDef:
    table = web.RouteTableDef()
    per_page = (world.config.default_per_page, world.config.max_per_page)
    rng = random.Random(world.config.faults.seed + 1)
    review_rng = random.Random(f"{world.config.faults.seed}:review")

    async def post(request: web.Request, version: str) -> web.Response:
        project = project_for(world, request)
        who = principal(request)
        token = request.headers.get("Idempotency-Token")
        if token:
            earlier = world.idempotency.get((who.user_id, project.id, token))
            if earlier is not None:
                return web.json_response(
                    drawing_upload_json(world, world.drawing_uploads[earlier], False), status=200
                )
        if version == "v1.1":
            body = await json_object(world, request, "drawing_upload")
        else:
            body = await v10_body(world, request)
        upload = create(world, request, project, body, version, review_rng)
        if token:
            world.idempotency[(who.user_id, project.id, token)] = upload.id
        if rng.random() < world.config.faults.apply_drop_rate:
            world.ledger.faults["apply_then_drop"] += 1
            raise drop_connection(request)
        return web.json_response(drawing_upload_json(world, upload, False), status=201)

    @table.post("/rest/v1.1/projects/{project_id}/drawing_uploads")
    async def post_v11(request: web.Request) -> web.Response:
        return await post(request, "v1.1")

    @table.post("/rest/v1.0/projects/{project_id}/drawing_uploads")
    async def post_v10(request: web.Request) -> web.Response:
        return await post(request, "v1.0")

    @table.get("/rest/v1.1/projects/{project_id}/drawing_uploads/{drawing_upload_id}")
    async def show(request: web.Request) -> web.Response:
        project = project_for(world, request)
        upload = world.drawing_uploads.get(path_id(request, "drawing_upload_id"))
        if upload is None or upload.project_id != project.id:
            return procore_error(404, "Drawing upload not found")
        with_imports = request.query.get("view") == "with_drawing_log_imports"
        return web.json_response(drawing_upload_json(world, upload, with_imports))

    for version in ("v1.0", "v1.1"):

        @table.delete(
            f"/rest/{version}/projects/{{project_id}}/drawing_uploads/{{drawing_upload_id}}"
        )
        async def delete(request: web.Request) -> web.Response:
            """REF: only an unreviewed drawing upload can be deleted (procore-api.md 7.3); its
            sheets leave Items to Review, and what was already assigned stays in the log."""
            project = project_for(world, request)
            settle(world)
            upload = world.drawing_uploads.get(path_id(request, "drawing_upload_id"))
            if upload is None or upload.project_id != project.id:
                return procore_error(404, "Drawing upload not found")
            if status_of(world, upload) == "reviewed":
                world.ledger.reject("delete_reviewed_upload", str(upload.id), violation=False)
                return procore_error(422, "A reviewed drawing upload cannot be deleted")
            del world.drawing_uploads[upload.id]
            world.unsettled = [i for i in world.unsettled if i != upload.id]
            for key in [k for k, v in world.idempotency.items() if v == upload.id]:
                del world.idempotency[key]
            return web.json_response(drawing_upload_json(world, upload, False))

        @table.get(f"/rest/{version}/projects/{{project_id}}/drawing_uploads")
        async def index(request: web.Request, version: str = version) -> web.Response:
            project = project_for(world, request)
            with_imports = (
                version == "v1.1" and request.query.get("view") == "with_drawing_log_imports"
            )
            uploads = [u for u in world.drawing_uploads.values() if u.project_id == project.id]
            return paginated(
                request, uploads, lambda u: drawing_upload_json(world, u, with_imports), *per_page
            )

    return table
