"""OAuth grants and the checks every REST call passes: token, company header, scoping."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from .conftest import Procore, running

pytestmark = pytest.mark.anyio

CREDENTIALS = {"client_id": "emulator-client-id", "client_secret": "emulator-client-secret"}


@pytest.mark.parametrize("encoding", ["form", "json", "multipart", "basic"])
async def test_client_credentials_in_every_body_encoding(procore: Procore, encoding: str):
    body = {"grant_type": "client_credentials", **CREDENTIALS}
    kwargs: dict[str, object]
    if encoding == "form":
        kwargs = {"data": body}
    elif encoding == "json":
        kwargs = {"json": body}
    elif encoding == "multipart":
        kwargs = {"data": aiohttp.FormData(list(body.items()), default_to_multipart=True)}
    else:
        basic = base64.b64encode(b"emulator-client-id:emulator-client-secret").decode()
        kwargs = {
            "data": {"grant_type": "client_credentials"},
            "headers": {"Authorization": f"Basic {basic}"},
        }
    reply = await procore.raw("POST", "/oauth/token", **kwargs)
    assert reply.status == 200, reply.text
    token = reply.json()
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 5400
    assert "refresh_token" not in token
    assert isinstance(token["created_at"], int)


async def test_wrong_secret_is_401(procore: Procore):
    reply = await procore.raw(
        "POST",
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "emulator-client-id",
            "client_secret": "nope",
        },
    )
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"


async def test_unsupported_grant_is_400(procore: Procore):
    reply = await procore.raw(
        "POST", "/oauth/token", data={"grant_type": "password", **CREDENTIALS}
    )
    assert reply.status == 400
    assert reply.json()["error"] == "unsupported_grant_type"


async def test_expired_token_is_401_on_the_api():
    async with running(token_ttl=60) as procore:
        path = f"/rest/v1.1/projects/{procore.project_id}/drawing_areas"
        assert (await procore.call("GET", path)).status == 200
        await procore.advance(61)
        reply = await procore.call("GET", path)
        assert reply.status == 401
        assert reply.json() == {"errors": "The access token is invalid"}
        assert "invalid_token" in reply.headers["WWW-Authenticate"]


async def test_refresh_tokens_are_single_use():
    async with running(issue_refresh_tokens=True) as procore:
        first = (
            await procore.raw(
                "POST", "/oauth/token", data={"grant_type": "client_credentials", **CREDENTIALS}
            )
        ).json()
        refresh = {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            **CREDENTIALS,
        }
        renewed = await procore.raw("POST", "/oauth/token", data=refresh)
        assert renewed.status == 200
        assert renewed.json()["refresh_token"] != first["refresh_token"]
        again = await procore.raw("POST", "/oauth/token", data=refresh)
        assert again.status == 400
        assert again.json()["error_description"] == "The refresh token is invalid"


async def test_token_info_and_revoke(procore: Procore):
    auth = {"Authorization": f"Bearer {procore.token}"}
    info = await procore.raw("GET", "/oauth/token/info", headers=auth)
    assert info.status == 200
    assert info.json()["application"] == {"uid": "emulator-client-id"}
    assert 0 < info.json()["expires_in_seconds"] <= 5400
    assert (await procore.raw("POST", "/oauth/revoke", data={"token": procore.token})).status == 200
    assert (await procore.raw("GET", "/oauth/token/info", headers=auth)).status == 401
    # Revoking what does not exist answers 200 as well.
    assert (await procore.raw("POST", "/oauth/revoke", data={"token": "nothing"})).status == 200


async def test_api_needs_a_bearer_token(procore: Procore):
    path = f"/rest/v1.1/projects/{procore.project_id}/drawing_areas"
    assert (await procore.raw("GET", path)).status == 401
    bad = await procore.raw("GET", path, headers={"Authorization": "Bearer forged"})
    assert bad.status == 401


async def test_missing_company_header_is_refused_with_a_clear_message(procore: Procore):
    path = f"/rest/v1.1/projects/{procore.project_id}/drawing_areas"
    reply = await procore.raw("GET", path, headers={"Authorization": f"Bearer {procore.token}"})
    assert reply.status == 400
    assert reply.json()["errors"].startswith("Missing Procore-Company-Id header!")
    state = await procore.state("violations")
    assert state["violations"][-1]["kind"] == "missing_company_header"


async def test_missing_company_status_can_be_403():
    async with running(missing_company_status=403) as procore:
        path = f"/rest/v1.1/projects/{procore.project_id}/drawing_areas"
        reply = await procore.raw("GET", path, headers={"Authorization": f"Bearer {procore.token}"})
        assert reply.status == 403


async def test_company_not_connected_is_403_and_foreign_project_404(procore: Procore):
    path = f"/rest/v1.1/projects/{procore.project_id}/drawing_areas"
    reply = await procore.call("GET", path, headers={"Procore-Company-Id": "12345"})
    assert reply.status == 403
    assert reply.json()["errors"] == "App is not connected to this company"
    missing = await procore.call("GET", "/rest/v1.1/projects/999/drawing_areas")
    assert missing.status == 404
    assert (await procore.call("GET", "/rest/v1.1/projects/abc/drawing_areas")).status == 404
