"""The one client for every Procore call.

It owns the access token (client credentials, renewed before it expires, one renewal at a
time), sends Procore-Company-Id, follows every page of a list, and reads each answer into a
typed value (`answers.py`). Each call is one `Request`; its attempts go through the run's one
retry policy (`retry.py`): network errors and 5xx back off with full jitter, a 429 or a 503
with Retry-After hold every caller through the shared budget (`pacing.py`) without counting as
a failed attempt, a 401 renews the token once. aiohttp's errors and HTTP statuses stop at the
boundary (`boundary.py`); other 4xx answers become ProcoreRejected with Procore's own message.
Every time the client reads comes from its `Clock`, so tests move time instead of sleeping.
"""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import aiohttp
import anyio
import structlog

from bulkimport.clock import SYSTEM, Clock
from bulkimport.config_values import plain_http_allowed
from bulkimport.errors import DrawingNumberTaken, ProcoreRejected, TokenRefused
from bulkimport.logs import keep_secret
from bulkimport.models import Target, Ticket
from bulkimport.procore.answers import (
    AccessToken,
    CreatedDrawingUpload,
    Drawing,
    DrawingArea,
    DrawingSet,
    DrawingUploadState,
    ListedDrawingUpload,
    ListSize,
    Page,
    Revision,
    TokenInfo,
    parsed,
    ticket_from,
)
from bulkimport.procore.boundary import Reply, procore_errors, procore_reply
from bulkimport.procore.pacing import RateBudget
from bulkimport.procore.request import (
    AREAS_ENDPOINT,
    COMPANY_UPLOAD_ENDPOINT,
    PROJECT_UPLOAD_ENDPOINT,
    TOKEN_ENDPOINT,
    TOKEN_INFO_ENDPOINT,
    UPLOADS_ENDPOINT,
    Request,
)
from bulkimport.procore.retry import procore_retrier
from bulkimport.settings import Credentials, ProcoreSettings

log = structlog.get_logger("bulkimport.procore.client")

T = TypeVar("T")

RENEW_BEFORE = 300.0  # renew a token this long before it expires, or at 3/4 of a short life
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


@dataclass(slots=True)
class _Token:
    """The access token, one renewal at a time, shared by the clients of every project."""

    lock: anyio.Lock
    value: str | None = None
    renew_at: float = 0.0


