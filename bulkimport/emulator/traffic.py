"""What happens to every request before a route sees it.

Order, outermost first: count and log it; add the WAN model's latency and the seeded faults
(slow, dropped, 500/503); then, for the REST API, the gate: a live bearer token, the
Procore-Company-Id header, and the rate limiter, whose headers go on every answer.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .oauth import bearer, unauthorized
from .rate_limit import RateLimiter
from .replies import procore_error, s3_error
from .world import World

log = structlog.get_logger("bulkimport.emulator")

RATE_LIMITED_BODY = "You have surpassed the max number of requests for an hour. Please wait until your limit resets."
MISSING_COMPANY = (
    "Missing Procore-Company-Id header! Every request must name the company it acts in "
    "with the Procore-Company-Id header."
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and in which company, once the gate has let a request through."""

    user_id: int
    client_id: str
    company_id: int


PRINCIPAL = web.RequestKey("principal", Principal)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def endpoint_name(request: web.Request) -> str:
    """`POST /rest/v1.1/projects/{project_id}/uploads`: the route, not the concrete path."""
    route = request.match_info.route
    resource = route.resource
    path = resource.canonical if resource is not None else request.path
    return f"{request.method} {path}"


def drop_connection(request: web.Request) -> web.HTTPException:
    """Close the socket without an answer; the caller raises what this returns."""
    if request.transport is not None:
        request.transport.abort()
    return web.HTTPServiceUnavailable()  # never delivered: the socket is gone


def ledger_middleware(world: World) -> Middleware:
    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/_emulator"):  # the observer is not the client
            world.ledger.count(endpoint_name(request))
        started = time.perf_counter()
        response = await handler(request)
        if world.config.log_requests:
            log.info(
                "emulator.request",
                method=request.method,
                path=request.path,
                status=response.status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
        return response

    return count


def scope_of(request: web.Request) -> str | None:
    """Which fault scope a request on the API app falls in; None for the inspection routes."""
    if request.path.startswith("/_emulator"):
        return None
    return "oauth" if request.path.startswith("/oauth") else "api"


def network_middleware(world: World, scope: Callable[[web.Request], str | None]) -> Middleware:
    faults = world.config.faults
    wan = world.config.wan
    rngs: dict[str, random.Random] = {}  # one stream per scope, so sites do not mirror each other

    @web.middleware
    async def network(request: web.Request, handler: Handler) -> web.StreamResponse:
        where = scope(request)
        if where is None:
            return await handler(request)
        latency = wan.s3_latency if where == "s3" else wan.api_latency
        draw = 1.0
        if where in faults.scope:
            rng = rngs.setdefault(where, random.Random(f"{faults.seed}:{where}"))
            if rng.random() < faults.slow_rate:
                world.ledger.faults["slow"] += 1
                latency += faults.slow_seconds
            draw = rng.random()
        if latency:
            await anyio.sleep(latency)
        if draw < faults.drop_rate:
            world.ledger.faults["drop"] += 1
            raise drop_connection(request)
        if draw < faults.drop_rate + faults.error_rate:
            # Half 500, half 503 (load shedding, with Retry-After), each in the site's own dialect.
            status = 500 if draw < faults.drop_rate + faults.error_rate / 2 else 503
            world.ledger.faults[str(status)] += 1
            return server_error(status, s3=where == "s3", retry_after=faults.retry_after_503)
        return await handler(request)

    return network


def server_error(status: int, *, s3: bool, retry_after: float = 1.0) -> web.Response:
    if s3:
        response = (
            s3_error(500, "InternalError", "We encountered an internal error. Please try again.")
            if status == 500
            else s3_error(503, "SlowDown", "Please reduce your request rate.")
        )
    else:
        text = "Internal Server Error" if status == 500 else "Service Unavailable"
        response = procore_error(status, text)
    if status == 503:
        # Retry-After is whole seconds (RFC 9110 delay-seconds).
        response.headers["Retry-After"] = str(math.ceil(retry_after))
    return response


def gate_middleware(world: World) -> Middleware:
    limiter = RateLimiter(world.config.rate_limits)

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/rest/"):
            return await handler(request)
        token = bearer(world, request.headers.get("Authorization"))
        if token is None:
            return unauthorized(world, f"{request.method} {request.path}")
        now = world.clock.now()
        verdict = limiter.admit(token.client_id, endpoint_name(request), now)
        if verdict is not None and not verdict.allowed:
            world.ledger.rate_limited += 1
            headers = verdict.headers()
            if world.config.rate_limits.retry_after:
                # procore-api.md section 8: error_reference.md says a 429 carries Retry-After,
                # rate_limiting.md (C13) says wait for X-Rate-Limit-Reset; off = the latter.
                headers["Retry-After"] = str(verdict.retry_after(now))
            return web.Response(status=429, text=RATE_LIMITED_BODY, headers=headers)
        world.ledger.timeline.append((now, endpoint_name(request)))
        response = await _company_checked(request, handler, token.client_id, token.user_id)
        if verdict is not None:
            response.headers.update(verdict.headers())
        return response

    async def _company_checked(
        request: web.Request, handler: Handler, client_id: str, user_id: int
    ) -> web.StreamResponse:
        raw = request.headers.get("Procore-Company-Id")
        if not raw:
            world.ledger.reject("missing_company_header", request.path, violation=True)
            return procore_error(world.config.missing_company_status, MISSING_COMPANY)
        try:
            company_id = int(raw)
        except ValueError:
            world.ledger.reject("bad_company_header", raw, violation=True)
            return procore_error(400, f"Procore-Company-Id must be a company id, got {raw!r}")
        if company_id not in world.clients[client_id].company_ids:
            world.ledger.reject("company_not_connected", raw, violation=True)
            return procore_error(403, "App is not connected to this company")
        request[PRINCIPAL] = Principal(user_id, client_id, company_id)
        return await handler(request)

    return gate
