"""Drawing areas, drawing sets and drawings: the lists a client resolves names through, and
Create Drawing Set / Create Drawing. Drawing revisions are in revisions.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .access import Refusal, area_for, json_object, not_found, project_for
from .clock import iso
from .pagination import paginated
from .replies import field_errors
from .world import Drawing, DrawingArea, DrawingSet, Project, World


def set_json(world: World, drawing_set: DrawingSet, area_id: int | None) -> dict[str, Any]:
    project = world.projects[drawing_set.project_id]
    published: int | None = None
    if area_id is not None:
        published = sum(
            1
            for d in world.drawings_of(area_id)
            if any(r.drawing_set_id == drawing_set.id for r in d.revisions)
        )
    return {
        "id": drawing_set.id,
        "project_id": project.id,
        "company_id": project.company_id,
        "name": drawing_set.name,
        "created_at": iso(drawing_set.created_at),
        "updated_at": iso(drawing_set.created_at),
        "date": drawing_set.date,
        "position": drawing_set.position,
        "connected": False,
        "deletable": False,
        "published_drawings_count": published,
        "unpublished_drawings_count": 0 if area_id is not None else None,
    }


def area_json(world: World, area: DrawingArea, version: str) -> dict[str, Any]:
    drawings = world.drawings_of(area.id)
    if version == "v1.1":
        return {
            "id": area.id,
            "name": area.name,
            "drawings_count": len(drawings),
            "description": None,
            "created_at": iso(area.created_at),
            "updated_at": iso(area.created_at),
            "deletable": not drawings,
        }
    disciplines = {d.discipline.id: d.discipline for d in drawings}
    return {
        "id": area.id,
        "name": area.name,
        "description": None,
        "drawings_count": len(drawings),
        "drawing_sets": [set_json(world, s, None) for s in world.sets_of(area.project_id)],
        "drawing_disciplines": [
            {"id": d.id, "name": d.name, "position": str(i)}
            for i, d in enumerate(disciplines.values())
        ],
    }


def drawing_json(world: World, drawing: Drawing) -> dict[str, Any]:
    current = drawing.current
    return {
        "id": drawing.id,
        # procore-api.md C2: `number` carries the sheet suffix, `drawing_number` never does.
        "number": world.display_number(drawing),
        "drawing_number": drawing.number,
        "sheet_number": drawing.sheet_number,
        "title": drawing.title,
        "discipline": drawing.discipline.name,
        "drawing_discipline_id": drawing.discipline.id,
        "drawing_area_id": drawing.area_id,
        "obsolete": False,
        "current_revision": None
        if current is None
        else {
            "id": current.id,
            "revision_number": current.revision_number,
            "drawing_set_id": current.drawing_set_id,
            "drawing_date": current.drawing_date,
            "received_date": current.received_date,
            "pdf_url": None,
            "png_url": None,
            "thumbnail_url": None,
        },
    }


def create_set(world: World, project: Project, body: dict[str, Any]) -> DrawingSet:
    # procore-api.md C1: the reference documents a flat body; only PATCH wraps in
    # `drawing_set`, and a field report saw a nested-only body refused for a blank name.
    name = str(body.get("name") or "").strip()
    if not name:
        nested = isinstance(body.get("drawing_set"), dict)
        kind = "nested_set_body" if nested else "blank_set_name"
        world.ledger.reject(kind, str(body)[:200], violation=True)
        raise Refusal(field_errors(422, "name", "can't be blank"))
    drawing_set = DrawingSet(
        id=world.next_id(),
        project_id=project.id,
        name=name,
        date=body.get("date"),
        position=len(world.sets_of(project.id)),
        created_at=world.clock.now(),
    )
    world.sets[drawing_set.id] = drawing_set
    return drawing_set


def _sheet_number(body: dict[str, Any]) -> str | None:
    raw = body.get("sheet_number")
    text = "" if raw is None else str(raw).strip()
    return text or None


def create_drawing(world: World, area: DrawingArea, body: dict[str, Any]) -> Drawing:
    number = str(body.get("number") or "").strip()
    if not number:
        world.ledger.reject("blank_drawing_number", "", violation=True)
        raise Refusal(field_errors(400, "number", "can't be blank"))
    discipline = body.get("drawing_discipline")
    name = discipline.get("name") if isinstance(discipline, dict) else None
    if not isinstance(name, str) or not name.strip():
        world.ledger.reject("blank_discipline", number, violation=True)
        raise Refusal(field_errors(400, "drawing_discipline", "Drawing Discipline can't be blank"))
    # procore-api.md C3: sheets of one number are told apart by sheet_number, so a number is
    # taken only for the same sheet (or for no sheet).
    sheet = _sheet_number(body)
    if world.drawing_by_number(area.id, number, sheet) is not None:
        # Not a violation: a client that lost the first answer meets this on its retry.
        world.ledger.reject("drawing_number_taken", number, violation=False)
        raise Refusal(field_errors(422, "number", "has already been taken"))
    title = body.get("title")
    drawing = Drawing(
        id=world.next_id(),
        area_id=area.id,
        number=number,
        title=str(title) if title is not None else None,
        discipline=world.discipline(area.project_id, name.strip()),
        sheet_number=sheet,
    )
    world.add_drawing(drawing)
    return drawing


def scoped_area(world: World, request: web.Request) -> DrawingArea:
    """The path's drawing area, checked against the `project_id` query parameter.

    procore-api.md C2 and section 4: the reference lists `project_id` on these calls without
    marking it required, and integrators report sending it; `require_project_id` rehearses the
    reading where Procore insists on it.
    """
    area, project = area_for(world, request)
    raw = request.query.get("project_id", "").strip()
    if not raw:
        if world.config.require_project_id:
            world.ledger.reject("missing_project_id", request.path, violation=True)
            raise Refusal(field_errors(400, "project_id", "can't be blank"))
        return area
    if not raw.isdigit() or int(raw) != project.id:
        world.ledger.reject(
            "project_id_mismatch", f"{request.path}?project_id={raw}", violation=True
        )
        raise not_found("Drawing area")
    return area


def routes(world: World) -> web.RouteTableDef:
    table = web.RouteTableDef()
    per_page = (world.config.default_per_page, world.config.max_per_page)

    for version in ("v1.0", "v1.1"):

        @table.get(f"/rest/{version}/projects/{{project_id}}/drawing_areas")
        async def list_areas(request: web.Request, version: str = version) -> web.Response:
            project = project_for(world, request)
            return paginated(
                request,
                world.areas_of(project.id),
                lambda area: area_json(world, area, version),
                *per_page,
            )

        @table.get(f"/rest/{version}/drawing_areas/{{drawing_area_id}}/drawings")
        async def list_drawings(request: web.Request) -> web.Response:
            area = scoped_area(world, request)
            return paginated(
                request,
                world.drawings_of(area.id),
                lambda drawing: drawing_json(world, drawing),
                *per_page,
            )

        @table.post(f"/rest/{version}/drawing_areas/{{drawing_area_id}}/drawings")
        async def post_drawing(request: web.Request) -> web.Response:
            area = scoped_area(world, request)
            body = await json_object(world, request, "drawing")
            drawing = create_drawing(world, area, body)
            return web.json_response(
                {
                    "id": drawing.id,
                    "number": world.display_number(drawing),
                    "drawing_number": drawing.number,
                    "sheet_number": drawing.sheet_number,
                    "title": drawing.title,
                    "obsolete": False,
                    "discipline": drawing.discipline.name,
                },
                status=201,
            )

    @table.get("/rest/v1.0/projects/{project_id}/drawing_sets")
    async def list_sets(request: web.Request) -> web.Response:
        project = project_for(world, request)
        raw_area = request.query.get("drawing_area_id")
        area_id = int(raw_area) if raw_area and raw_area.isdigit() else None
        return paginated(
            request, world.sets_of(project.id), lambda s: set_json(world, s, area_id), *per_page
        )

    @table.post("/rest/v1.0/projects/{project_id}/drawing_sets")
    async def post_set(request: web.Request) -> web.Response:
        project = project_for(world, request)
        body = await json_object(world, request, None)
        return web.json_response(
            set_json(world, create_set(world, project, body), None), status=201
        )

    return table