class ProcoreClient:
    def __init__(
        self,
        settings: ProcoreSettings,
        credentials: Credentials,
        session: aiohttp.ClientSession,
        budget: RateBudget | None = None,
        clock: Clock = SYSTEM,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._credentials = credentials
        self._session = session
        self.budget = budget or RateBudget(clock=clock)
        self._retry = procore_retrier(settings, clock, self.budget.pause)
        self._token = _Token(anyio.Lock())
        self.requests: dict[str, int] = {}  # per endpoint, for the report

    def for_project(self, project_id: int) -> ProcoreClient:
        """A client for another project of the company: the same token, budget, retry policy
        and request counts. Procore's budget is the credential's, whatever the project."""
        sibling = copy.copy(self)  # shallow: the token holder, budget and counts are shared
        sibling.settings = replace(self.settings, project_id=project_id)
        return sibling

    # Auth -------------------------------------------------------------------------------

    async def authenticate(self) -> None:
        """Get the access token now: refused credentials fail here, before anything else."""
        await self._bearer()

    async def _bearer(self, stale: str | None = None) -> str:
        held = self._token
        async with held.lock:
            # Another worker may have renewed while this one waited for the lock.
            fresh = held.value is not None and held.value != stale
            if fresh and self.clock.time() < held.renew_at:
                assert held.value is not None
                return held.value
            request = Request(
                "POST",
                f"{self.settings.login_base}/oauth/token",
                TOKEN_ENDPOINT,
                with_token=False,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._credentials.client_id,
                    "client_secret": self._credentials.client_secret,
                },
            )
            answer = await self._read(request, AccessToken.of)
            held.value = answer.token
            keep_secret(answer.token)
            lifetime = answer.expires_in
            held.renew_at = self.clock.time() + lifetime - min(RENEW_BEFORE, lifetime / 4)
            log.info("auth.token", expires_in=lifetime)
            return answer.token

    # Requests ---------------------------------------------------------------------------

    async def _read(self, request: Request, read: Callable[[Any], T]) -> T:
        reply = await self._send(request)
        return parsed(request.endpoint, reply.status, reply.body, read)

    async def _send(self, request: Request) -> Reply:
        """The call's answer, its attempts made under the retry policy."""
        refused: str | None = None  # the token a 401 refused: the next attempt renews it
        queued = 0.0  # seconds this call's attempts waited their turn in the budget

        def waited(seconds: float) -> None:
            nonlocal queued
            queued += seconds

        async def attempt() -> Reply:
            nonlocal refused
            token = await self._bearer(stale=refused) if request.with_token else None
            try:
                return await self._exchange(request, token, waited)
            except TokenRefused:
                refused = token
                raise

        return await self._retry(attempt, {"endpoint": request.endpoint}, lambda: queued)

    async def _exchange(
        self, request: Request, token: str | None, waited: Callable[[float], None]
    ) -> Reply:
        """One attempt: an authenticated call takes its turn from the budget (telling `waited`
        how long that took) and gives it back with the answer's rate-limit headers."""
        if not plain_http_allowed(request.url):
            # A link or URL Procore handed back must not carry the token in the clear.
            raise ProcoreRejected(
                request.endpoint, None, "refused a plain-http URL outside this machine"
            )
        self.requests[request.endpoint] = self.requests.get(request.endpoint, 0) + 1
        headers = dict(request.headers)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
            headers["Procore-Company-Id"] = str(self.settings.company_id)
        turn = await self.budget.acquire(request.endpoint) if request.with_token else None
        if turn is not None:
            waited(turn.waited)
        answered: Mapping[str, str] | None = None
        try:
            with procore_errors(request.endpoint):
                status, answered, text = await self._transfer(request, headers)
        finally:
            if turn is not None:
                self.budget.release(turn, answered)
        now = self.clock.time()
        return procore_reply(
            request.endpoint, status, answered, text, with_token=request.with_token, now=now
        )

    async def _transfer(
        self, request: Request, headers: Mapping[str, str]
    ) -> tuple[int, Mapping[str, str], str]:
        timeout = aiohttp.ClientTimeout(
            total=self.settings.timeout,
            sock_connect=min(30.0, self.settings.timeout),
            sock_read=self.settings.timeout,
        )
        async with self._session.request(
            request.method,
            request.url,
            headers=headers,
            timeout=timeout,
            json=request.json,
            data=request.data,
            params=request.params,
        ) as response:
            return response.status, response.headers, await response.text()

    async def pages(
        self,
        path: str,
        endpoint: str,
        read: Callable[[Any], T],
        params: Mapping[str, str] | None = None,
    ) -> AsyncIterator[list[T]]:
        """Each page of a paginated list in turn, following `Link: rel="next"` to the end,
        every item read by `read`."""
        async for page in self.sized_pages(path, endpoint, read, params):
            yield page.items

    async def sized_pages(
        self,
        path: str,
        endpoint: str,
        read: Callable[[Any], T],
        params: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Page[T]]:
        """`pages`, each with the list's size as its answer gives it: a caller that may stop
        early learns what reading on would cost."""
        url: str | None = f"{self.settings.api_base}{path}"
        query: Mapping[str, str] | None = {"per_page": "1000", **(params or {})}
        while url:
            reply = await self._send(Request("GET", url, endpoint, params=query))
            items = parsed(endpoint, reply.status, reply.body, lambda body: _items(body, read))
            yield Page(items, ListSize.of(reply.headers))
            found = _NEXT_LINK.search(reply.headers.get("Link", ""))
            url, query = (found.group(1), None) if found else (None, None)

    async def list_all(
        self,
        path: str,
        endpoint: str,
        read: Callable[[Any], T],
        params: Mapping[str, str] | None = None,
    ) -> list[T]:
        return [item async for page in self.pages(path, endpoint, read, params) for item in page]

    # Endpoints --------------------------------------------------------------------------

    @property
    def _project(self) -> str:
        return f"/rest/v1.1/projects/{self.settings.project_id}"

    @property
    def _in_project(self) -> dict[str, str]:
        """Area-scoped calls name the project too: the reference lists `project_id` on them,
        and some integrators report needing it (procore-api.md C2)."""
        return {"project_id": str(self.settings.project_id)}

    async def token_info(self) -> TokenInfo:
        """What Procore says of the token (asking for it first, when there is none)."""
        return await self._read(
            Request("GET", f"{self.settings.login_base}/oauth/token/info", TOKEN_INFO_ENDPOINT),
            TokenInfo.of,
        )

    async def server_date(self) -> str | None:
        """One slim page of the project's areas: whether the project is reachable, and
        Procore's `Date` to set the local clock against."""
        url = f"{self.settings.api_base}{self._project}/drawing_areas"
        reply = await self._send(Request("GET", url, AREAS_ENDPOINT, params={"per_page": "1"}))
        return reply.headers.get("Date")

    async def drawing_areas(self) -> list[DrawingArea]:
        return await self.list_all(f"{self._project}/drawing_areas", AREAS_ENDPOINT, DrawingArea.of)

    async def drawing_sets(self) -> list[DrawingSet]:
        return await self.list_all(
            f"/rest/v1.0/projects/{self.settings.project_id}/drawing_sets",
            "GET /rest/v1.0/projects/{id}/drawing_sets",
            DrawingSet.of,
        )

    async def create_drawing_set(self, name: str) -> DrawingSet:
        endpoint = "POST /rest/v1.0/projects/{id}/drawing_sets"
        request = Request(
            "POST",
            f"{self.settings.api_base}/rest/v1.0/projects/{self.settings.project_id}/drawing_sets",
            endpoint,
            # The reference documents the flat body (REF RestV10ProjectsProjectIdDrawingSetsPost);
            # one integrator reports the nested-only body refused with "name can't be blank",
            # another sends both. Both shapes at once work under either reading.
            json={"name": name, "drawing_set": {"name": name}},
        )
        return await self._read(request, DrawingSet.of)

    def drawings(self, area_id: int) -> AsyncIterator[list[Drawing]]:
        """The area's drawings, a page at a time: an area can hold tens of thousands."""
        return self.pages(
            f"/rest/v1.1/drawing_areas/{area_id}/drawings",
            "GET /rest/v1.1/drawing_areas/{id}/drawings",
            Drawing.of,
            self._in_project,
        )

    def drawing_revisions(
        self, area_id: int, set_id: int | None = None, drawing_id: int | None = None
    ) -> AsyncIterator[list[Revision]]:
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
            Revision.of,
            params,
        )

    async def create_drawing(
        self, area_id: int, number: str, title: str | None, discipline: str
    ) -> int:
        drawing: dict[str, Any] = {"number": number, "drawing_discipline": {"name": discipline}}
        if title:
            drawing["title"] = title
        request = Request(
            "POST",
            f"{self.settings.api_base}/rest/v1.1/drawing_areas/{area_id}/drawings",
            "POST /rest/v1.1/drawing_areas/{id}/drawings",
            json={"drawing": drawing},
            params=self._in_project,
        )
        try:
            return await self._read(request, lambda body: int(body["id"]))
        except ProcoreRejected as exc:
            # Procore's words for a number the area has (a create whose answer was lost, or
            # another tool's): read here, once, so callers tell it by its type.
            if exc.status == 422 and "taken" in exc.message:
                raise DrawingNumberTaken(exc.endpoint, exc.status, exc.message, exc.body) from exc
            raise

    async def create_upload(self, filename: str) -> Ticket:
        if self.settings.upload_scope == "company":
            path = f"/rest/v1.1/companies/{self.settings.company_id}/uploads"
            endpoint = COMPANY_UPLOAD_ENDPOINT
        else:
            path = f"{self._project}/uploads"
            endpoint = PROJECT_UPLOAD_ENDPOINT
        issued_at = self.clock.time()
        request = Request(
            "POST",
            f"{self.settings.api_base}{path}",
            endpoint,
            json={"response_filename": filename, "response_content_type": "application/pdf"},
        )
        return await self._read(request, lambda body: ticket_from(body, issued_at))

    async def create_drawing_upload(
        self, target: Target, imports: list[dict[str, Any]], token: str
    ) -> CreatedDrawingUpload:
        """Review batches ask Procore to read number and title from each sheet's name."""
        request = Request(
            "POST",
            f"{self.settings.api_base}{self._project}/drawing_uploads",
            "POST /rest/v1.1/projects/{id}/drawing_uploads",
            json={
                "drawing_upload": {
                    "drawing_area_id": target.area_id,
                    "drawing_set_id": target.set_id,
                    "get_info_from_filename": target.review,
                    "drawing_log_imports": imports,
                }
            },
            headers={"Idempotency-Token": token},
        )
        return await self._read(request, CreatedDrawingUpload.of)

    async def drawing_upload(self, upload_id: int) -> DrawingUploadState:
        request = Request(
            "GET",
            f"{self.settings.api_base}{self._project}/drawing_uploads/{upload_id}",
            "GET /rest/v1.1/projects/{id}/drawing_uploads/{id}",
        )
        return await self._read(request, DrawingUploadState.of)

    def drawing_uploads_with_imports(self) -> AsyncIterator[list[ListedDrawingUpload]]:
        """Every drawing upload of the project with its imports, a page at a time."""
        return self.pages(
            f"{self._project}/drawing_uploads",
            UPLOADS_ENDPOINT,
            ListedDrawingUpload.of,
            {"view": "with_drawing_log_imports"},
        )

    def drawing_upload_pages(self) -> AsyncIterator[Page[DrawingUploadState]]:
        """The project's drawing uploads, a page at a time, with the list's size: the List
        has no filter, so it holds every drawing upload the project ever had."""
        return self.sized_pages(
            f"{self._project}/drawing_uploads", UPLOADS_ENDPOINT, DrawingUploadState.of
        )


def _items(body: Any, read: Callable[[Any], T]) -> list[T]:
    if not isinstance(body, list):
        raise TypeError("expected a JSON list")
    return [read(item) for item in body]
