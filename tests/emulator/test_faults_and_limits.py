"""Seeded faults, the WAN model, and the rate limiter as a client meets them."""

from __future__ import annotations

import time

import aiohttp
import pytest

from bulkimport.emulator import Faults, RateLimits, Wan

from .conftest import PDF, Procore, running

pytestmark = pytest.mark.anyio


def areas_path(procore: Procore) -> str:
    return f"/rest/v1.1/projects/{procore.project_id}/drawing_areas"


async def test_error_rate_answers_500_and_503_with_retry_after():
    async with running(faults=Faults(error_rate=1.0, seed=3)) as procore:  # login: oauth scope
        statuses = []
        for _ in range(20):
            reply = await procore.call("GET", areas_path(procore))
            statuses.append(reply.status)
            if reply.status == 503:
                assert reply.headers["Retry-After"] == "1"
        assert set(statuses) == {500, 503}
        faults = (await procore.state("faults"))["faults"]
        assert faults["500"] + faults["503"] == 20


async def test_faults_only_where_scoped():
    async with running(faults=Faults(error_rate=1.0, scope=frozenset({"s3"}))) as procore:
        assert (await procore.call("GET", areas_path(procore))).status == 200
        ticket = await procore.create_upload()
        reply = await procore.post_file(ticket)
        assert reply.status in (500, 503)
        assert reply.headers["Content-Type"].startswith("application/xml")
        assert "<Code>InternalError</Code>" in reply.text or "<Code>SlowDown</Code>" in reply.text


async def test_dropped_connections_get_no_answer():
    async with running(faults=Faults(drop_rate=1.0)) as procore:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await procore.call("GET", areas_path(procore))
        state = await procore.state("faults", "requests")
        # aiohttp repeats a GET once when a reused connection dies: each attempt was dropped.
        received = state["requests"]["GET /rest/v1.1/projects/{project_id}/drawing_areas"]
        assert state["faults"] == {"drop": received}


async def test_the_same_seed_gives_the_same_faults():
    async def sequence(seed: int) -> list[int]:
        async with running(faults=Faults(error_rate=0.5, seed=seed)) as procore:
            return [(await procore.call("GET", areas_path(procore))).status for _ in range(30)]

    first = await sequence(7)
    assert first == await sequence(7)
    assert first != await sequence(8)
    assert 200 in first
    assert {500, 503} & set(first)


async def test_apply_then_drop_takes_effect_and_the_token_recovers_it():
    async with running(faults=Faults(apply_drop_rate=1.0)) as procore:
        imports = [{"upload_uuid": await procore.uploaded(), "drawing_date": "2026-01-02"}]
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await procore.drawing_upload(imports, token="t-1")
        (applied,) = (await procore.state("drawing_uploads"))["drawing_uploads"]
        retry = await procore.drawing_upload(imports, token="t-1")
        assert retry.status == 200
        assert retry.json()["id"] == applied["id"]
        assert (await procore.state("faults"))["faults"] == {"apply_then_drop": 1}


# The WAN model and the slow fault delay answers in real time (they stand for the network, not
# for Procore's clock), and the emulator records that a request was slowed but not by how long.
# So these tests time the call: a lower bound only, which a loaded machine can only make easier
# to meet, less a timer's granularity (an event loop may wake a timer that much early).
TIMER_SLACK = 0.02


async def test_slow_requests_and_wan_latency_take_at_least_their_time():
    async with running(
        faults=Faults(slow_rate=1.0, slow_seconds=0.2), wan=Wan(api_latency=0.1)
    ) as procore:
        started = time.perf_counter()
        assert (await procore.call("GET", areas_path(procore))).status == 200
        took = time.perf_counter() - started
        assert (await procore.state("faults"))["faults"] == {"slow": 1}
        assert took >= 0.1 + 0.2 - TIMER_SLACK  # latency plus the slow fault


async def test_storage_bandwidth_is_capped_per_connection():
    async with running(wan=Wan(s3_bandwidth=2_000_000, s3_latency=0.05)) as procore:
        ticket = await procore.create_upload()
        started = time.perf_counter()
        assert (await procore.post_file(ticket, PDF + b"x" * 1_000_000)).status == 204
        # 1 MB at 2 MB/s, plus latency
        assert time.perf_counter() - started >= 0.5 + 0.05 - TIMER_SLACK


