"""Options every command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

LOG_FORMAT = click.option(
    "--log-format",
    type=click.Choice(["auto", "console", "json"]),
    default="auto",
    show_default=True,
    help="Logs on stderr: console on a terminal, JSON lines otherwise.",
)
VERBOSE = click.option(
    "-v", "--verbose", count=True, help="More log detail: -v adds per-file events (debug)."
)
QUIET = click.option(
    "-q", "--quiet", count=True, help="Less log detail: -q warnings and errors, -qq errors only."
)


def verbosity(command: Any) -> Any:
    """`-v` and `-q`, on every command."""
    return VERBOSE(QUIET(command))


CONFIG = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The TOML configuration file.",
)
SOURCE = click.option(
    "--source",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to import (overrides source.root).",
)
JOURNAL = click.option(
    "--journal",
    # Text, not a click.Path: a postgresql:// URL is a journal too (a Path would fold its //).
    type=str,
    default=None,
    help="Journal: a SQLite file or a postgresql://user@host:port/db URL (overrides "
    "engine.journal).",
)
