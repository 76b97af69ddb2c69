"""Where aiohttp and HTTP answers stop: one boundary per protocol, into `bulkimport.errors`.

`map_exceptions` is httpcore's idea: a block declares which foreign exceptions become which of
ours, so the same failure always raises the same error whichever layer met it. Each protocol
has two halves:

- Procore's API: `procore_errors` (no answer: the network, a timeout) and `procore_reply`
  (the answer's status, headers and body);
- the storage POST: `storage_errors` (no answer, or the file unreadable) and `storage_reply`
  (S3's XML error document).

Nothing past this module catches an aiohttp exception, and the retry policy reads what a
failure is worth from its type alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from bulkimport.errors import (
    AuthenticationError,
    FileChanged,
    NotFound,
    PolicyExpired,
    ProcoreRejected,
    ProcoreUnavailable,
    RateLimited,
    StorageError,
    StorageUnavailable,
    Throttled,
    TokenRefused,
)

RETRY_STATUSES = frozenset({500, 502, 503, 504})

ExceptionMap = Mapping[type[Exception], Callable[[Exception], Exception]]


@contextmanager
def map_exceptions(mapping: ExceptionMap) -> Iterator[None]:
    """Re-raise a foreign exception as ours: the first entry whose type matches makes it.
    Ours, and anything not listed, pass unchanged; so does cancellation (not an Exception)."""
    try:
        yield
    except Exception as exc:
        for foreign, ours in mapping.items():
            if isinstance(exc, foreign):
                raise ours(exc) from exc
        raise


# Procore's API -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or the text when it is not JSON


def procore_errors(endpoint: str) -> AbstractContextManager[None]:
    """No answer from Procore: a refused or dropped connection, a timeout."""

    def unavailable(exc: Exception) -> Exception:
        return ProcoreUnavailable(endpoint, None, f"{type(exc).__name__}: {exc}")

    return map_exceptions({aiohttp.ClientError: unavailable, TimeoutError: unavailable})


def procore_reply(
    endpoint: str,
    status: int,
    headers: Mapping[str, str],
    text: str,
    *,
    with_token: bool,
    now: float,
) -> Reply:
    """The answer as a Reply when it is a 2xx, else the error it stands for."""
    body = _parse(text, headers.get("Content-Type", ""))
    if 200 <= status < 300:
        return Reply(status, headers, body)
    message = error_message(body)
    if not with_token and status in (400, 401):
        raise AuthenticationError(
            f"Procore refused the client credentials ({message}); "
            "check PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET"
        )
    if status == 401:
        raise TokenRefused(endpoint, status, message, body)
    if status == 429:
        raise RateLimited(endpoint, status, message, body, rate_limit_wait(headers, now))
    if status == 404:
        raise NotFound(endpoint, status, message, body)
    if status not in RETRY_STATUSES:
        entries = entry_errors(body) if status == 422 else {}
        raise ProcoreRejected(endpoint, status, message, body, entries)
    told = retry_after(headers)
    if status == 503 and told is not None:
        # Procore's heavy-load throttle (DOCS rate_limiting.md): the whole run backs off.
        raise Throttled(endpoint, status, message, body, told)
    raise ProcoreUnavailable(endpoint, status, message, body, told)


_ENTRY = re.compile(r"drawing_log_imports\[(\d+)\]")


def entry_errors(body: Any) -> dict[int, str]:
    """Procore's per-entry reasons from a 422 body, by index in the batch."""
    errors = body.get("errors") if isinstance(body, dict) else None
    found: dict[int, str] = {}
    if isinstance(errors, dict):
        for key, messages in errors.items():
            match = _ENTRY.match(str(key))
            if match:
                text = ", ".join(map(str, messages)) if isinstance(messages, list) else messages
                field = str(key)[match.end() :].lstrip(".") or "entry"
                index = int(match.group(1))
                found[index] = "; ".join(filter(None, [found.get(index), f"{field} {text}"]))
    return found


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


# The storage POST ----------------------------------------------------------------------------


def storage_errors(path: str) -> AbstractContextManager[None]:
    """No answer from storage, or the file could not be read for the POST. aiohttp wraps what
    the body writer raises (the file changed under it) in a connection error: that is ours."""

    def unavailable(exc: Exception) -> Exception:
        if _changed_underneath(exc):
            return FileChanged(path)
        return StorageUnavailable(path, None, type(exc).__name__, str(exc) or "no answer")

    def unreadable(exc: Exception) -> Exception:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return StorageUnavailable(path, None, "ReadError", reason)

    # aiohttp's errors and TimeoutError are OSErrors too: they come first.
    return map_exceptions(
        {aiohttp.ClientError: unavailable, TimeoutError: unavailable, OSError: unreadable}
    )


def _changed_underneath(exc: BaseException) -> bool:
    seen: set[int] = set()
    found: BaseException | None = exc
    while found is not None and id(found) not in seen:
        if isinstance(found, FileChanged):
            return True
        seen.add(id(found))
        found = found.__cause__ or found.__context__
    return False


def storage_reply(path: str, status: int, text: str) -> None:
    """Nothing for a 2xx; else S3's error document as the error it stands for."""
    if 200 <= status < 300:
        return
    code, message = _s3_detail(text)
    if status == 403 and "expired" in message.lower():
        raise PolicyExpired(path, status, code, message)
    if status >= 500:
        raise StorageUnavailable(path, status, code, message)
    raise StorageError(path, status, code, message)


def _s3_detail(text: str) -> tuple[str, str]:
    code = re.search(r"<Code>(.*?)</Code>", text, re.DOTALL)
    message = re.search(r"<Message>(.*?)</Message>", text, re.DOTALL)
    return (
        code.group(1) if code else "Unknown",
        message.group(1) if message else text.strip()[:300] or "no message",
    )
