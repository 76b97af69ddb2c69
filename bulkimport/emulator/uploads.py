"""Create Upload (project and company level, v1.0 and v1.1): a ULID, the storage URL, and the
signed POST policy fields that expire `upload_ttl` after issue.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .access import Refusal, not_found, path_id, project_for
from .ids import new_ulid
from .oauth import read_form
from .replies import field_errors, procore_error
from .sigv4 import post_fields
from .traffic import principal
from .world import Upload, World


def content_disposition(filename: str | None, attachment: bool) -> str:
    """`inline; filename="a.pdf"`, with an RFC 6266 `filename*` when the name is not ASCII."""
    kind = "attachment" if attachment else "inline"
    if not filename:
        return kind
    fallback = filename.encode("ascii", "replace").decode().replace("\\", "_").replace('"', '\\"')
    value = f'{kind}; filename="{fallback}"'
    if not filename.isascii():
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


async def upload_request(world: World, request: web.Request) -> dict[str, Any]:
    """The Create Upload body: JSON (wrapped in `upload` or not), a form, or nothing."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            world.ledger.reject("malformed_json", request.path, violation=True)
            raise Refusal(procore_error(400, "The request body is not valid JSON")) from None
        if isinstance(body, dict) and isinstance(body.get("upload"), dict):
            body = body["upload"]
        if not isinstance(body, dict):
            raise Refusal(procore_error(400, "The request body must be a JSON object"))
        return body
    if request.can_read_body:
        return dict(await read_form(request))
    return {}


def create_upload(
    world: World, request: web.Request, body: dict[str, Any], project_id: int | None
) -> Upload:
    who = principal(request)
    if body.get("segments"):
        world.ledger.reject("segmented_upload", request.path, violation=False)
        raise Refusal(
            procore_error(422, "Segmented uploads are not served by this emulator; omit segments")
        )
    filename = body.get("response_filename")
    if filename is not None and not isinstance(filename, str):
        raise Refusal(field_errors(422, "response_filename", "must be a string"))
    if "/v1.1/" in request.path and not filename:
        world.ledger.reject("missing_response_filename", request.path, violation=True)
        raise Refusal(field_errors(422, "response_filename", "can't be blank"))
    content_type = body.get("response_content_type") or (
        mimetypes.guess_type(filename)[0] if filename else None
    )
    now = world.clock.now()
    uuid = new_ulid(now)
    bucket = world.bucket_of(who.company_id)
    upload = Upload(
        uuid=uuid,
        key=f"companies/{who.company_id}/{uuid}",
        bucket=bucket,
        owner_user_id=who.user_id,
        company_id=who.company_id,
        project_id=project_id,
        created_at=now,
        expires_at=now + world.config.upload_ttl,
        response_filename=filename,
        content_type=str(content_type or "application/octet-stream"),
    )
    world.uploads[uuid] = upload
    return upload


def upload_json(world: World, upload: Upload, attachment: bool) -> dict[str, Any]:
    fields = post_fields(
        bucket=upload.bucket,
        key=upload.key,
        content_type=upload.content_type,
        content_disposition=content_disposition(upload.response_filename, attachment),
        access_key=world.s3_access_key,
        secret=world.s3_secret,
        issued_at=upload.created_at,
        expires_at=upload.expires_at,
        max_bytes=world.config.max_upload_bytes,
    )
    return {"uuid": upload.uuid, "url": f"{world.s3_base}/{upload.bucket}", "fields": fields}


def routes(world: World) -> web.RouteTableDef:
    table = web.RouteTableDef()

    def refuse_sunset(request: web.Request) -> None:
        """procore-api.md C10: v1.0 Create Upload is deprecated, and a deprecated endpoint is
        removed at sunset (section 2.3); off rehearses that day."""
        if "/v1.0/" in request.path and not world.config.v10_uploads:
            world.ledger.reject("v10_upload_sunset", request.path, violation=True)
            raise Refusal(procore_error(404, "Not Found"))

    async def answer(request: web.Request, project_id: int | None) -> web.Response:
        body = await upload_request(world, request)
        upload = create_upload(world, request, body, project_id)
        attachment = str(body.get("attachment_content_disposition", "")).lower() == "true"
        return web.json_response(upload_json(world, upload, attachment), status=201)

    for version in ("v1.0", "v1.1"):

        @table.post(f"/rest/{version}/projects/{{project_id}}/uploads")
        async def project_upload(request: web.Request) -> web.Response:
            refuse_sunset(request)
            return await answer(request, project_for(world, request).id)

        @table.post(f"/rest/{version}/companies/{{company_id}}/uploads")
        async def company_upload(request: web.Request) -> web.Response:
            refuse_sunset(request)
            company_id = path_id(request, "company_id")
            if company_id != principal(request).company_id or company_id not in world.companies:
                raise not_found("Company")
            return await answer(request, None)

    return table
