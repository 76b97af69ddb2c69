"""Procore's list pagination: `page` and `per_page` in, `Total`, `Per-Page` and `Link` out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web
from yarl import URL

from .replies import procore_error


class BadPageRequest(ValueError):
    pass


def page_window(query: dict[str, str], default: int, maximum: int) -> tuple[int, int]:
    """The 1-based page and the page size in effect; a size above `maximum` is clamped."""
    try:
        page = int(query.get("page", "1"))
        per_page = int(query.get("per_page", str(default)))
    except ValueError as exc:
        raise BadPageRequest("page and per_page must be whole numbers") from exc
    if page < 1 or per_page < 1:
        raise BadPageRequest("page and per_page must be at least 1")
    return page, min(per_page, maximum)


def link_header(url: URL, page: int, per_page: int, total: int) -> str:
    """RFC 5988 links: `next`/`last` unless on the last page, `first`/`prev` unless on the first."""
    last = max(1, -(-total // per_page))

    def to(n: int) -> str:
        return f"<{url.update_query(page=str(n), per_page=str(per_page))}>"

    links = []
    if page > 1:
        links += [f'{to(1)}; rel="first"', f'{to(min(page - 1, last))}; rel="prev"']
    if page < last:
        links += [f'{to(page + 1)}; rel="next"', f'{to(last)}; rel="last"']
    return ", ".join(links)


T = TypeVar("T")


def paginated(
    request: web.Request,
    records: Sequence[T],
    render: Callable[[T], dict[str, Any]],
    default: int,
    maximum: int,
) -> web.Response:
    """One page of `records`; only that page is rendered, so long lists stay cheap to page."""
    try:
        page, per_page = page_window(dict(request.query), default, maximum)
    except BadPageRequest as exc:
        return procore_error(400, str(exc))
    start = (page - 1) * per_page
    response = web.json_response([render(r) for r in records[start : start + per_page]])
    response.headers["Total"] = str(len(records))
    response.headers["Per-Page"] = str(per_page)
    links = link_header(request.url, page, per_page, len(records))
    if links:
        response.headers["Link"] = links
    return response
