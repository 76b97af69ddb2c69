"""Where the journal is: a SQLite file (a path, the default) or a PostgreSQL database (a
`postgresql://user@host:port/db` URL). Anything else is refused here, when the config is read,
so a mistyped URL never becomes a SQLite file in a folder named after it.

The password is never part of the config: libpq (under psycopg) reads it from PGPASSWORD, or
from ~/.pgpass or the file PGPASSFILE names. A URL with a password in it is refused with a
message that says where to put it instead, and the password is never repeated in the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bulkimport.errors import ConfigError

SCHEMES = ("postgresql", "postgres")  # the two libpq accepts
URL_START = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
PASSWORD_HINT = (
    "set PGPASSWORD in the environment, or put the password in ~/.pgpass "
    "(or in the file PGPASSFILE names)"
)


@dataclass(frozen=True, slots=True)
class JournalUrl:
    """A PostgreSQL journal. `url` is as the config gives it, never with a password, so it may
    be logged and shown. `local` is where this machine would keep what a journal file keeps
    beside it: a base name, anchored at the config file's folder like any relative path of the
    config. A run keeps nothing there now: its record for `bulkimport status` is a row of the
    journal's runs table, which every machine reads (journal/runs.py)."""

    url: str
    local: Path

    def __str__(self) -> str:
        return self.url

    def anchored(self, base: Path) -> JournalUrl:
        return JournalUrl(self.url, (base / self.local).resolve())


# What `engine.journal` holds: a file for SQLite, or a database for PostgreSQL.
JournalLocation = Path | JournalUrl


def beside(location: JournalLocation) -> Path:
    """The path whose name the journal's companion files extend (`<it>.status.json`)."""
    return location.local if isinstance(location, JournalUrl) else location


def parse(key: str, value: Any) -> JournalLocation:
    """A journal value from the config or the command line: a path, or a PostgreSQL URL."""
    given = str(value)
    scheme = URL_START.match(given)
    if scheme is None:
        return Path(given).expanduser()
    if scheme.group(1).lower() not in SCHEMES:
        raise ConfigError(
            f"{key} must be a file path (SQLite) or a postgresql:// URL, "
            f"not a {scheme.group(1)}:// URL"
        )
    return _postgres(key, given)


def _postgres(key: str, url: str) -> JournalUrl:
    try:
        parts = urlsplit(url)
        port = parts.port  # reading it checks it
    except ValueError as exc:
        raise ConfigError(f"{key} is not a usable PostgreSQL URL: {exc}") from None
    # Read the netloc by hand too: urlsplit takes "user:@host" for no password.
    userinfo = parts.netloc.rpartition("@")[0]
    in_query = any(name == "password" for name, _ in parse_qsl(parts.query))
    if ":" in userinfo or in_query:
        raise ConfigError(
            f"{key}: the password must not be in the journal URL (the config is not the place "
            f"for secrets); {PASSWORD_HINT}"
        )
    database = parts.path.lstrip("/") or parts.username or "postgres"
    name = f"bulkimport-journal-{parts.hostname or 'local'}-{port or 5432}-{database}"
    return JournalUrl(url, Path(re.sub(r"[^A-Za-z0-9_.-]", "_", name)))
