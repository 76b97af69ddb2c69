"""The one client for every Procore call.

It owns the access token (client credentials, renewed before it expires, one renewal at a
time), sends Procore-Company-Id, follows every page of a list, and retries what is safe to
retry: connection errors, timeouts, 429 and 5xx, with capped exponential backoff and full
jitter, honouring Retry-After. A 401 renews the token once. Other 4xx answers are not retried:
they become ProcoreRejected with Procore's own message. aiohttp's errors stop here.
"""

from __future__ import annotations

import base64
import json
import random
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import anyio
import structlog

from bulkimport.errors import AuthenticationError, ProcoreRejected, ProcoreUnavailable
from bulkimport.logs import keep_secret
from bulkimport.models import Target, Ticket
from bulkimport.procore.pacing import RateBudget
from bulkimport.settings import Credentials, ProcoreSettings, plain_http_allowed

log = structlog.get_logger("bulkimport.procore.client")

RENEW_BEFORE = 300.0  # renew a token this long before it expires, or at 3/4 of a short life
DEFAULT_TICKET_LIFE = 3600.0
RETRY_STATUSES = frozenset({500, 502, 503, 504})
MAX_RATE_LIMITED = 20  # 429s one call may meet before the run gives up on it
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or the text when it is not JSON


def error_message(body: Any) -> str:
    """Procore's reason in a 4xx body: `errors` (text or per field), `message`, or the text."""
    if isinstance(body, dict):
        errors = body.get("errors") or body.get("error_description") or body.get("message")
        if isinstance(errors, dict):
            return "; ".join(
                f"{field}: {', '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                for field, msgs in errors.items()
            )
        if errors:
            return str(errors)
    text = body if isinstance(body, str) else json.dumps(body)
    return text.strip()[:500] or "no message"


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Full jitter: a random wait up to base * 2**attempt, at most `cap`."""
    return random.uniform(0, min(cap, base * 2**attempt))


def ticket_from(answer: dict[str, Any], issued_at: float) -> Ticket:
    """A Create Upload answer. Its expiry comes from the policy when it can be read."""
    fields = answer.get("fields") or {}
    expires_at = issued_at + DEFAULT_TICKET_LIFE
    try:
        policy = json.loads(base64.b64decode(fields["policy"]))
        expires_at = datetime.fromisoformat(policy["expiration"]).timestamp()
    except (KeyError, ValueError, TypeError):
        pass  # not a readable policy: fall back to Procore's documented hour
    return Ticket(
        uuid=str(answer["uuid"]),
        url=str(answer["url"]),
        fields=tuple((str(k), str(v)) for k, v in fields.items()),
        issued_at=issued_at,
        expires_at=expires_at,
    )


class ProcoreClient:
    def __init__(
        self,
        settings: ProcoreSettings,
        credentials: Credentials,
        session: aiohttp.ClientSession,
        budget: RateBudget | None = None,
    ) -> None:
        self.settings = settings
        self._credentials = credentials
        self._session = session
        self.budget = budget or RateBudget()
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._token_lock = anyio.Lock()
        self.requests: dict[str, int] = {}  # per endpoint, for the report

    # Auth -------------------------------------------------------------------------------

    async def _bearer(self, stale: str | None = None) -> str:
        async with self._token_lock:
            # Another worker may have renewed while this one waited for the lock.
            fresh = self._token is not None and self._token != stale
            if fresh and time.time() < self._token_renew_at:
                assert self._token is not None
                return self._token
            answer = await self._send(
                "POST",
                f"{self.settings.login_base}/oauth/token",
                "POST /oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._credentials.client_id,
                    "client_secret": self._credentials.client_secret,
                },
                auth=False,
            )
            self._token = str(answer.body["access_token"])
            keep_secret(self._token)
            lifetime = float(answer.body.get("expires_in", 3600))
            self._token_renew_at = time.time() + lifetime - min(RENEW_BEFORE, lifetime / 4)
            log.info("auth.token", expires_in=lifetime)
            return self._token

    # Requests ---------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        url = path if path.startswith("http") else f"{self.settings.api_base}{path}"
        return await self._send(
            method, url, endpoint, json=json_body, params=params, headers=headers, auth=True
        )

    async def _send(
        self, method: str, url: str, endpoint: str, *, auth: bool, **kwargs: Any
    ) -> Reply:
        extra: dict[str, str] = dict(kwargs.pop("headers", None) or {})
        renewed = False
        failures = 0  # network errors and 5xx, capped by max_attempts
        rate_limited = 0  # 429s and 503 throttles only wait for the budget; capped on their own
        last_error = "no attempt made"
        while failures < self.settings.max_attempts and rate_limited < MAX_RATE_LIMITED:
            headers = dict(extra)
            token = None
            if auth:
                token = await self._bearer()
                headers["Authorization"] = f"Bearer {token}"
                headers["Procore-Company-Id"] = str(self.settings.company_id)
            try:
                status, reply_headers, text = await self._exchange(
                    method, url, endpoint, headers, auth, kwargs
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                wait = backoff(failures)
                failures += 1
                log.warning("procore.retry", endpoint=endpoint, error=last_error, wait=wait)
                await anyio.sleep(wait)
                continue
            body: Any = _parse(text, reply_headers.get("Content-Type", ""))
            if 200 <= status < 300:
                return Reply(status, reply_headers, body)
            if status == 401 and auth and not renewed:
                renewed = True  # one renewal, then the same call once more
                await self._bearer(stale=token)
                continue
            if not auth and status in (400, 401):
                raise AuthenticationError(
                    f"Procore refused the client credentials ({error_message(body)}); "
                    "check PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET"
                )
            if status == 401:
                raise AuthenticationError(f"{endpoint}: the access token was refused twice")
            last_error = error_message(body)
            if status == 429:  # every caller waits, then this call goes again
                rate_limited += 1
                told = rate_limit_wait(reply_headers, time.time())
                # A wait of 0 (Retry-After: 0, a Reset already past by our clock) still backs
                # off: Procore has just said to slow down.
                self.budget.pause(max(told or 0.0, backoff(rate_limited)), "rate_limited")
                log.warning("procore.rate_limited", endpoint=endpoint)
                continue
            if status not in RETRY_STATUSES:
                raise ProcoreRejected(endpoint, status, last_error, body)
            throttle = retry_after(reply_headers)
            if status == 503 and throttle is not None:
                # Procore's heavy-load throttle (DOCS rate_limiting.md): the whole run backs
                # off, not only this call, and like a 429 it is not a failed attempt.
                rate_limited += 1
                self.budget.pause(max(throttle, backoff(rate_limited)), "throttled")
                log.warning("procore.throttled", endpoint=endpoint, wait=round(throttle, 2))
                continue
            failures += 1
            wait = max(throttle or 0.0, backoff(failures - 1))
            log.warning("procore.retry", endpoint=endpoint, status=status, wait=round(wait, 2))
            await anyio.sleep(wait)
        raise ProcoreUnavailable(
            endpoint,
            None,
            f"gave up after {failures} failed attempts and {rate_limited} rate limits or "
            f"throttles: "
            f"{last_error}",
        )

    async def _exchange(
        self,
        method: str,
        url: str,
        endpoint: str,
        headers: dict[str, str],
        auth: bool,
        kwargs: dict[str, Any],
    ) -> tuple[int, Mapping[str, str], str]:
        """One request and its answer; authenticated calls take their turn from the budget."""
        if not plain_http_allowed(url):
            # A link or URL Procore handed back must not carry the token in the clear.
            raise ProcoreRejected(endpoint, None, "refused a plain-http URL outside this machine")
        self.requests[endpoint] = self.requests.get(endpoint, 0) + 1
        timeout = aiohttp.ClientTimeout(
            total=self.settings.timeout,
            sock_connect=min(30.0, self.settings.timeout),
            sock_read=self.settings.timeout,
        )
        if auth:
            await self.budget.acquire()
        answered: Mapping[str, str] | None = None
        try:
            async with self._session.request(
                method, url, headers=headers, timeout=timeout, **kwargs
            ) as response:
                text = await response.text()
                answered = response.headers
                return response.status, response.headers, text
        finally:
            if auth:
                self.budget.release(answered)

    async def pages(
        self, path: str, endpoint: str, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page of a paginated list in turn, following `Link: rel="next"` to the end."""
        url: str | None = f"{self.settings.api_base}{path}"
        query: Mapping[str, str] | None = {"per_page": "1000", **(params or {})}
        while url:
            reply = await self.call("GET", url, endpoint, params=query)
            if not isinstance(reply.body, list):
                raise ProcoreRejected(endpoint, reply.status, "expected a JSON list", reply.body)
            yield reply.body
            found = _NEXT_LINK.search(reply.headers.get("Link", ""))
            url, query = (found.group(1), None) if found else (None, None)

    async def list_all(
        self, path: str, endpoint: str, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        return [item async for page in self.pages(path, endpoint, params) for item in page]

    # Endpoints --------------------------------------------------------------------------

    @property
    def _project(self) -> str:
        return f"/rest/v1.1/projects/{self.settings.project_id}"

    @property
    def _in_project(self) -> dict[str, str]:
        """Area-scoped calls name the project too: the reference lists `project_id` on them,
        and some integrators report needing it (procore-api.md C2)."""
        return {"project_id": str(self.settings.project_id)}

    async def drawing_areas(self) -> list[dict[str, Any]]:
        return await self.list_all(
            f"{self._project}/drawing_areas", "GET /rest/v1.1/projects/{id}/drawing_areas"
        )

    async def drawing_sets(self) -> list[dict[str, Any]]:
        return await self.list_all(
            f"/rest/v1.0/projects/{self.settings.project_id}/drawing_sets",
            "GET /rest/v1.0/projects/{id}/drawing_sets",
        )

    async def create_drawing_set(self, name: str) -> dict[str, Any]:
        reply = await self.call(
            "POST",
            f"/rest/v1.0/projects/{self.settings.project_id}/drawing_sets",
            "POST /rest/v1.0/projects/{id}/drawing_sets",
            # The reference documents the flat body (REF RestV10ProjectsProjectIdDrawingSetsPost);
            # one integrator reports the nested-only body refused with "name can't be blank",
            # another sends both. Both shapes at once work under either reading.
            json_body={"name": name, "drawing_set": {"name": name}},
        )
        return dict(reply.body)

    def drawings(self, area_id: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The area's drawings, a page at a time: an area can hold tens of thousands."""
        return self.pages(
            f"/rest/v1.1/drawing_areas/{area_id}/drawings",
            "GET /rest/v1.1/drawing_areas/{id}/drawings",
            self._in_project,
        )

    def drawing_revisions(
        self, area_id: int, set_id: int | None = None, drawing_id: int | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every revision of the area's drawings (of one set, or one drawing, when given), a
        page at a time, obsolete and deleted ones included: Procore hides both unless asked
        (REF, procore-api.md C8), yet still counts them when it refuses a revision already
        there."""
        params = {
            "drawing_area_id": str(area_id),
            "with_obsolete": "true",
            "filters[deleted]": "with",
        }
        if set_id is not None:
            params["drawing_set_id"] = str(set_id)
        if drawing_id is not None:
            params["drawing_id"] = str(drawing_id)
        return self.pages(
            f"/rest/v1.0/projects/{self.settings.project_id}/drawing_revisions",
            "GET /rest/v1.0/projects/{id}/drawing_revisions",
            params,
        )

    async def create_drawing(
        self, area_id: int, number: str, title: str | None, discipline: str
    ) -> int:
        drawing: dict[str, Any] = {"number": number, "drawing_discipline": {"name": discipline}}
        if title:
            drawing["title"] = title
        reply = await self.call(
            "POST",
            f"/rest/v1.1/drawing_areas/{area_id}/drawings",
            "POST /rest/v1.1/drawing_areas/{id}/drawings",
            json_body={"drawing": drawing},
            params=self._in_project,
        )
        return int(reply.body["id"])

    async def create_upload(self, filename: str) -> Ticket:
        if self.settings.upload_scope == "company":
            path = f"/rest/v1.1/companies/{self.settings.company_id}/uploads"
        else:
            path = f"{self._project}/uploads"
        issued_at = time.time()
        reply = await self.call(
            "POST",
            path,
            f"POST /rest/v1.1/{self.settings.upload_scope}s/{{id}}/uploads",
            json_body={"response_filename": filename, "response_content_type": "application/pdf"},
        )
        return ticket_from(reply.body, issued_at)

    async def create_drawing_upload(
        self, target: Target, imports: list[dict[str, Any]], token: str
    ) -> dict[str, Any]:
        """Review batches ask Procore to read number and title from each sheet's name."""
        reply = await self.call(
            "POST",
            f"{self._project}/drawing_uploads",
            "POST /rest/v1.1/projects/{id}/drawing_uploads",
            json_body={
                "drawing_upload": {
                    "drawing_area_id": target.area_id,
                    "drawing_set_id": target.set_id,
                    "get_info_from_filename": target.review,
                    "drawing_log_imports": imports,
                }
            },
            headers={"Idempotency-Token": token},
        )
        return dict(reply.body)

    async def drawing_upload(self, upload_id: int) -> dict[str, Any]:
        reply = await self.call(
            "GET",
            f"{self._project}/drawing_uploads/{upload_id}",
            "GET /rest/v1.1/projects/{id}/drawing_uploads/{id}",
        )
        return dict(reply.body)

    def drawing_uploads_with_imports(self) -> AsyncIterator[list[dict[str, Any]]]:
        """Every drawing upload of the project with its imports, a page at a time."""
        return self.pages(
            f"{self._project}/drawing_uploads",
            "GET /rest/v1.1/projects/{id}/drawing_uploads",
            {"view": "with_drawing_log_imports"},
        )

    async def drawing_uploads(self) -> list[dict[str, Any]]:
        return await self.list_all(
            f"{self._project}/drawing_uploads", "GET /rest/v1.1/projects/{id}/drawing_uploads"
        )


def _parse(text: str, content_type: str) -> Any:
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def retry_after(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` in seconds, when the answer has a readable one."""
    try:
        return max(0.0, float(headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def rate_limit_wait(headers: Mapping[str, str], now: float) -> float | None:
    """How long a 429 asks every caller to wait: `Retry-After` when present, otherwise until
    `X-Rate-Limit-Reset`, the rule DOCS rate_limiting.md gives (procore-api.md C13); None when
    the answer says neither."""
    wait = retry_after(headers)
    if wait is not None:
        return wait
    try:
        return max(0.0, float(headers["X-Rate-Limit-Reset"]) - now)
    except (KeyError, ValueError):
        return None
