"""The `bulkimport` command. The only module that reads the environment, configures logs,
prints to stdout and chooses exit codes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import anyio
import click
import structlog

from . import __version__, logs
from .emulator_cli import LOG_FORMAT, emulator
from .errors import (
    AuthenticationError,
    BulkImportError,
    ConfigError,
    JournalBusy,
    JournalError,
)
from .journal import Journal
from .pipeline import plan_only, run_import
from .preflight import Status, preflight
from .report import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_STOPPED,
    EXIT_USAGE,
    exit_code,
    plan_text,
    summary_text,
    write_report,
)
from .settings import Credentials, Settings, load_settings

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
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Journal file (overrides engine.journal).",
)


@click.group()
@click.version_option(__version__, prog_name="bulkimport")
def main() -> None:
    """Import large archives of drawing PDFs into Procore's Drawings tool."""


def _fail(code: int, message: str) -> NoReturn:
    click.echo(f"bulkimport: {message}", err=True)
    sys.exit(code)


def _settings(config_path: Path, source: Path | None, journal: Path | None) -> Settings:
    try:
        settings = load_settings(config_path).with_overrides(source=source, journal=journal)
    except ConfigError as exc:
        _fail(EXIT_USAGE, str(exc))
    if not settings.source.root.is_dir():
        _fail(EXIT_USAGE, f"source root {settings.source.root} is not a folder")
    return settings


def _from_env(name: str) -> str:
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
        _fail(EXIT_USAGE, f"cannot read {name}_FILE ({file_name}): {exc.__class__.__name__}")
    return lines[0].strip() if lines else ""


def _credentials_if_set() -> Credentials | None:
    client_id = _from_env("PROCORE_CLIENT_ID")
    secret = _from_env("PROCORE_CLIENT_SECRET")
    if secret:
        logs.keep_secret(secret)
    return Credentials(client_id, secret) if client_id and secret else None


def _credentials() -> Credentials:
    found = _credentials_if_set()
    if found is None:
        _fail(
            EXIT_USAGE,
            "set PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET in the environment "
            "(or PROCORE_CLIENT_ID_FILE and PROCORE_CLIENT_SECRET_FILE naming files)",
        )
    return found


