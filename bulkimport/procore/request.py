"""What one Procore call is, as every attempt of it sends it, and the endpoint names calls are
counted, paced and reported under (the route, never the ids in the path)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TOKEN_ENDPOINT = "POST /oauth/token"
TOKEN_INFO_ENDPOINT = "GET /oauth/token/info"
AREAS_ENDPOINT = "GET /rest/v1.1/projects/{id}/drawing_areas"
UPLOADS_ENDPOINT = "GET /rest/v1.1/projects/{id}/drawing_uploads"
PROJECT_UPLOAD_ENDPOINT = "POST /rest/v1.1/projects/{id}/uploads"
COMPANY_UPLOAD_ENDPOINT = "POST /rest/v1.1/companies/{id}/uploads"


@dataclass(frozen=True, slots=True)
class Request:
    """One Procore call, as every attempt of it sends it."""

    method: str
    url: str
    endpoint: str  # the template it is counted and reported under
    with_token: bool = True
    json: Any = None
    data: Mapping[str, str] | None = None
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