async def test_spike_limit_answers_429_with_retry_after_and_headers():
    async with running(rate_limits=RateLimits(spike_limit=3, spike_window=10)) as procore:
        remaining = []
        for _ in range(3):
            reply = await procore.call("GET", areas_path(procore))
            assert reply.status == 200
            assert reply.headers["X-Rate-Limit-Limit"] == "3"
            remaining.append(reply.headers["X-Rate-Limit-Remaining"])
        assert remaining == ["2", "1", "0"]
        refused = await procore.call("GET", areas_path(procore))
        assert refused.status == 429
        assert refused.text.startswith("You have surpassed the max number of requests")
        assert 1 <= int(refused.headers["Retry-After"]) <= 10
        assert refused.headers["X-Rate-Limit-Remaining"] == "0"
        assert int(refused.headers["X-Rate-Limit-Reset"]) >= time.time()
        # A new token does not reset the budget of the same client.
        await procore.login()
        assert (await procore.call("GET", areas_path(procore))).status == 429
        await procore.advance(10)
        assert (await procore.call("GET", areas_path(procore))).status == 200
        assert (await procore.state("rate_limited"))["rate_limited"] == 2


async def test_limits_are_per_client_and_errors_carry_headers_too():
    async with running(rate_limits=RateLimits(hourly_limit=2)) as procore:
        missing = await procore.call("GET", "/rest/v1.1/projects/1/drawing_areas")
        assert missing.status == 404
        assert missing.headers["X-Rate-Limit-Remaining"] == "1"
        other = await procore.as_other_user()
        assert (await other.call("GET", areas_path(other))).status == 200


async def test_endpoint_scope_gives_each_endpoint_its_own_windows():
    limits = RateLimits(spike_limit=2, spike_window=10, hourly_limit=50, scope="endpoint")
    async with running(rate_limits=limits) as procore:
        areas = areas_path(procore)
        sets = f"/rest/v1.0/projects/{procore.project_id}/drawing_sets"
        assert [(await procore.call("GET", areas)).status for _ in range(3)] == [200, 200, 429]
        # The other endpoint's windows are untouched, and its headers describe them alone.
        reply = await procore.call("GET", sets)
        assert reply.status == 200
        assert reply.headers["X-Rate-Limit-Remaining"] == "1"
        # One route is one endpoint, whatever ids its path carries.
        drawings = [f"/rest/v1.1/drawing_areas/{a}/drawings" for a in procore.area_ids[:2]]
        statuses = [(await procore.call("GET", p)).status for p in drawings + drawings[:1]]
        assert statuses == [200, 200, 429]


async def test_client_scope_counts_every_endpoint_in_one_budget():
    async with running(rate_limits=RateLimits(spike_limit=2, spike_window=10)) as procore:
        sets = f"/rest/v1.0/projects/{procore.project_id}/drawing_sets"
        assert (await procore.call("GET", areas_path(procore))).status == 200
        assert (await procore.call("GET", sets)).headers["X-Rate-Limit-Remaining"] == "0"
        assert (await procore.call("GET", areas_path(procore))).status == 429


async def test_no_rate_limit_headers_when_limits_are_off(procore: Procore):
    reply = await procore.call("GET", areas_path(procore))
    assert "X-Rate-Limit-Limit" not in reply.headers


async def test_the_503_retry_after_is_configurable():
    faults = Faults(error_rate=1.0, seed=3, retry_after_503=30)
    async with running(faults=faults) as procore:
        seen = set()
        for _ in range(10):
            reply = await procore.call("GET", areas_path(procore))
            if reply.status == 503:
                seen.add(reply.headers["Retry-After"])
        assert seen == {"30"}


async def test_a_429_can_come_without_retry_after():
    limits = RateLimits(spike_limit=1, spike_window=10, retry_after=False)
    async with running(rate_limits=limits) as procore:
        assert (await procore.call("GET", areas_path(procore))).status == 200
        refused = await procore.call("GET", areas_path(procore))
        assert refused.status == 429
        assert "Retry-After" not in refused.headers
        assert refused.headers["X-Rate-Limit-Remaining"] == "0"
        assert int(refused.headers["X-Rate-Limit-Reset"]) >= time.time()
