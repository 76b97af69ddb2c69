"""Pure pieces of the emulator: ids, pagination links, the rate-limit windows."""

from __future__ import annotations

import pytest
from yarl import URL

from bulkimport.emulator.config import RateLimits
from bulkimport.emulator.ids import is_ulid, new_ulid
from bulkimport.emulator.pagination import BadPageRequest, link_header, page_window
from bulkimport.emulator.rate_limit import RateLimiter

BASE = URL("http://127.0.0.1:1/rest/v1.0/things")


def test_ulids_are_26_crockford_characters_sorted_by_time():
    first, second = new_ulid(1_700_000_000.0), new_ulid(1_700_000_001.0)
    assert is_ulid(first)
    assert is_ulid(second)
    assert first < second


def test_links_on_first_middle_and_last_pages():
    def rels(page: int) -> list[str]:
        return [
            part.split('rel="')[1].rstrip('"')
            for part in link_header(BASE, page, 10, 35).split(", ")
        ]

    assert rels(1) == ["next", "last"]
    assert rels(2) == ["first", "prev", "next", "last"]
    assert rels(4) == ["first", "prev"]
    assert "page=4" in link_header(BASE, 1, 10, 35).split(", ")[1]


def test_single_page_has_no_links():
    assert link_header(BASE, 1, 100, 3) == ""


def test_page_size_is_clamped_and_bad_values_refused():
    assert page_window({"per_page": "5000"}, 100, 1000) == (1, 1000)
    assert page_window({}, 100, 1000) == (1, 100)
    with pytest.raises(BadPageRequest):
        page_window({"page": "0"}, 100, 1000)
    with pytest.raises(BadPageRequest):
        page_window({"per_page": "many"}, 100, 1000)


def test_spike_window_refuses_then_resets():
    limiter = RateLimiter(RateLimits(spike_limit=2, spike_window=10))
    assert limiter.admit("a", "GET /x", 100.0).allowed  # type: ignore[union-attr]
    assert limiter.admit("a", "GET /x", 101.0).allowed  # type: ignore[union-attr]
    refused = limiter.admit("a", "GET /x", 102.0)
    assert refused is not None
    assert not refused.allowed
    assert refused.retry_after(102.0) == 8
    assert limiter.admit("b", "GET /x", 102.0).allowed  # type: ignore[union-attr]
    assert limiter.admit("a", "GET /x", 110.0).allowed  # type: ignore[union-attr]


def test_headers_describe_the_window_with_less_left():
    limiter = RateLimiter(RateLimits(hourly_limit=5, spike_limit=3, spike_window=10))
    first = limiter.admit("a", "GET /x", 0.0)
    assert first is not None
    assert (first.limit, first.remaining) == (3, 2)  # the spike window is nearer
    for t in (11.0, 22.0, 33.0):
        last = limiter.admit("a", "GET /x", t)
    assert last is not None
    assert (last.limit, last.remaining) == (5, 1)  # now the hourly budget is
    assert last.headers()["X-Rate-Limit-Reset"] == "3600"


def test_no_windows_means_no_verdict():
    assert RateLimiter(RateLimits()).admit("a", "GET /x", 0.0) is None
