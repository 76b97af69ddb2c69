"""How a run ends: the JSON report, the summary on stdout, and the exit status.

Exit status: 0 when every file is imported or was already; 1 when the run finished but some files
did not make it (each with its reason in the report and the log). The CLI adds 2 (usage or
configuration) and 3 (stopped: credentials refused, interrupted).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

from .estimate import duration
from .journal import FileRow, Journal
from .models import Plan
from .pipeline import PlanSummary, RunResult

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3


def exit_code(result: RunResult) -> int:
    return EXIT_SOME_FAILED if result.missing else EXIT_OK


def totals(result: RunResult) -> dict[str, Any]:
    states = {state.value: n for state, n in sorted(result.states.items())}
    stats = result.stats
    return {
        "files": len(result.plans),
        "plan": {plan.value: stats.planned.get(plan, 0) for plan in Plan},
        "states": states,
        "uploaded": stats.uploaded,
        "megabytes_uploaded": round(stats.bytes_uploaded / 1e6, 3),
        "drawings_created": stats.drawings_created,
        "drawing_uploads": stats.batches,
        "rerequested_tickets": dict(stats.rerequested),
        "procore_requests": result.requests,
        "rate_limited": stats.rate_limited,
        "budget_wait_s": round(stats.budget_wait, 2),
        "elapsed_s": round(stats.elapsed, 2),
    }


def entry(row: FileRow, plan: Plan) -> dict[str, Any]:
    return {
        "path": row.rel,
        "action": plan.value,
        "state": row.state.value,
        "number": row.number,
        "revision": row.revision,
        "upload_uuid": row.upload_uuid,
        "drawing_upload_id": row.drawing_upload_id,
        "error": row.error,
    }


async def report_entries(result: RunResult) -> AsyncIterator[dict[str, Any]]:
    """The report's entry for each file this run saw, read from the journal as it goes."""
    journal = await Journal.open(result.journal, readonly=True)
    try:
        async for rows in journal.stream():
            for row in rows:
                plan = result.plans.get(row.rel)
                if plan is not None:
                    yield entry(row, plan)
    finally:
        await journal.close()


async def write_report(path: Path, result: RunResult) -> None:
    """The JSON report, written as the entries are read: `{"totals": {...}, "files": [...]}`.
    Private (0600): it names every file of the archive."""
    await anyio.Path(path.parent).mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    async with await anyio.open_file(descriptor, "w", encoding="utf-8") as handle:
        await handle.write('{"totals": ' + json.dumps(totals(result), indent=2) + ',\n"files": [')
        first = True
        async for item in report_entries(result):
            await handle.write(("\n  " if first else ",\n  ") + json.dumps(item))
            first = False
        await handle.write("\n]}\n")


def summary_text(result: RunResult) -> str:
    t = totals(result)
    plan = t["plan"]
    lines = [
        (
            f"bulkimport: {t['files']} files: {plan['new']} new, {plan['changed']} changed, "
            f"{plan['resume']} resumed, {plan['retry']} retried, {plan['unchanged']} unchanged, "
            f"{plan['invalid']} invalid"
        ),
        (
            f"  uploaded {t['uploaded']} ({t['megabytes_uploaded']} MB) in {t['elapsed_s']} s; "
            f"{t['drawing_uploads']} drawing uploads; {t['drawings_created']} drawings created; "
            f"{sum(t['rerequested_tickets'].values())} tickets re-requested; "
            f"{sum(t['procore_requests'].values())} Procore requests"
        ),
        "  states: " + ", ".join(f"{k} {v}" for k, v in sorted(t["states"].items())),
    ]
    missing = result.missing
    for row in missing[:20]:
        lines.append(f"  NOT IMPORTED {row.rel}: {row.error or row.state.value}")
    if len(missing) > 20:
        lines.append(f"  ... and {len(missing) - 20} more (see --report)")
    return "\n".join(lines)


def plan_text(summary: PlanSummary) -> str:
    lines = [
        "bulkimport dry run: nothing was sent or written.",
        "  " + ", ".join(f"{summary.counts.get(p, 0)} {p.value}" for p in Plan),
        f"  {summary.bytes_to_upload / 1e6:.1f} MB to upload",
    ]
    if summary.cost is None:
        lines.append("  (set PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET to price the plan)")
    else:
        cost = summary.cost
        lines.append(
            f"  Procore requests needed: about {cost.total} ("
            + ", ".join(f"{n} {e}" for e, n in cost.by_endpoint().items() if n)
            + ")"
        )
        lines.append(
            f"  time at the current budget: {duration(summary.cost_seconds)}. "
            + summary.budget_note
        )
    for plan in Plan:
        for rel in summary.examples.get(plan, []):
            reason = summary.reasons.get(rel)
            lines.append(f"  {plan.value:9} {rel}" + (f"  ({reason})" if reason else ""))
    return "\n".join(lines)
