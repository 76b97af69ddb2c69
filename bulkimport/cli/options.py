"""Options every command shares."""

from __future__ import annotations

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
