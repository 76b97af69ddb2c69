"""List Drawing Revisions: what reached the drawing log, and how a client confirms an import.

procore-api.md C8 (REF `RestV10ProjectsProjectIdDrawingRevisionsGet`): obsolete revisions are
hidden unless `with_obsolete=true`, deleted ones unless `filters[deleted]=with|only`; the
filters `drawing_area_id`, `drawing_id` and `drawing_set_id` are plain query parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from .access import Refusal, project_for
from .pagination import paginated
from .replies import field_errors, procore_error
from .world import Drawing, Revision, World

Pair = tuple[Drawing, Revision]


def revision_json(
    world: World, drawing: Drawing, revision: Revision, deleted: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": revision.id,
        "drawing_id": drawing.id,
        "drawing_number": drawing.number,
        "number": world.display_number(drawing),
        "title": drawing.title,
        "revision_number": revision.revision_number,
        "drawing_set": {"id": revision.drawing_set_id},
        "drawing_area": {"id": drawing.area_id},
        "drawing_date": revision.drawing_date,
        "received_date": revision.received_date,
        "current": revision is drawing.current,
        "obsolete": revision.obsolete,
    }
    if deleted:
        body["deleted"] = revision.deleted
    return body


def _id_filter(world: World, request: web.Request, name: str) -> Callable[[int], bool]:
    raw = request.query.get(name, "").strip()
    if not raw:
        return lambda _: True
    if not raw.isdigit():
        world.ledger.reject("bad_revision_filter", f"{name}={raw}", violation=True)
        raise Refusal(field_errors(400, name, "is not a number"))
    wanted = int(raw)
    return lambda value: value == wanted


def _deleted_filter(world: World, request: web.Request) -> Callable[[Revision], bool] | None:
    """Which revisions `filters[deleted]` lets through; None when deleted ones stay hidden."""
    raw = request.query.get("filters[deleted]", "")
    if raw == "with":
        return lambda _: True
    if raw == "only":
        return lambda revision: revision.deleted
    if raw:
        world.ledger.reject("bad_revision_filter", f"filters[deleted]={raw}", violation=True)
        raise Refusal(field_errors(400, "filters[deleted]", "must be one of only, with"))
    return None


def visible_revisions(world: World, request: web.Request, project_id: int) -> list[Pair]:
    in_area = _id_filter(world, request, "drawing_area_id")
    of_drawing = _id_filter(world, request, "drawing_id")
    in_set = _id_filter(world, request, "drawing_set_id")
    with_obsolete = request.query.get("with_obsolete", "").lower() in ("true", "1")
    deleted = _deleted_filter(world, request)
    return [
        (drawing, revision)
        for area in world.areas_of(project_id)
        if in_area(area.id)
        for drawing in world.drawings_of(area.id)
        if of_drawing(drawing.id)
        for revision in drawing.revisions
        if in_set(revision.drawing_set_id)
        and (with_obsolete or not revision.obsolete)
        and (deleted(revision) if deleted is not None else not revision.deleted)
    ]


def routes(world: World) -> web.RouteTableDef:
    table = web.RouteTableDef()
    per_page = (world.config.default_per_page, world.config.max_per_page)

    @table.get("/rest/v1.0/projects/{project_id}/drawing_revisions")
    async def list_revisions(request: web.Request) -> web.Response:
        if not world.config.revisions_access:
            # A service account without the Drawings permission: Procore answers 404 for what
            # the caller cannot see (procore-api.md section 9).
            world.ledger.reject("revisions_not_permitted", request.path, violation=False)
            return procore_error(404, "Not Found")
        project = project_for(world, request)
        shows_deleted = "filters[deleted]" in request.query
        return paginated(
            request,
            visible_revisions(world, request, project.id),
            lambda pair: revision_json(world, *pair, shows_deleted),
            *per_page,
        )

    return table
