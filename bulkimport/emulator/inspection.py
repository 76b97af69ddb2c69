"""`/_emulator/*`: what the emulator received, for tests, the demo and the benchmarks.

`GET /_emulator/state[?sections=a,b]` reports drawings, drawing sets, uploads (size, sha256),
drawing uploads with their imports, request counts per endpoint, 429s, when each admitted REST
call arrived (`timeline`), injected faults and rejections. `POST /_emulator/clock` with
`{"advance": seconds}` moves the one clock forward. `POST /_emulator/revisions` with
`{"revision_id": N, "obsolete"|"deleted"|"remove": true}` changes a revision as a Procore user
would in the web app, so tests can show how a client treats obsolete, deleted and vanished ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from .drawing_uploads import settle, status_of
from .replies import procore_error
from .world import Revision, World

REVISION_FLAGS = ("obsolete", "deleted", "remove")


def _revision(r: Revision) -> dict[str, Any]:
    return {
        "id": r.id,
        "revision_number": r.revision_number,
        "drawing_set_id": r.drawing_set_id,
        "drawing_date": r.drawing_date,
        "received_date": r.received_date,
        "upload_uuid": r.upload_uuid,
        "drawing_upload_id": r.drawing_upload_id,
        "obsolete": r.obsolete,
        "deleted": r.deleted,
    }


def _drawings(world: World) -> list[dict[str, Any]]:
    return [
        {
            "id": d.id,
            "drawing_area_id": d.area_id,
            "number": world.display_number(d),
            "drawing_number": d.number,
            "sheet_number": d.sheet_number,
            "title": d.title,
            "discipline": d.discipline.name,
            "revisions": [_revision(r) for r in d.revisions],
        }
        for d in world.drawings.values()
    ]


def _uploads(world: World) -> list[dict[str, Any]]:
    now = world.clock.now()
    return [
        {
            "uuid": u.uuid,
            "key": u.key,
            "owner_user_id": u.owner_user_id,
            "company_id": u.company_id,
            "project_id": u.project_id,
            "response_filename": u.response_filename,
            "content_type": u.content_type,
            "created_at": u.created_at,
            "expires_at": u.expires_at,
            "posted": u.posted,
            "post_count": u.post_count,
            "size": u.size,
            "sha256": u.sha256,
            "attached_to": u.attached_to,
            "deleted": u.attached_to is None and u.created_at + world.config.attach_deadline <= now,
        }
        for u in world.uploads.values()
    ]


def _drawing_uploads(world: World) -> list[dict[str, Any]]:
    return [
        {
            "id": du.id,
            "project_id": du.project_id,
            "drawing_area_id": du.drawing_area_id,
            "drawing_set_id": du.drawing_set_id,
            "created_by_id": du.created_by_id,
            "status": status_of(world, du),
            "failure_reason": du.failure_reason,
            "idempotency_token": du.idempotency_token,
            "api_version": du.api_version,
            "get_info_from_filename": du.get_info_from_filename,
            "imports": [
                {
                    "upload_uuid": e.upload_uuid,
                    "filename": e.filename,
                    "drawing_id": e.drawing_id,
                    "default_revision": e.default_revision,
                    "drawing_date": e.drawing_date,
                    "received_date": e.received_date,
                    "needs_review": e.needs_review,
                }
                for e in du.imports
            ],
        }
        for du in world.drawing_uploads.values()
    ]


SECTIONS: dict[str, Callable[[World], Any]] = {
    "clock": lambda w: {"now": w.clock.now(), "offset": w.clock.offset},
    "drawings": _drawings,
    "drawing_sets": lambda w: [
        {"id": s.id, "project_id": s.project_id, "name": s.name, "date": s.date}
        for s in w.sets.values()
    ],
    "uploads": _uploads,
    "drawing_uploads": _drawing_uploads,
    "requests": lambda w: dict(w.ledger.requests),
    "requests_total": lambda w: sum(w.ledger.requests.values()),
    "rate_limited": lambda w: w.ledger.rate_limited,
    "timeline": lambda w: [[t, name] for t, name in w.ledger.timeline],
    "tokens_issued": lambda w: w.ledger.tokens_issued,
    "faults": lambda w: dict(w.ledger.faults),
    "rejections": lambda w: dict(w.ledger.rejections),
    "violations": lambda w: list(w.ledger.violations),
}


def routes(world: World) -> web.RouteTableDef:
    table = web.RouteTableDef()

    @table.get("/_emulator/state")
    async def state(request: web.Request) -> web.Response:
        settle(world)
        wanted = request.query.get("sections")
        names = wanted.split(",") if wanted else list(SECTIONS)
        unknown = [n for n in names if n not in SECTIONS]
        if unknown:
            return procore_error(400, f"unknown sections {unknown}; choose from {list(SECTIONS)}")
        return web.json_response({name: SECTIONS[name](world) for name in names})

    @table.post("/_emulator/clock")
    async def clock(request: web.Request) -> web.Response:
        try:
            seconds = float((await request.json())["advance"])
            world.clock.advance(seconds)
        except (ValueError, KeyError, TypeError) as exc:
            return procore_error(400, f'send {{"advance": seconds >= 0}}: {exc}')
        return web.json_response({"now": world.clock.now(), "offset": world.clock.offset})

    @table.post("/_emulator/revisions")
    async def change_revision(request: web.Request) -> web.Response:
        usage = 'send {"revision_id": N, "obsolete"|"deleted"|"remove": true|false}'
        try:
            body = await request.json()
        except ValueError:
            return procore_error(400, usage)
        if (
            not isinstance(body, dict)
            or type(body.get("revision_id")) is not int
            or not any(flag in body for flag in REVISION_FLAGS)
            or any(not isinstance(body.get(flag, False), bool) for flag in REVISION_FLAGS)
        ):
            return procore_error(400, usage)
        settle(world)
        found = world.find_revision(body["revision_id"])
        if found is None:
            return procore_error(404, "Revision not found")
        drawing, revision = found
        revision.obsolete = body.get("obsolete", revision.obsolete)
        revision.deleted = body.get("deleted", revision.deleted)
        answer = {"drawing_id": drawing.id, **_revision(revision), "removed": False}
        if body.get("remove"):
            drawing.revisions.remove(revision)
            answer["removed"] = True
        return web.json_response(answer)

    @table.post("/_emulator/idempotency")
    async def forget_tokens(request: web.Request) -> web.Response:
        """How long Procore remembers an Idempotency-Token is undocumented (procore-api.md,
        section 13): this forgets every one, so a client can be shown not to depend on it."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("forget") is not True:
            return procore_error(400, 'send {"forget": true}')
        forgotten = len(world.idempotency)
        world.idempotency.clear()
        return web.json_response({"forgotten": forgotten})

    return table
