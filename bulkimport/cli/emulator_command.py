"""`bulkimport emulator`: its options, mapped onto EmulatorConfig, and serving until a signal.

Kept apart from cli.py because the emulator's knobs are many and have nothing to do with an
import run.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import click
import structlog

from bulkimport import logs
from bulkimport.cli.options import LOG_FORMAT, verbosity
from bulkimport.report import EXIT_USAGE

if TYPE_CHECKING:
    from bulkimport.emulator import EmulatorConfig


def _scopes(_: click.Context, __: click.Parameter, value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


@click.command()
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
    "--require-project-id",
    is_flag=True,
    help="List/Create Drawing answer 400 without the project_id query parameter.",
)
@click.option(
    "--revisions-access/--no-revisions-access",
    default=True,
    show_default=True,
    help="Whether List Drawing Revisions is permitted (404 when not).",
)
@click.option(
    "--strict-dates",
    is_flag=True,
    help="Refuse a plain YYYY-MM-DD where the reference types a date-time.",
)
@click.option(
    "--project-utc-offset",
    default=0.0,
    show_default=True,
    help="Hours from UTC of the project's time zone; turns a date-time into a day.",
)
@click.option(
    "--refusal-style",
    type=click.Choice(["named", "batch"]),
    default="named",
    show_default=True,
    help="Bad drawing_log_imports: 422 naming each entry, or one 400 naming none.",
)
@click.option(
    "--review-rate",
    default=0.0,
    show_default=True,
    help="Fraction of direct (drawing_id) imports that still need manual review.",
)
@click.option(
    "--v10-uploads/--no-v10-uploads",
    default=True,
    show_default=True,
    help="Serve the deprecated v1.0 Create Upload (404 when not).",
)
@click.option(
    "--429-retry-after/--no-429-retry-after",
    "retry_after_429",
    default=True,
    show_default=True,
    help="Whether a 429 carries Retry-After besides the X-Rate-Limit-* headers.",
)
@click.option(
    "--rate-limit-scope",
    type=click.Choice(["client", "endpoint"]),
    default="client",
    show_default=True,
    help="One budget per client, or one per client and endpoint (procore-api.md C12).",
)
@click.option(
    "--503-retry-after",
    "retry_after_503",
    default=1.0,
    show_default=True,
    help="Retry-After seconds on an injected 503.",
)
@click.option(
    "--seed-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON file with the companies, projects and clients to start with.",
)
@click.option(
    "--earlier-drawing-uploads",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processed drawing uploads the first project already has (an old project's history).",
)
@click.option(
    "--projects",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Projects in the company: copies of the first one (its areas and sets) up to this many.",
)
@click.option(
    "--storage-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where uploaded bytes are kept (a temporary folder by default).",
)
@LOG_FORMAT
@verbosity
def emulator(**options: Any) -> None:
    """Serve the Procore + S3 emulator until Ctrl+C.

    Prints one JSON line to stdout with the real ports, the base URLs and the seeded
    credentials, company, project, drawing areas and sets; then logs requests to stderr
    (`-q`: not each request, only warnings and errors).
    """
    # Loaded here, not at the top: `bulkimport run` must not import the emulator.
    from bulkimport.emulator import SeedError

    logs.configure(options["log_format"], logs.level_for(options["verbose"], options["quiet"]))
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
    from bulkimport.emulator import EmulatorConfig, Faults, RateLimits, Wan

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
        require_project_id=o["require_project_id"],
        revisions_access=o["revisions_access"],
        strict_dates=o["strict_dates"],
        project_utc_offset=o["project_utc_offset"],
        refusal_style=o["refusal_style"],
        review_rate=o["review_rate"],
        v10_uploads=o["v10_uploads"],
        rate_limits=RateLimits(
            hourly_limit=o["hourly_limit"],
            hourly_window=o["hourly_window"],
            spike_limit=o["spike_limit"],
            spike_window=o["spike_window"],
            retry_after=o["retry_after_429"],
            scope=o["rate_limit_scope"],
        ),
        faults=Faults(
            error_rate=o["fault_rate"],
            drop_rate=o["drop_rate"],
            slow_rate=o["slow_rate"],
            slow_seconds=o["slow_seconds"],
            apply_drop_rate=o["apply_drop_rate"],
            scope=o["fault_scope"],
            seed=o["seed"],
            retry_after_503=o["retry_after_503"],
        ),
        wan=Wan(
            api_latency=o["latency"],
            s3_latency=o["s3_latency"],
            s3_bandwidth=None if bandwidth is None else bandwidth * 1_000_000,
        ),
        storage_dir=o["storage_dir"],
        seed_file=o["seed_file"],
        earlier_drawing_uploads=o["earlier_drawing_uploads"],
        projects=o["projects"],
        log_requests=not o["quiet"],
    )


async def _serve_until_signal(config: EmulatorConfig) -> None:
    from bulkimport.emulator import serve

    log = structlog.get_logger("bulkimport.emulator")
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with serve(config) as running:
            click.echo(json.dumps(running.startup_info()))  # flushed: readers wait for it
            log.info("emulator.started", api_base=running.api_base, s3_base=running.s3_base)
            async for signum in signals:
                log.info("emulator.stopping", signal=signal.Signals(signum).name)
                break
