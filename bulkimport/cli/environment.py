"""What a command runs with: its settings (the config, with the command line's overrides) and
the credentials from the environment; and how a command stops on a usage error. Secrets are
read here and registered for redaction at once; their text is never shown."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from bulkimport import logs
from bulkimport.errors import ConfigError
from bulkimport.report import EXIT_USAGE
from bulkimport.settings import Credentials, Settings, load_settings


def fail(code: int, message: str) -> NoReturn:
    """Say why on stderr and exit with `code`."""
    click.echo(f"bulkimport: {message}", err=True)
    sys.exit(code)


def settings_for(config_path: Path, source: Path | None, journal: str | None) -> Settings:
    """The config at `config_path` with `--source` and `--journal` applied; a usage error
    when it is wrong or its source is not a folder."""
    try:
        settings = load_settings(config_path).with_overrides(source=source, journal=journal)
    except ConfigError as exc:
        fail(EXIT_USAGE, str(exc))
    if not settings.source.root.is_dir():
        fail(EXIT_USAGE, f"source root {settings.source.root} is not a folder")
    return settings


def from_env(name: str) -> str:
    """NAME from the environment, or the first line of the file NAME_FILE names (for
    systemd credentials, Docker and Kubernetes secrets)."""
    value = os.environ.get(name, "")
    file_name = os.environ.get(f"{name}_FILE", "")
    if value or not file_name:
        return value
    try:
        lines = Path(file_name).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        # The file's name may be shown; its content never is.
        fail(EXIT_USAGE, f"cannot read {name}_FILE ({file_name}): {exc.__class__.__name__}")
    return lines[0].strip() if lines else ""


def credentials_if_set() -> Credentials | None:
    client_id = from_env("PROCORE_CLIENT_ID")
    secret = from_env("PROCORE_CLIENT_SECRET")
    if secret:
        logs.keep_secret(secret)
    return Credentials(client_id, secret) if client_id and secret else None


def require_credentials() -> Credentials:
    """The credentials a run needs, or a usage error that says where to set them."""
    found = credentials_if_set()
    if found is None:
        fail(
            EXIT_USAGE,
            "set PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET in the environment "
            "(or PROCORE_CLIENT_ID_FILE and PROCORE_CLIENT_SECRET_FILE naming files)",
        )
    return found
