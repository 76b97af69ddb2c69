"""bulkimport's benchmarks: throughput, request efficiency and memory, beside baselines.

    python benchmarks/run.py [--scenario NAME ...] [--quick | --smoke]

Sizes: full (the targets' sizes), --quick (every scenario within a few minutes), --smoke (a few
files each: tests/benchmarks/test_scenarios.py runs them in the test suite, to catch a scenario
that fails a file or breaks exactly-once before a benchmark run does).

Each scenario starts the emulator as its own process (with the network model it names), runs
the engine as its own process (`bulkimport run`, peak RSS from the kernel), runs the baselines
on the same data against the same emulator, and checks through the emulator's record that every
file arrived exactly once. Results: benchmarks/results/latest.json and latest.md.

Scenarios:
  unthrottled  WAN model, no rate limit: engine overhead against the limit and naive baselines
  budget       hourly and spike limits on, time-compressed: requests per drawing, budget use
  budget_per_endpoint
               the same, with each endpoint counted apart (procore-api.md C12): the bound is
               each endpoint's own rate, so new drawings move at about twice the speed
  neighbour    the budget scenario with another integration on the same credential spending a
               steady share: 429s met, and the use of what the neighbour leaves
  projects     the budget scenario over three projects in one run ([[targets]]), one
               credential: budget use and exactly-once as for one project
  expiry       one-hour tickets shrunk to seconds, slow storage: re-requests, zero failures
  large        GB-sized files, no WAN model: flat memory
  scale        many tiny files: scan+plan time, journal size, RSS; a re-run uploads nothing
               and opens no file
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from archive import make_archive, revise
from baselines import limit, naive
from processes import Emulator, EngineRun, emulator, run_engine, spending_neighbour
from table import COLUMNS, results_table

from bulkimport.source.planner import sha256_of

RESULTS = Path(__file__).resolve().parent / "results"
WAN = ["--latency", "0.15", "--s3-latency", "0.03", "--s3-bandwidth", "15"]
WAN_TEXT = "WAN model: 150 ms per API call, 30 ms per storage request, 15 MB/s per storage link"


def exactly_once(emu: Emulator, paths: list[Path], versions: int = 1) -> bool:
    """Every file's bytes attached once (each of `versions` versions), from the emulator's
    record of what it received."""
    uploads = emu.state("uploads")["uploads"]
    attached = Counter(u["sha256"] for u in uploads if u["attached_to"] is not None)
    current = all(attached[sha256_of(p)] == 1 for p in paths)
    each_once = set(attached.values()) <= {1}
    return current and each_once and sum(attached.values()) == len(paths) * versions


def budget_use(timeline: list[list[Any]], rate: float, per_endpoint: bool = False) -> float:
    """Requests made while work remained (to the last Create Drawing Upload) over those allowed.
    Per endpoint, the busiest endpoint's requests over what its own windows allowed, which
    open at its first request (the emulator starts an endpoint's windows there)."""
    end = import_end(timeline)
    made = [(t, name) for t, name in timeline if t <= end]
    if not per_endpoint:
        span = end - made[0][0]
        return len(made) / (span * rate) if span > 0 else 0.0
    busiest = Counter(name for _, name in made).most_common(1)[0][0]
    times = [t for t, name in made if name == busiest]
    span = end - times[0]
    return len(times) / (span * rate) if span > 0 else 0.0


def import_end(timeline: list[list[Any]]) -> float:
    """When the engine's last Create Drawing Upload went: the end of the import itself."""
    return float(max(t for t, n in timeline if n.endswith("/drawing_uploads") and "POST" in n))


def import_seconds(timeline: list[list[Any]]) -> float:
    """From the engine's first API call to its last Create Drawing Upload: the import itself,
    without process start-up or the wait for Procore's processing that follows it."""
    return import_end(timeline) - float(timeline[0][0])


def result(**values: Any) -> dict[str, Any]:
    keys = [
        "files",
        "engine_files_per_s",
        "limit_files_per_s",
        "naive_files_per_s",
        "engine_mb_per_s",
        "requests_per_drawing",
        "budget_use",
        "rerequested_tickets",
        "failed_files",
        "peak_rss_mb",
        "wall_s",
    ]
    return {key: values.pop(key, None) for key in keys} | values


def mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 1e6


def whole_run(run: EngineRun, paths: list[Path]) -> dict[str, Any]:
    """The common figures of a scenario measured over the engine's whole run."""
    return {
        "files": len(paths),
        "engine_files_per_s": round(len(paths) / run.wall_s, 3),
        "engine_mb_per_s": round(mb(paths) / run.wall_s, 1),
        "requests_per_drawing": round(run.rest_requests() / len(paths), 3),
        "rerequested_tickets": sum(run.totals["rerequested_tickets"].values()),
        "failed_files": run.failed(),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "wall_s": round(run.wall_s, 2),
    }


# Scenarios ---------------------------------------------------------------------------------

Size = Literal["smoke", "quick", "full"]


def sized(size: Size, *, smoke: int, quick: int, full: int) -> int:
    return {"smoke": smoke, "quick": quick, "full": full}[size]


def unthrottled(work: Path, size: Size) -> dict[str, Any]:
    files = sized(size, smoke=4, quick=60, full=400)
    paths = make_archive(work / "src", files, min_mb=0.5, max_mb=2 if size == "smoke" else 10)
    with emulator(*WAN, "--processing-delay", "1") as emu:
        run = run_engine(
            emu, work / "src", work, create_upload_workers=16, upload_workers=8, verify_interval=1
        )
        seconds = import_seconds(emu.state("timeline")["timeline"])
        once = exactly_once(emu, paths)
        areas = {a["name"]: a["id"] for a in emu.info["drawing_areas"]}
        set_id = emu.info["drawing_sets"][0]["id"]
        lim = anyio.run(limit, emu.info, paths, 8)
        nai = anyio.run(
            naive,
            emu.info,
            paths[: sized(size, smoke=2, quick=8, full=30)],
            areas["Building B"],
            set_id,
        )
    engine_fps = len(paths) / seconds
    return result(
        files=len(paths),
        engine_files_per_s=round(engine_fps, 2),
        limit_files_per_s=round(lim.files_per_s, 2),
        naive_files_per_s=round(nai.files_per_s, 2),
        engine_mb_per_s=round(mb(paths) / seconds, 1),
        engine_import_s=round(seconds, 2),
        requests_per_drawing=round(run.rest_requests() / len(paths), 3),
        rerequested_tickets=sum(run.totals["rerequested_tickets"].values()),
        failed_files=run.failed(),
        peak_rss_mb=round(run.peak_rss_mb, 1),
        wall_s=round(run.wall_s, 2),
        engine_vs_limit=round(engine_fps / lim.files_per_s, 2),
        engine_vs_naive=round(engine_fps / nai.files_per_s, 1),
        exactly_once=once,
        network=WAN_TEXT,
    )


BUDGET_LIMITS = (300, 15, 240)  # the "hour" shrunk to 15 s: 20/s on average, 24/s in a burst


def budget_limits(*extra: str) -> tuple[list[str], float]:
    """The budget scenarios' emulator arguments, and the requests per second they allow."""
    hourly, window, spike = BUDGET_LIMITS
    args = ["--hourly-limit", str(hourly), "--hourly-window", str(window)]
    args += ["--spike-limit", str(spike), "--spike-window", "10"]
    return [*args, "--latency", "0.05", "--s3-latency", "0.02", *extra], min(
        hourly / window, spike / 10
    )


def budget(work: Path, size: Size, scope: str = "client", projects: int = 1) -> dict[str, Any]:
    """New drawings, then the same files changed: revisions of drawings that exist. With
    `projects`, the files are split among that many folders, each a project of one run."""
    # Per endpoint the same files take half the time: twice as many keep the run as long, so
    # the first window's burst and the last batch weigh as little as in the shared scope.
    double = 2 if scope == "endpoint" else 1
    files = sized(size, smoke=21, quick=300 * double, full=1500 * double)
    folders = [f"Project {n + 1}" for n in range(projects)] if projects > 1 else None
    paths = [
        path
        for n, folder in enumerate(folders or ["."])
        for path in make_archive(
            work / "src" / folder, files // projects, min_mb=0.02, max_mb=0.2, seed=n
        )
    ]
    files = len(paths)
    args, rate = budget_limits("--rate-limit-scope", scope, "--projects", str(projects))
    with emulator(*args) as emu:
        first = run_engine(emu, work / "src", work, folders=folders)
        timeline = emu.state("timeline")["timeline"]
        revise(paths)  # every file again, dated the next day: revisions of existing drawings
        second = run_engine(emu, work / "src", work, folders=folders)
        revisions = emu.state("timeline")["timeline"][len(timeline) :]
        once = exactly_once(emu, paths, versions=2)
    per_endpoint = scope == "endpoint"
    use = min(budget_use(timeline, rate, per_endpoint), budget_use(revisions, rate, per_endpoint))
    # New drawings per "hour" (one window of the compressed hour) against the bound: one
    # shared budget pays every request of a drawing; per endpoint, the busiest endpoint's.
    hour = BUDGET_LIMITS[1]
    span = import_seconds(timeline)
    per_drawing = first.rest_requests() / files
    busiest = max(first.totals["procore_requests"].values()) / files
    bound = rate * hour / (busiest if per_endpoint else per_drawing)
    hourly, window, spike = BUDGET_LIMITS
    return result(
        files=files,
        engine_files_per_s=round(files / second.wall_s, 2),
        engine_mb_per_s=round(mb(paths) / second.wall_s, 2),
        requests_per_drawing=round(second.rest_requests() / files, 3),
        requests_per_new_drawing=round(per_drawing, 3),
        requests_by_endpoint_new=first.totals["procore_requests"],
        budget_use=round(use, 3),
        new_drawings_per_hour=round(files / span * hour),
        new_drawings_per_hour_bound=round(bound),
        budget_scope=first.totals.get("budget_scope"),
        rate_limited=first.totals["rate_limited"] + second.totals["rate_limited"],
        drawing_uploads=first.totals["drawing_uploads"] + second.totals["drawing_uploads"],
        rerequested_tickets=sum(second.totals["rerequested_tickets"].values()),
        failed_files=first.failed() + second.failed(),
        peak_rss_mb=round(max(first.peak_rss_mb, second.peak_rss_mb), 1),
        wall_s=round(first.wall_s + second.wall_s, 2),
        exactly_once=once,
        network=f"rate limits per {'endpoint' if per_endpoint else 'client'}: {hourly} per "
        f"{window} s (the compressed hour) and {spike} per 10 s; 50 ms per call"
        + (f"; {projects} projects in one run" if projects > 1 else ""),
    ) | ({"projects": projects} if projects > 1 else {})


def budget_per_endpoint(work: Path, size: Size) -> dict[str, Any]:
    return budget(work, size, scope="endpoint")


def projects(work: Path, size: Size) -> dict[str, Any]:
    return budget(work, size, projects=3)


NEIGHBOUR_SHARE = 0.3
NEIGHBOUR_ENDPOINT = (
    "GET /rest/v1.0/projects/{project_id}/drawing_areas"  # one the engine never calls
)


def neighbour(work: Path, size: Size) -> dict[str, Any]:
    """New drawings while another integration on the same credential spends a steady 30% of
    the budget, paying no heed to the rate-limit headers."""
    files = sized(size, smoke=20, quick=300, full=1500)
    paths = make_archive(work / "src", files, min_mb=0.02, max_mb=0.2)
    args, _ = budget_limits()
    hourly, window, _ = BUDGET_LIMITS
    with emulator(*args) as emu:
        with spending_neighbour(emu.info, hourly / window * NEIGHBOUR_SHARE) as other:
            run = run_engine(emu, work / "src", work)
        timeline = emu.state("timeline")["timeline"]
        once = exactly_once(emu, paths)
    return result(
        **whole_run(run, paths),
        use_of_what_is_left=use_of_what_is_left(timeline, hourly, window),
        rate_limited=run.totals["rate_limited"],
        neighbour_rate_limited=other.refused,
        exactly_once=once,
        network=f"the budget scenario's limits; a neighbour spends {NEIGHBOUR_SHARE:.0%} of them",
    )


def use_of_what_is_left(timeline: list[list[Any]], limit: int, length: float) -> float | None:
    """The engine's requests over what the neighbour left them, in the budget windows that
    began and ended while the engine had work (a first window's burst or a last one's tail
    would say more of where the run started and stopped than of its pacing). A window starts
    at the first request admitted after the last one ended, as the emulator counts them."""
    starts: list[float] = []
    for t, _ in timeline:
        if not starts or t >= starts[-1] + length:
            starts.append(t)
    first = min(t for t, name in timeline if name != NEIGHBOUR_ENDPOINT)
    whole = [s for s in starts if s >= first and s + length <= import_end(timeline)]
    if not whole:
        return None  # too short a run (smoke size)
    mine = theirs = 0
    for s in whole:
        inside = [name for t, name in timeline if s <= t < s + length]
        theirs += sum(1 for name in inside if name == NEIGHBOUR_ENDPOINT)
        mine += sum(1 for name in inside if name != NEIGHBOUR_ENDPOINT)
    return round(mine / (limit * len(whole) - theirs), 3)


def expiry(work: Path, size: Size) -> dict[str, Any]:
    files = sized(size, smoke=4, quick=24, full=100)
    paths = make_archive(work / "src", files, min_mb=1.5, max_mb=3)
    args = ["--upload-ttl", "3", "--s3-bandwidth", "1", "--s3-latency", "0.05", "--latency", "0.05"]
    with emulator(*args) as emu:
        # Two slow POST workers behind four ticket makers: tickets wait past half their life.
        run = run_engine(emu, work / "src", work, upload_workers=2, create_upload_workers=4)
        once = exactly_once(emu, paths)
    return result(
        **whole_run(run, paths),
        rerequested_by_reason=run.totals["rerequested_tickets"],
        exactly_once=once,
        network="upload TTL 3 s; storage at 1 MB/s per link; 50 ms per call",
    )


def large(work: Path, size: Size) -> dict[str, Any]:
    gb = 0.05 if size == "smoke" else 2.0
    count = sized(size, smoke=1, quick=1, full=3)
    paths = make_archive(work / "src", 0, large=count, large_gb=gb)
    with emulator("--processing-delay", "1", "--storage-dir", str(work / "stored")) as emu:
        run = run_engine(emu, work / "src", work)  # the default max_file_size takes 2 GB
        once = exactly_once(emu, paths)
    return result(
        **whole_run(run, paths), file_gb=gb, exactly_once=once, network="loopback, no WAN model"
    )


def scale(work: Path, size: Size) -> dict[str, Any]:
    files = sized(size, smoke=200, quick=10_000, full=100_000)
    paths = make_archive(work / "src", files, min_mb=0.002, max_mb=0.005)
    with emulator("--processing-delay", "0.5") as emu:
        plan = run_engine(emu, work / "src", work, dry_run=True)
        run = run_engine(emu, work / "src", work, create_upload_workers=16, upload_workers=16)
        before = emu.state("requests")["requests"]
        again = run_engine(emu, work / "src", work)
        after = emu.state("requests")["requests"]
        once = exactly_once(emu, paths)
    upload_calls = "POST /rest/v1.1/projects/{project_id}/uploads"
    return result(
        files=files,
        engine_files_per_s=round(files / run.wall_s, 1),
        engine_mb_per_s=round(mb(paths) / run.wall_s, 2),
        requests_per_drawing=round(run.rest_requests() / files, 3),
        rerequested_tickets=sum(run.totals["rerequested_tickets"].values()),
        failed_files=run.failed(),
        peak_rss_mb=round(max(run.peak_rss_mb, again.peak_rss_mb, plan.peak_rss_mb), 1),
        wall_s=round(run.wall_s, 2),
        import_rss_mb=round(run.peak_rss_mb, 1),
        scan_plan_s=round(plan.wall_s, 2),
        scan_plan_rss_mb=round(plan.peak_rss_mb, 1),
        rerun_s=round(again.wall_s, 2),
        rerun_rss_mb=round(again.peak_rss_mb, 1),
        rerun_upload_calls=after.get(upload_calls, 0) - before.get(upload_calls, 0),
        # Source files read before sending (PDF checks, sha256s): every file on the import,
        # none on a re-run over the unchanged archive.
        files_opened=run.totals["files_opened"],
        rerun_files_opened=again.totals["files_opened"],
        # The read-back's list calls against everything the import asked of Procore.
        readback_requests=run.totals["readback_requests"],
        readback_share=round(run.totals["readback_requests"] / run.rest_requests(), 5),
        journal_mb=round((work / "journal.sqlite3").stat().st_size / 1e6, 2),
        exactly_once=once,
        network="loopback, no WAN model",
    )


SCENARIOS: dict[str, Callable[[Path, Size], dict[str, Any]]] = {
    "unthrottled": unthrottled,
    "budget": budget,
    "budget_per_endpoint": budget_per_endpoint,
    "neighbour": neighbour,
    "projects": projects,
    "expiry": expiry,
    "large": large,
    "scale": scale,
}


def markdown(results: dict[str, Any], size: Size, total: float) -> str:
    heading = (
        f"Benchmarks ({size if size == 'full' else '--' + size}, {total:.0f} s in all, "
        f"{os.cpu_count()} cores)"
    )
    lines = [heading, "", results_table(results), ""]
    for name, values in results.items():
        extra = {k: v for k, v in values.items() if k not in dict(COLUMNS).values()}
        lines.append(f"- **{name}**: " + "; ".join(f"{k} {v}" for k, v in extra.items()))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="bulkimport benchmarks")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS))
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="every scenario within ~5 minutes")
    sizes.add_argument("--smoke", action="store_true", help="a few files each, to check them")
    args = parser.parse_args()
    chosen = args.scenario or list(SCENARIOS)
    size: Size = "quick" if args.quick else "smoke" if args.smoke else "full"
    results: dict[str, Any] = {}
    started = time.perf_counter()
    for name in chosen:
        with tempfile.TemporaryDirectory(prefix=f"bulkimport-bench-{name}-") as scratch:
            began = time.perf_counter()
            results[name] = SCENARIOS[name](Path(scratch), size)
            print(f"{name}: {time.perf_counter() - began:.0f} s {json.dumps(results[name])}")  # noqa: T201
    total = time.perf_counter() - started
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results, size, total)
    (RESULTS / "latest.md").write_text(table)
    print(table)  # noqa: T201 - the benchmark's result is its output


if __name__ == "__main__":
    main()
