"""Which records a caller may reach, and the JSON body it sent.

Procore answers 404, not 403, for records the caller cannot see, so a project of another company
looks the same as one that does not exist.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from .replies import procore_error
from .traffic import principal
from .world import DrawingArea, Project, World


class Refusal(Exception):
    """Raised inside a route to answer with `response` at once."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def not_found(what: str) -> Refusal:
    return Refusal(procore_error(404, f"{what} not found"))


def path_id(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise not_found(name.removesuffix("_id").replace("_", " ").capitalize()) from None


def project_for(world: World, request: web.Request) -> Project:
    project = world.projects.get(path_id(request, "project_id"))
    if project is None or project.company_id != principal(request).company_id:
        raise not_found("Project")
    return project


def area_for(world: World, request: web.Request) -> tuple[DrawingArea, Project]:
    area = world.areas.get(path_id(request, "drawing_area_id"))
    project = world.projects.get(area.project_id) if area else None
    if area is None or project is None or project.company_id != principal(request).company_id:
        raise not_found("Drawing area")
    return area, project


async def json_object(world: World, request: web.Request, wrapper: str | None) -> dict[str, Any]:
    """The JSON object sent, unwrapped from `{wrapper: {...}}` when it came wrapped; with no
    wrapper, exactly as sent."""
    if request.content_type != "application/json":
        world.ledger.reject("not_json", request.content_type, violation=True)
        raise Refusal(procore_error(400, "Send the body as JSON (Content-Type: application/json)"))
    try:
        body = await request.json()
    except ValueError:
        world.ledger.reject("malformed_json", request.path, violation=True)
        raise Refusal(procore_error(400, "The request body is not valid JSON")) from None
    if wrapper is not None and isinstance(body, dict) and isinstance(body.get(wrapper), dict):
        body = body[wrapper]
    if not isinstance(body, dict):
        world.ledger.reject("malformed_json", request.path, violation=True)
        raise Refusal(procore_error(400, "The request body must be a JSON object"))
    return body


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except Refusal as refusal:
        return refusal.response
    return response
