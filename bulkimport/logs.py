"""structlog set-up: readable on a terminal, JSON lines otherwise, always to stderr.

Per-file and per-drawing events are debug; warnings, errors and milestones are info, the
default; `-v` and `-q` move the level a step at a time. Each record is written to whatever
`sys.stderr` is at that moment, so the live display (which swaps in a proxy) prints it above
itself instead of through its own lines.

No event is meant to carry a secret; the redaction here is the second line of defence. Fields
whose names say they hold one are blanked, and any value containing a string registered with
`keep_secret` (the client secret, each access token) has it replaced, wherever it appears.

Two registries: access tokens expire, so only the newest are kept (a long migration renews
hundreds); the client secret is pinned and kept for the life of the process, because it never
expires and no number of renewals may push it out.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

LogFormat = Literal["auto", "console", "json"]

SECRET_FIELDS = frozenset(
    {
        "access_token",
        "authorization",
        "client_secret",
        "password",
        "policy",
        "refresh_token",
        "secret",
        "signature",
        "x-amz-signature",
    }
)
REDACTED = "[redacted]"
MIN_SECRET = 8  # shorter strings are not secrets worth the false matches
_pinned: set[str] = set()  # never evicted: the client secret
_tokens: deque[str] = deque(maxlen=32)  # the newest tokens; old ones expired anyway
# What `_scrub` reads: rebuilt on each registration (a few per hour) so the hot path iterates
# an immutable tuple, safe while another thread registers a token; longest first, so a secret
# that contains another is replaced whole.
_all: tuple[str, ...] = ()


def keep_secret(value: str, *, pinned: bool = False) -> None:
    """Never let `value` reach a log line: for the life of the process when `pinned`, else
    while it is among the newest tokens."""
    global _all
    if len(value) < MIN_SECRET or value in _pinned:
        return
    if pinned:
        _pinned.add(value)
    elif value in _tokens:
        return
    else:
        _tokens.append(value)
    _all = tuple(sorted(_pinned.union(_tokens), key=len, reverse=True))


def pin_secret(value: str) -> None:
    """`keep_secret` for a secret that does not expire, such as the client secret."""
    keep_secret(value, pinned=True)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _all:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() in SECRET_FIELDS else _scrub(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        event[key] = REDACTED if key.lower() in SECRET_FIELDS else _scrub(event[key])
    return event


def level_for(verbose: int, quiet: int, default: int = logging.INFO) -> int:
    """The level for `-v` and `-q` given so many times, one step (10) each from `default`."""
    return min(logging.ERROR, max(logging.DEBUG, default - 10 * verbose + 10 * quiet))


class StderrLogger:
    """Writes each rendered record to the current `sys.stderr`, looked up on every call: the
    live display and the tests' capture replace it after the logs are configured."""

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    debug = info = warning = warn = error = critical = exception = fatal = failure = log = msg


def _stderr_logger(*_: Any) -> StderrLogger:
    return StderrLogger()


def configure(fmt: LogFormat = "auto", level: int = logging.INFO) -> None:
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if as_json:
        processors.append(structlog.processors.format_exc_info)
    processors.append(redact)  # after exceptions are rendered, so tracebacks are scrubbed too
    if as_json:
        processors.append(structlog.processors.JSONRenderer())
    else:
        processors.append(structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )
