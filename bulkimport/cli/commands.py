"""The `bulkimport` command. The only module that reads the environment, configures logs,
prints to stdout and chooses exit codes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NoReturn

import anyio
import click
import structlog
from rich.console import Console

from bulkimport import __version__, logs, run_status
from bulkimport.cli import display
from bulkimport.cli import status_command as status_report
from bulkimport.cli.emulator_command import emulator
from bulkimport.cli.environment import credentials_if_set, fail, require_credentials, settings_for
from bulkimport.cli.failures import RECONCILE_RULES, RUN_RULES, failure
from bulkimport.cli.options import CONFIG, JOURNAL, LOG_FORMAT, SOURCE, verbosity
from bulkimport.dry_run import plan_only
from bulkimport.errors import (
    AuthenticationError,
    ConfigError,
    JournalError,
    JournalUnavailable,
)
from bulkimport.journal.runs import RunIdentity, run_log
from bulkimport.journal_location import JournalLocation
from bulkimport.outcome import RunResult
from bulkimport.pipeline import run_import
from bulkimport.preflight import Status, preflight
from bulkimport.progress import figures, follow
from bulkimport.report import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_STOPPED,
    EXIT_USAGE,
    exit_code,
    plan_text,
    summary_text,
    write_report,
)
from bulkimport.settings import Settings


@click.group()
@click.version_option(__version__, prog_name="bulkimport")
def main() -> None:
    """Import large archives of drawing PDFs into Procore's Drawings tool."""


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
    "--progress/--no-progress",
    default=True,
    help="A live display on a terminal, `progress` events otherwise (default: on).",
)
@LOG_FORMAT
@verbosity
def run(
    config_path: Path,
    source: Path | None,
    journal: str | None,
    dry_run: bool,
    report_path: Path | None,
    progress: bool,
    log_format: logs.LogFormat,
    verbose: int,
    quiet: int,
) -> None:
    """Import the PDFs of a folder into one Procore project's Drawings tool.

    Exit status: 0 every file imported (or already); 1 some files failed (see the report);
    2 usage or configuration error; 3 stopped (credentials refused, interrupted). The journal
    keeps the state, so running the same command again resumes.
    """
    logs.configure(log_format, logs.level_for(verbose, quiet))
    settings = settings_for(config_path, source, journal)
    if dry_run:
        _dry_run(settings)
    credentials = require_credentials()
    root = settings.source.root
    view = _live_view(progress, f"bulkimport run: {root}", f"reading the names under {root}")
    projects = [each.procore.project_id for each in settings.projects()]
    me = RunIdentity.this_process(projects)  # the record's, from the first figures to the last
    watcher = partial(
        follow,
        journal=settings.engine.journal,
        projects=projects,
        interval=settings.engine.progress_interval,
        show=view.show if view else None,
        events=progress,
        me=me,
    )
    try:
        with view or contextlib.nullcontext():
            result = anyio.run(run_import, settings, credentials, watcher, True)
    except KeyboardInterrupt:
        fail(EXIT_STOPPED, "interrupted; the journal keeps the state: run again to resume")
    except BaseException as exc:  # task groups wrap errors in groups: every one is reported
        stopped = failure(exc, RUN_RULES)
        if stopped is None:
            raise
        fail(*stopped)
    _finish(settings, result, report_path, me)


def _dry_run(settings: Settings) -> NoReturn:
    """`run --dry-run`: the plan on stdout; priced when credentials are set, never required."""
    try:
        summary = anyio.run(plan_only, settings, credentials_if_set())
    except (AuthenticationError, JournalUnavailable) as exc:
        fail(EXIT_STOPPED, f"stopped: {exc}")
    except (ConfigError, JournalError) as exc:
        fail(EXIT_USAGE, str(exc))
    click.echo(plan_text(summary))
    sys.exit(EXIT_OK)


def _finish(
    settings: Settings, result: RunResult, report_path: Path | None, me: RunIdentity
) -> NoReturn:
    """A run's end: its outcome recorded for `status`, the reports, the summary, the exit."""
    code = EXIT_STOPPED if result.interrupted else exit_code(result)
    _record_outcome(settings.engine.journal, result, code, me)
    if report_path is not None:
        table = anyio.run(write_report, report_path, result)
        structlog.get_logger("bulkimport.report").info(
            "report.written", json=str(report_path), csv=str(table)
        )
    _print_summary(result, report_path)
    if result.interrupted:
        fail(EXIT_STOPPED, "stopped on request; the journal keeps the state: run again to resume")
    sys.exit(code)


def _live_view(wanted: bool, heading: str, preparing: str) -> display.LiveView | None:
    """The live display, when wanted and stderr is a terminal; None means `progress` events."""
    if not wanted or not sys.stderr.isatty():
        return None
    return display.LiveView(Console(stderr=True), heading, preparing)


def _print_summary(result: RunResult, report_path: Path | None) -> None:
    """Tables on a terminal; the plain lines elsewhere (cron mail, CI logs, scripts)."""
    if sys.stdout.isatty():
        Console().print(display.summary(result, report_path))
    else:
        click.echo(summary_text(result))


def _record_outcome(
    journal: JournalLocation, result: RunResult, code: int, me: RunIdentity
) -> None:
    """The last word in the record `status` reads (the file beside a SQLite journal, the run's
    row in a PostgreSQL one's runs table): the run's final figures and exit status."""
    stats = result.stats
    now = time.time()
    final = figures(stats, {s.value: n for s, n in result.states.items()})
    record = run_status.RunRecord(
        os.getpid(), now - stats.elapsed, now, final.as_dict(), finished_at=now, exit_status=code
    )
    record_to = run_log(journal, me)
    try:
        record_to.write(record)
    except (OSError, JournalError) as exc:  # the outcome is in the journal; only this is lost
        structlog.get_logger("bulkimport.run").warning("status.unwritten", error=str(exc))
    finally:
        record_to.close()


