"""The checks each value of the config passes: each parser takes a key and the value the config
gives for it, and returns the value the settings carry, or raises ConfigError naming the key.
Defaults are not theirs to know (they are on the settings' fields). Also the rule for URLs:
https everywhere, plain http only to this machine."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bulkimport.errors import ConfigError

Choice = TypeVar("Choice", bound=str)


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plain_http_allowed(url: str) -> bool:
    """https everywhere; plain http only to this machine (the emulator, a local proxy)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))


def url(key: str, value: Any) -> str:
    url = str(value).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{key} must be an http(s) URL, got {url!r}")
    if not plain_http_allowed(url):
        raise ConfigError(
            f"{key} must use https: plain http is allowed only to loopback addresses, got {url!r}"
        )
    return url


def flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    return value


LAYOUT_FIELDS = ("drawing_area", "drawing_set")


def layout(key: str, value: Any) -> str:
    """A folder layout: path segments, some of them `{drawing_area}` or `{drawing_set}`."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a path pattern, got {value!r}")
    names = re.findall(r"{([^}]*)}", value)
    unknown = [n for n in names if n not in LAYOUT_FIELDS]
    if unknown or not names:
        raise ConfigError(
            f"{key} {value!r} must name {{drawing_area}} and/or {{drawing_set}} folders"
            + (f", not {{{unknown[0]}}}" if unknown else "")
        )
    if any(not re.fullmatch(r"{[a-z_]+}|[^{}]*", part) for part in value.split("/")):
        raise ConfigError(f"{key} {value!r}: a placeholder must be a whole folder name")
    return value


def identifier(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdecimal():
        raise ConfigError(f"{key} must be a whole number, got {value!r}")
    return int(value)


def number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{key} must be a number >= 0, got {value!r}")
    return float(value)


def positive(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a whole number >= 1, got {value!r}")
    return value


def choice(options: tuple[Choice, ...]) -> Callable[[str, Any], Choice]:
    def parse(key: str, value: Any) -> Choice:
        for option in options:
            if value == option:
                return option
        raise ConfigError(f"{key} must be one of {', '.join(options)}, got {value!r}")

    return parse


def text(key: str, value: Any) -> str:
    return str(value)


def globs(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of glob patterns")
    return tuple(value)


def path(key: str, value: Any) -> Path:
    """A path as written; `_build` anchors a relative one at the config file's folder."""
    return Path(str(value)).expanduser()


def name_or_id(key: str, value: Any) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        raise ConfigError(f"{key} must be a name or a numeric id, got {value!r}")
    return value


def disciplines(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError("[source.disciplines] maps designators to discipline names")
    return {str(k).upper(): v for k, v in value.items()}


def check_pattern(pattern: str) -> None:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"filename_pattern is not a valid regular expression: {exc}") from exc
    if "number" not in compiled.groupindex:
        raise ConfigError("filename_pattern needs a named group (?P<number>...)")


# Each section's keys and how each is read. A key missing here but present on the dataclass is
# caught by tests/engine/test_settings.py; a key missing from the config takes the field's default.
