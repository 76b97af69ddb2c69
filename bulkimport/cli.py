"""The `bulkimport` command. The only module that reads the environment, configures logs,
prints to stdout and chooses exit codes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import anyio
import click
import structlog

from . import __version__, logs
from .emulator import EmulatorConfig, Faults, RateLimits, SeedError, Wan, serve
from .errors import AuthenticationError, BulkImportError, ConfigError, JournalError
from .journal import Journal
from .pipeline import plan_only, run_import
from .report import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_STOPPED,
    EXIT_USAGE,
    build_report,
    exit_code,
    plan_text,
    summary_text,
    write_report,
)
from .settings import Credentials, Settings, load_settings

LOG_FORMAT = click.option(
    "--log-format",
    type=click.Choice(["auto", "console", "json"]),
    default="auto",
    show_default=True,
    help="Logs on stderr: console on a terminal, JSON lines otherwise.",
)
CONFIG = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The TOML configuration file.",
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


def _credentials() -> Credentials:
    client_id = os.environ.get("PROCORE_CLIENT_ID", "")
    secret = os.environ.get("PROCORE_CLIENT_SECRET", "")
    if not client_id or not secret:
        _fail(EXIT_USAGE, "set PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET in the environment")
    return Credentials(client_id, secret)


def _root_cause(exc: BaseException) -> BaseException:
    """The first error inside (nested) exception groups from the task groups."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