@main.command()
@CONFIG
@SOURCE
@LOG_FORMAT
@verbosity
def check(
    config_path: Path, source: Path | None, log_format: logs.LogFormat, verbose: int, quiet: int
) -> None:
    """Would a run start? Read-only checks against Procore, one line each.

    Credentials, company and project, the drawing areas and sets the config, manifest and folder
    layout name, one page of drawings, the rate-limit budget, and the clock against Procore's.
    Also whether the journal can be reached and read. About six requests per project; nothing
    is created or uploaded. Exit status: 0 a run would start (warnings included); 2 a
    configuration problem; 3 credentials refused or the journal out of reach.
    """
    # Warnings only by default: the check lines tell the story.
    logs.configure(log_format, logs.level_for(verbose, quiet, default=logging.WARNING))
    settings = settings_for(config_path, source, None)
    checks = anyio.run(preflight, settings, require_credentials())
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
@verbosity
def reconcile_command(
    config_path: Path,
    source: Path | None,
    journal: str | None,
    report_path: Path | None,
    log_format: logs.LogFormat,
    verbose: int,
    quiet: int,
) -> None:
    """Is the archive in Procore? Compare it with each area's drawing log; reads only.

    Each file is matching, missing, differs (the revision is there with another set or dates),
    unknown or invalid; drawings in Procore that no file names are listed as extra. Costs list
    calls only. Exit status: 0 every file is in Procore as meant (extra drawings allowed);
    1 some file is not; 2 usage or configuration error; 3 credentials refused.
    """
    from bulkimport.reconcile import report as reconcile_report
    from bulkimport.reconcile.run import reconcile

    logs.configure(log_format, logs.level_for(verbose, quiet))
    settings = settings_for(config_path, source, journal)
    try:
        result = anyio.run(reconcile, settings, require_credentials())
    except BaseException as exc:
        stopped = failure(exc, RECONCILE_RULES)
        if stopped is None:
            raise
        fail(*stopped)
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
@click.option(
    "--watch", is_flag=True, help="Follow the running import until it ends (Ctrl+C stops watching)."
)
@verbosity
def status(config_path: Path, journal: str | None, watch: bool, verbose: int, quiet: int) -> None:
    """Counts per state from the journal, the files that failed, and the running run (pid,
    start, rate, ETA; on a PostgreSQL journal, every run or worker going, on any host) or the
    last run's outcome. Reads only: never blocks a run."""
    logs.configure("auto", logs.level_for(verbose, quiet))
    settings = settings_for(config_path, None, journal)
    path = settings.engine.journal
    try:
        now, failed = anyio.run(status_report.read, path)
    except JournalUnavailable as exc:
        fail(EXIT_STOPPED, f"stopped: {exc}")
    except JournalError as exc:
        fail(EXIT_USAGE, str(exc))
    if watch and now.running and now.record is not None:
        view = None
        show: Callable[[status_report.Snapshot], None]
        if sys.stdout.isatty():
            host = "" if now.record.host is None else f" on {now.record.host}"
            heading = (
                f"bulkimport run, pid {now.record.pid}{host}, started "
                f"{status_report.when(now.record.started_at)} (journal {path})"
            )
            view = display.LiveView(Console(), heading, "reading the journal")
            show = partial(_show_snapshot, view)
        else:
            show = _echo_snapshot
        try:
            with view or contextlib.nullcontext():
                now = anyio.run(status_report.watch, path, show)
        except KeyboardInterrupt:
            sys.exit(EXIT_OK)  # stopped watching; the run goes on
    click.echo(f"journal {path}")
    for state, count in sorted(now.counts.items()):
        click.echo(f"  {state:10} {count}")
    for project, counts in sorted(now.by_project.items()):
        by_state = ", ".join(f"{state} {count}" for state, count in sorted(counts.items()))
        click.echo(f"  project {project}: {by_state}")
    for rel, error in failed:
        click.echo(f"  FAILED {rel}: {error}")
    for line in status_report.run_lines(now):
        click.echo(line)


def _show_snapshot(view: display.LiveView, now: status_report.Snapshot) -> None:
    found = now.figures()
    if found is not None:
        view.show(found)


def _echo_snapshot(now: status_report.Snapshot) -> None:
    """Off a terminal, a line a second (one for each worker going): for a log, or a script
    that follows the run."""
    for line in status_report.run_lines(now):
        click.echo(line)


@main.command()
@click.option("--files", default=200, show_default=True, help="How many sample drawings.")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Work in this folder and keep it (default: a temporary one).",
)
@LOG_FORMAT
@verbosity
def demo(
    files: int, keep: Path | None, log_format: logs.LogFormat, verbose: int, quiet: int
) -> None:
    """Import sample drawings into the built-in emulator and check every one arrived once."""
    from bulkimport.cli.demo import run_demo

    logs.configure(log_format, logs.level_for(verbose, quiet))
    if files < 1:
        fail(EXIT_USAGE, "--files must be at least 1")
    view = _live_view(
        True, f"bulkimport demo: {files} sample drawings into the built-in emulator", "preparing"
    )
    with tempfile.TemporaryDirectory(prefix="bulkimport-demo-") as scratch:
        workdir = keep.resolve() if keep else Path(scratch)
        with view or contextlib.nullcontext():
            outcome = anyio.run(
                run_demo, files, workdir, view.show if view else None, view.note if view else None
            )
    _print_summary(outcome.result, None)
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
