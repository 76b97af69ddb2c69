"""OAuth 2.0 as Procore serves it: `/oauth/token` (client_credentials, refresh_token),
`/oauth/token/info` and `/oauth/revoke`.

Bodies may be JSON, form-urlencoded or multipart; client credentials come from the body or HTTP
Basic. Refresh tokens are single-use: any refresh call spends the one it names.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from aiohttp import web

from .world import AccessToken, ApiClient, World

INVALID_TOKEN = "The access token is invalid"


async def read_form(request: web.Request) -> dict[str, str]:
    """The request body as flat strings, whatever its encoding."""
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def issue_token(world: World, client: ApiClient) -> dict[str, Any]:
    now = world.clock.now()
    token = secrets.token_urlsafe(32)
    world.tokens[token] = AccessToken(
        client_id=client.client_id,
        user_id=client.user_id,
        created_at=now,
        expires_at=now + world.config.token_ttl,
    )
    world.ledger.tokens_issued += 1
    body: dict[str, Any] = {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": int(world.config.token_ttl),
        "created_at": int(now),
    }
    if world.config.issue_refresh_tokens:
        refresh = secrets.token_urlsafe(32)
        world.refresh_tokens[refresh] = client.client_id
        body["refresh_token"] = refresh
    return body


def bearer(world: World, header: str | None) -> AccessToken | None:
    """The live token named by an `Authorization: Bearer` header, if any."""
    if not header or not header.lower().startswith("bearer "):
        return None
    token = world.tokens.get(header[7:].strip())
    if token is None or token.expires_at <= world.clock.now():
        return None
    return token


def unauthorized(world: World, detail: str) -> web.Response:
    world.ledger.reject("invalid_token", detail, violation=False)
    response = web.json_response({"errors": INVALID_TOKEN}, status=401)
    response.headers["WWW-Authenticate"] = (
        f'Bearer realm="Procore", error="invalid_token", error_description="{INVALID_TOKEN}"'
    )
    return response


def routes(world: World) -> web.RouteTableDef:
    table = web.RouteTableDef()

    @table.post("/oauth/token")
    async def token(request: web.Request) -> web.Response:
        form = await read_form(request)
        basic = basic_credentials(request.headers.get("Authorization"))
        client_id = form.get("client_id") or (basic[0] if basic else "")
        secret = form.get("client_secret") or (basic[1] if basic else "")
        client = world.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.client_secret, secret):
            world.ledger.reject("invalid_client", client_id, violation=False)
            return oauth_error(401, "invalid_client", "Client authentication failed.")
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            return web.json_response(issue_token(world, client))
        if grant == "refresh_token":
            # Spent whether or not the call succeeds, as Procore documents.
            owner = world.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if owner != client.client_id:
                world.ledger.reject("invalid_grant", "refresh token", violation=False)
                return oauth_error(400, "invalid_grant", "The refresh token is invalid")
            return web.json_response(issue_token(world, client))
        world.ledger.reject("unsupported_grant_type", grant, violation=True)
        return oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")

    @table.get("/oauth/token/info")
    async def token_info(request: web.Request) -> web.Response:
        found = bearer(world, request.headers.get("Authorization"))
        if found is None:
            return unauthorized(world, "token info")
        return web.json_response(
            {
                "resource_owner_id": found.user_id,
                "scopes": [],
                "expires_in_seconds": max(0, int(found.expires_at - world.clock.now())),
                "application": {"uid": found.client_id},
                "created_at": int(found.created_at),
            }
        )

    @table.post("/oauth/revoke")
    async def revoke(request: web.Request) -> web.Response:
        form = await read_form(request)
        named = form.get("token", "")
        world.tokens.pop(named, None)
        world.refresh_tokens.pop(named, None)
        return web.json_response({})  # 200 whether or not the token existed

    return table