@main.command()
@CONFIG
@click.option(
    "--source",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to import (overrides source.root).",
)
@JOURNAL
@click.option("--dry-run", is_flag=True, help="Print the plan; send and write nothing.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a JSON report: one entry per file, and totals.",
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
        click.echo(plan_text(anyio.run(plan_only, settings)))
        sys.exit(EXIT_OK)
    credentials = _credentials()
    show = sys.stderr.isatty() if progress is None else progress
    try:
        result = anyio.run(run_import, settings, credentials, show)
    except KeyboardInterrupt:
        _fail(EXIT_STOPPED, "interrupted; the journal keeps the state: run again to resume")
    except BaseException as exc:  # task groups wrap errors in groups: look inside
        cause = _root_cause(exc)
        if isinstance(cause, AuthenticationError):
            _fail(EXIT_STOPPED, f"stopped: {cause}")
        if isinstance(cause, ConfigError | JournalError):
            _fail(EXIT_USAGE, str(cause))
        if isinstance(cause, BulkImportError):
            _fail(EXIT_SOME_FAILED, f"the run stopped: {cause}")
        raise
    if show:
        click.echo("", err=True)
    if report_path is not None:
        write_report(report_path, build_report(result))
    click.echo(summary_text(result))
    sys.exit(exit_code(result))


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
            rows = await opened.rows()
            return await opened.counts(), [(r.rel, r.error or "") for r in rows if r.error]
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


def _scopes(_: click.Context, __: click.Parameter, value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, show_default=True, help="API port; 0 takes a free one.")
@click.option("--s3-port", default=0, show_default=True, help="Storage port; 0 takes a free one.")
@click.option(
    "--upload-ttl", default=3600.0, show_default=True, help="Seconds an upload's POST policy lives."
)
@click.option(
    "--token-ttl",
    default=5400.0,
    show_default=True,
    help="Seconds an access token lives (expires_in).",
)
@click.option(
    "--attach-deadline",
    default=7 * 86400.0,
    show_default=True,
    help="Seconds before an unattached upload is deleted.",
)
@click.option(
    "--processing-delay",
    default=1.0,
    show_default=True,
    help="Seconds a drawing upload takes to process.",
)
@click.option(
    "--hourly-limit", type=int, default=None, help="Requests per hourly window (off by default)."
)
@click.option(
    "--hourly-window",
    default=3600.0,
    show_default=True,
    help="Length of the hourly window in seconds.",
)
@click.option(
    "--spike-limit", type=int, default=None, help="Requests per spike window (off by default)."
)
@click.option(
    "--spike-window", default=10.0, show_default=True, help="Length of the spike window in seconds."
)
@click.option(
    "--fault-rate", default=0.0, show_default=True, help="Fraction of requests answered 500 or 503."
)
@click.option(
    "--drop-rate",
    default=0.0,
    show_default=True,
    help="Fraction of connections dropped unanswered.",
)
@click.option(
    "--slow-rate",
    default=0.0,
    show_default=True,
    help="Fraction of requests delayed by --slow-seconds.",
)
@click.option(
    "--slow-seconds", default=0.0, show_default=True, help="Delay added to slow requests."
)
@click.option(
    "--apply-drop-rate",
    default=0.0,
    show_default=True,
    help="Fraction of Create Drawing Uploads applied, then answered by a dropped connection.",
)
@click.option(
    "--fault-scope",
    default="api,s3",
    show_default=True,
    callback=_scopes,
    help="Where faults apply: any of oauth, api, s3.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the fault generator.")
@click.option(
    "--latency", default=0.0, show_default=True, help="WAN model: seconds added to every API call."
)
@click.option(
    "--s3-latency",
    default=0.0,
    show_default=True,
    help="WAN model: seconds added to every storage request.",
)
@click.option(
    "--s3-bandwidth",
    type=float,
    default=None,
    help="WAN model: MB/s per storage connection (unlimited by default).",
)
@click.option("--per-page", default=100, show_default=True, help="Default page size of lists.")
@click.option(
    "--max-per-page",
    default=1000,
    show_default=True,
    help="Largest page size granted; small values force many pages.",
)
@click.option(
    "--max-imports", type=int, default=None, help="Most drawing_log_imports in one drawing upload."
)
@click.option(
    "--refresh-tokens/--no-refresh-tokens",
    default=False,
    show_default=True,
    help="Also issue single-use refresh tokens.",
)
@click.option(
    "--missing-company-status",
    type=click.Choice(["400", "403"]),
    default="400",
    show_default=True,
    help="Status for a missing Procore-Company-Id header.",
)
@click.option(
    "--seed-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON file with the companies, projects and clients to start with.",
)
@click.option(
    "--storage-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where uploaded bytes are kept (a temporary folder by default).",
)
@click.option("--quiet", is_flag=True, help="Do not log each request.")
@LOG_FORMAT
def emulator(**options: Any) -> None:
    """Serve the Procore + S3 emulator until Ctrl+C.

    Prints one JSON line to stdout with the real ports, the base URLs and the seeded
    credentials, company, project, drawing areas and sets; then logs requests to stderr.
    """
    logs.configure(options["log_format"])
    try:
        config = _emulator_config(options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        anyio.run(_serve_until_signal, config)
    except SeedError as exc:
        click.echo(f"bulkimport emulator: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def _emulator_config(o: dict[str, Any]) -> EmulatorConfig:
    bandwidth = o["s3_bandwidth"]
    return EmulatorConfig(
        host=o["host"],
        port=o["port"],
        s3_port=o["s3_port"],
        upload_ttl=o["upload_ttl"],
        token_ttl=o["token_ttl"],
        attach_deadline=o["attach_deadline"],
        processing_delay=o["processing_delay"],
        issue_refresh_tokens=o["refresh_tokens"],
        default_per_page=o["per_page"],
        max_per_page=o["max_per_page"],
        max_imports_per_upload=o["max_imports"],
        missing_company_status=int(o["missing_company_status"]),
        rate_limits=RateLimits(
            hourly_limit=o["hourly_limit"],
            hourly_window=o["hourly_window"],
            spike_limit=o["spike_limit"],
            spike_window=o["spike_window"],
        ),
        faults=Faults(
            error_rate=o["fault_rate"],
            drop_rate=o["drop_rate"],
            slow_rate=o["slow_rate"],
            slow_seconds=o["slow_seconds"],
            apply_drop_rate=o["apply_drop_rate"],
            scope=o["fault_scope"],
            seed=o["seed"],
        ),
        wan=Wan(
            api_latency=o["latency"],
            s3_latency=o["s3_latency"],
            s3_bandwidth=None if bandwidth is None else bandwidth * 1_000_000,
        ),
        storage_dir=o["storage_dir"],
        seed_file=o["seed_file"],
        log_requests=not o["quiet"],
    )


async def _serve_until_signal(config: EmulatorConfig) -> None:
    log = structlog.get_logger("bulkimport.emulator")
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with serve(config) as running:
            print(json.dumps(running.startup_info()), flush=True)
            log.info("emulator.started", api_base=running.api_base, s3_base=running.s3_base)
            async for signum in signals:
                log.info("emulator.stopping", signal=signal.Signals(signum).name)
                break
