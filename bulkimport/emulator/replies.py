"""The bodies the real services answer with: Procore's JSON errors and S3's XML envelope."""

from __future__ import annotations

import secrets
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web


def procore_error(status: int, errors: str | dict[str, Any]) -> web.Response:
    """v1.x errors: `{"errors": "text"}` or Rails-style `{"errors": {"field": ["text"]}}`."""
    return web.json_response({"errors": errors}, status=status)


def field_errors(status: int, field: str, message: str) -> web.Response:
    return procore_error(status, {field: [message]})


def s3_error(status: int, code: str, message: str) -> web.Response:
    request_id = secrets.token_hex(8).upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>{secrets.token_urlsafe(24)}</HostId></Error>"
    )
    return web.Response(status=status, body=body.encode(), content_type="application/xml")