def _root_cause(exc: BaseException) -> BaseException:
    """The first error inside (nested) exception groups from the task groups."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


@main.command()
@CONFIG
@SOURCE
@JOURNAL
@click.option("--dry-run", is_flag=True, help="Print the plan; send and write nothing.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a JSON report (one entry per file, and totals) and the same as CSV beside it.",
)
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: on a terminal)."
)
@LOG_FORMAT
def run(
    config_path: Path,
    source: Path | None,
    journal: Path | None,
    dry_run: bool,
    report_path: Path | None,
    progress: bool | None,
    log_format: logs.LogFormat,
) -> None:
    """Import the PDFs of a folder into one Procore project's Drawings tool.

    Exit status: 0 every file imported (or already); 1 some files failed (see the report);
    2 usage or configuration error; 3 stopped (credentials refused, interrupted). The journal
    keeps the state, so running the same command again resumes.
    """
    logs.configure(log_format)
    settings = _settings(config_path, source, journal)
    if dry_run:
        try:
            summary = anyio.run(plan_only, settings, _credentials_if_set())
        except ConfigError as exc:
            _fail(EXIT_USAGE, str(exc))
        except AuthenticationError as exc:
            _fail(EXIT_STOPPED, f"stopped: {exc}")
        click.echo(plan_text(summary))
        sys.exit(EXIT_OK)
    credentials = _credentials()
    show = sys.stderr.isatty() if progress is None else progress
    try:
        result = anyio.run(run_import, settings, credentials, show, True)
    except KeyboardInterrupt:
        _fail(EXIT_STOPPED, "interrupted; the journal keeps the state: run again to resume")
    except BaseException as exc:  # task groups wrap errors in groups: look inside
        cause = _root_cause(exc)
        if isinstance(cause, AuthenticationError | JournalBusy):
            _fail(EXIT_STOPPED, f"stopped: {cause}")
        if isinstance(cause, ConfigError | JournalError):
            _fail(EXIT_USAGE, str(cause))
        if isinstance(cause, BulkImportError):
            _fail(EXIT_SOME_FAILED, f"the run stopped: {cause}")
        raise
    if show:
        click.echo("", err=True)
    if report_path is not None:
        table = anyio.run(write_report, report_path, result)
        structlog.get_logger("bulkimport.report").info(
            "report.written", json=str(report_path), csv=str(table)
        )
    click.echo(summary_text(result))
    if result.interrupted:
        _fail(EXIT_STOPPED, "stopped on request; the journal keeps the state: run again to resume")
    sys.exit(exit_code(result))


@main.command()
@CONFIG
@SOURCE
@LOG_FORMAT
def check(config_path: Path, source: Path | None, log_format: logs.LogFormat) -> None:
    """Would a run start? Read-only checks against Procore, one line each.

    Credentials, company and project, the drawing areas and sets the config, manifest and folder
    layout name, one page of drawings, the rate-limit budget, and the clock against Procore's.
    About six requests; nothing is created or uploaded. Exit status: 0 a run would start
    (warnings included); 2 a configuration problem; 3 credentials refused.
    """
    logs.configure(log_format, level=30)  # warnings only: the check lines tell the story
    settings = _settings(config_path, source, None)
    checks = anyio.run(preflight, settings, _credentials())
    for result in checks:
        click.echo(result.line)
    if any(c.refused for c in checks):
        sys.exit(EXIT_STOPPED)
    sys.exit(EXIT_USAGE if any(c.status is Status.FAIL for c in checks) else EXIT_OK)


@main.command(name="reconcile")
@CONFIG
@SOURCE
@JOURNAL
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a JSON report (every file, every extra drawing, totals) and a CSV beside it.",
)
@LOG_FORMAT
def reconcile_command(
    config_path: Path,
    source: Path | None,
    journal: Path | None,
    report_path: Path | None,
    log_format: logs.LogFormat,
) -> None:
    """Is the archive in Procore? Compare it with each area's drawing log; reads only.

    Each file is matching, missing, differs (the revision is there with another set or dates),
    unknown or invalid; drawings in Procore that no file names are listed as extra. Costs list
    calls only. Exit status: 0 every file is in Procore as meant (extra drawings allowed);
    1 some file is not; 2 usage or configuration error; 3 credentials refused.
    """
    from . import reconcile_report
    from .errors import ProcoreRejected
    from .reconcile import reconcile

    logs.configure(log_format)
    settings = _settings(config_path, source, journal)
    try:
        result = anyio.run(reconcile, settings, _credentials())
    except BaseException as exc:
        cause = _root_cause(exc)
        if isinstance(cause, AuthenticationError):
            _fail(EXIT_STOPPED, f"stopped: {cause}")
        if isinstance(cause, ConfigError | JournalError | ProcoreRejected):
            _fail(EXIT_USAGE, str(cause))  # a project, area list or journal out of reach
        if isinstance(cause, BulkImportError):
            _fail(EXIT_SOME_FAILED, f"reconcile stopped: {cause}")
        raise
    if report_path is not None:
        table = anyio.run(reconcile_report.write_report, report_path, result)
        structlog.get_logger("bulkimport.report").info(
            "report.written", json=str(report_path), csv=str(table)
        )
    click.echo(reconcile_report.summary_text(result, report_path))
    sys.exit(reconcile_report.exit_code(result))


@main.command()
@CONFIG
@JOURNAL
def status(config_path: Path, journal: Path | None) -> None:
    """Counts per state from the journal, and the files that failed."""
    settings = _settings(config_path, None, journal)
    path = settings.engine.journal
    if not path.exists():
        _fail(EXIT_USAGE, f"no journal at {path}: nothing has run yet")

    async def read() -> tuple[dict[str, int], list[tuple[str, str]]]:
        opened = await Journal.open(path, readonly=True)
        try:
            failed = [
                (r.rel, r.error or "")
                async for rows in opened.stream()
                for r in rows
                if r.state == "failed"
            ]
            return await opened.counts(), failed
        finally:
            await opened.close()

    try:
        counts, failed = anyio.run(read)
    except JournalError as exc:
        _fail(EXIT_USAGE, str(exc))
    click.echo(f"journal {path}")
    for state, count in sorted(counts.items()):
        click.echo(f"  {state:10} {count}")
    for rel, error in failed:
        click.echo(f"  FAILED {rel}: {error}")


@main.command()
@click.option("--files", default=200, show_default=True, help="How many sample drawings.")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Work in this folder and keep it (default: a temporary one).",
)
@LOG_FORMAT
def demo(files: int, keep: Path | None, log_format: logs.LogFormat) -> None:
    """Import sample drawings into the built-in emulator and check every one arrived once."""
    from .demo import run_demo

    logs.configure(log_format, level=30)  # warnings only: the progress bar tells the story
    if files < 1:
        _fail(EXIT_USAGE, "--files must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bulkimport-demo-") as scratch:
        workdir = keep.resolve() if keep else Path(scratch)
        outcome = anyio.run(run_demo, files, workdir, sys.stderr.isatty())
    if sys.stderr.isatty():
        click.echo("", err=True)
    click.echo(summary_text(outcome.result))
    if outcome.ok and exit_code(outcome.result) == EXIT_OK:
        click.echo(
            f"demo: all {files} drawings arrived exactly once with the right bytes "
            "(checked against the emulator's record of what it received)"
        )
        sys.exit(EXIT_OK)
    for problem in outcome.problems:
        click.echo(f"demo: PROBLEM {problem}", err=True)
    sys.exit(EXIT_SOME_FAILED)


main.add_command(emulator)
