"""How a run ends: the JSON and CSV reports, the summary on stdout, and the exit status.

Exit status: 0 when every file is verified (read back from Procore's drawing log), was there
already, or was skipped on purpose (with a note); 1 when the run finished but some files did not
arrive as meant (failed, unreadable, waiting in Items to Review, or sent and not yet seen in the
log), or manifest rows name files that are not there (each with its reason in the report and
the log). The CLI adds 2 (usage or
configuration) and 3 (stopped: credentials refused, interrupted).

Reports are written as the journal is read, never held whole, and are private (0600): they name
every file of the archive.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

from bulkimport.estimate import duration
from bulkimport.journal.rows import FileRow
from bulkimport.journal.store import Journal
from bulkimport.models import FileState, Plan
from bulkimport.outcome import PlanSummary, ProjectOutcome, RunResult

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3


def exit_code(result: RunResult) -> int:
    return EXIT_SOME_FAILED if result.missing or result.manifest_problems else EXIT_OK


def totals(result: RunResult) -> dict[str, Any]:
    states = {state.value: n for state, n in sorted(result.states.items())}
    stats = result.stats
    return {
        "files": result.files,
        "plan": {plan.value: stats.planned.get(plan, 0) for plan in Plan},
        "states": states,
        "uploaded": stats.uploaded,
        "megabytes_uploaded": round(stats.bytes_uploaded / 1e6, 3),
        "drawings_created": stats.drawings_created,
        "drawing_uploads": stats.batches,
        "skipped": stats.skipped,
        # Files whose bytes the run read before sending (a check, a sha256): 0 on a re-run
        # over an unchanged archive.
        "files_opened": result.files_opened,
        "manifest_problems": len(result.manifest_problems),
        "rerequested_tickets": dict(stats.rerequested),
        "procore_requests": result.requests,
        "rate_limited": stats.rate_limited,
        "throttled": stats.throttled,
        "readback_requests": stats.readback_requests,
        "batch_split_calls": stats.split_calls,
        "budget_wait_s": round(stats.budget_wait, 2),
        # "endpoint" once Procore's headers showed a budget per endpoint (procore-api.md C12).
        "budget_scope": stats.budget.scope if stats.budget is not None else "shared",
        "elapsed_s": round(stats.elapsed, 2),
        "projects": [_project_totals(p) for p in result.projects],
    }


def _project_totals(project: ProjectOutcome) -> dict[str, Any]:
    """One project's share: its files by state, and how many did not arrive."""
    return {
        "project_id": project.project_id,
        "folder": str(project.folder),
        "files": len(project.plans),
        "states": {state.value: n for state, n in sorted(project.states.items())},
        "not_arrived": len(project.missing) + project.manifest_problems,
        "drawings_created": project.drawings_created,
    }


COLUMNS = (
    "path",
    "action",
    "state",
    "number",
    "title",
    "revision",
    "drawing_area",
    "drawing_set",
    "drawing_date",
    "mode",
    "upload_uuid",
    "drawing_upload_id",
    "note",
    "project_id",
)


def entry(row: FileRow, plan: Plan) -> dict[str, Any]:
    """A file's line; its path is relative to its project's folder."""
    return {
        "path": row.rel,
        "action": plan.value,
        "state": row.state.value,
        "number": row.number,
        "title": row.title,
        "revision": row.revision,
        "drawing_area": row.area,
        "drawing_set": row.drawing_set,
        "drawing_date": row.drawing_date,
        "mode": ("review" if row.review else "direct") if row.number is not None else None,
        "upload_uuid": row.upload_uuid,
        "drawing_upload_id": row.drawing_upload_id,
        "note": row.error if row.state in SETTLED else why(row),
        "project_id": row.project_id,
    }


async def report_entries(result: RunResult) -> AsyncIterator[dict[str, Any]]:
    """The report's entry for each file this run saw, read from the journal as it goes, then
    each manifest row that names no file."""
    journal = await Journal.open(result.journal, readonly=True)
    try:
        for project in result.projects:
            async for rows in journal.for_project(project.project_id).stream():
                for row in rows:
                    plan = project.plans.get(row.rel)
                    if plan is not None:
                        yield entry(row, plan)
    finally:
        await journal.close()
    for problem in result.manifest_problems:
        yield dict.fromkeys(COLUMNS) | {
            "path": problem.path,
            "action": Plan.INVALID.value,
            "state": "not found" if "no such file" in problem.reason else "invalid",
            "note": f"manifest line {problem.line}: {problem.reason}",
        }


WRITE_EVERY = 1000  # report entries per write


def _private(path: Path) -> int:
    return os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)


def csv_path(json_path: Path) -> Path:
    """Where the CSV goes: beside the JSON report, same name."""
    return json_path.with_suffix(".csv")


async def write_report(path: Path, result: RunResult) -> Path:
    """The JSON report (`{"totals": {...}, "files": [...]}`) and, beside it, the same entries
    as CSV for a spreadsheet. Returns the CSV's path."""
    await anyio.Path(path.parent).mkdir(parents=True, exist_ok=True)
    table = csv_path(path)
    async with (
        await anyio.open_file(_private(path), "w", encoding="utf-8") as report,
        # utf-8-sig: spreadsheet programs read accents right only with the byte-order mark.
        await anyio.open_file(_private(table), "w", encoding="utf-8-sig", newline="") as sheet,
    ):
        await report.write('{"totals": ' + json.dumps(totals(result), indent=2) + ',\n"files": [')
        await sheet.write(_csv_line(COLUMNS))
        # Written WRITE_EVERY entries at a time: a write is a trip to a worker thread, and two
        # per entry were most of a 100,000-file re-run.
        entries: list[str] = []
        lines: list[str] = []
        written = False  # some entry is in the file already: the next follows a comma
        async for item in report_entries(result):
            entries.append(json.dumps(item))
            lines.append(_csv_line(["" if item[c] is None else item[c] for c in COLUMNS]))
            if len(entries) == WRITE_EVERY:
                await report.write(_json_items(entries, written))
                await sheet.write("".join(lines))
                entries, lines, written = [], [], True
        await report.write(_json_items(entries, written) + "\n]}\n")
        await sheet.write("".join(lines))
    return table


def _json_items(entries: list[str], after_others: bool) -> str:
    if not entries:
        return ""
    return (",\n  " if after_others else "\n  ") + ",\n  ".join(entries)


def _csv_line(values: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


SETTLED = frozenset(
    {FileState.VERIFIED, FileState.SKIPPED, FileState.FAILED, FileState.NEEDS_REVIEW}
)
HEADINGS = {
    FileState.NEEDS_REVIEW: "IN ITEMS TO REVIEW",
    FileState.IMPORTED: "NOT CONFIRMED",
}


def why(row: FileRow) -> str:
    """The reason a file did not arrive as meant, in words a person can act on."""
    if row.error:
        return row.error
    if row.state is FileState.IMPORTED:
        return (
            f"sent in drawing upload {row.drawing_upload_id}, not yet seen in Procore's drawing "
            "log (Procore was still processing it); the next run checks again"
        )
    return f"stopped while {row.state.value}; the next run takes it up"


def summary_text(result: RunResult) -> str:
    t = totals(result)
    plan = t["plan"]
    lines = [
        (
            f"bulkimport: {t['files']} files: {plan['new']} new, {plan['changed']} changed, "
            f"{plan['resume']} resumed, {plan['retry']} retried, {plan['unchanged']} unchanged, "
            f"{plan['skipped']} skipped, {plan['invalid']} invalid"
        ),
        (
            f"  uploaded {t['uploaded']} ({t['megabytes_uploaded']} MB) in {t['elapsed_s']} s; "
            f"{t['drawing_uploads']} drawing uploads; {t['drawings_created']} drawings created; "
            f"{sum(t['rerequested_tickets'].values())} tickets re-requested; "
            f"{sum(t['procore_requests'].values())} Procore requests"
            + (
                f" ({t['batch_split_calls']} to isolate refused files)"
                if t["batch_split_calls"]
                else ""
            )
        ),
        "  states: " + ", ".join(f"{k} {v}" for k, v in sorted(t["states"].items())),
    ]
    several = len(result.projects) > 1
    if several:
        for project in t["projects"]:
            lines.append(
                f"  project {project['project_id']} ({project['folder']}): "
                f"{project['files']} files, {project['not_arrived']} did not arrive; "
                + ", ".join(f"{k} {v}" for k, v in project["states"].items())
            )
    missing = result.missing
    for row in missing[:20]:
        place = f"project {row.project_id}: " if several else ""
        heading = HEADINGS.get(row.state, "NOT IMPORTED")
        lines.append(f"  {heading} {place}{row.rel}: {why(row)}")
    if len(missing) > 20:
        lines.append(f"  ... and {len(missing) - 20} more (see --report)")
    for problem in result.manifest_problems[:20]:
        lines.append(f"  MANIFEST line {problem.line} ({problem.path}): {problem.reason}")
    if len(result.manifest_problems) > 20:
        lines.append(f"  ... and {len(result.manifest_problems) - 20} more manifest problems")
    return "\n".join(lines)


def plan_text(summary: PlanSummary) -> str:
    lines = ["bulkimport dry run: nothing was sent or written.", *_plan_figures(summary)]
    for part in summary.parts:  # a run over several projects: each one's plan
        lines.append(f"project {part.project_id} ({part.folder}):")
        lines += ["  " + line for line in [*_plan_figures(part), *_plan_files(part)]]
    return "\n".join([*lines, *_plan_files(summary)])


def _plan_figures(summary: PlanSummary) -> list[str]:
    lines = [
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
    if summary.waves > 1:
        lines.append(f"  {summary.waves} waves: drawings with several revisions get them in order")
    return lines


def _plan_files(summary: PlanSummary) -> list[str]:
    """The example files of each plan, and every file not to be sent with its reason."""
    lines = []
    for plan in Plan:
        if plan in (Plan.INVALID, Plan.SKIPPED):
            continue  # listed in full below
        for rel in summary.examples.get(plan, []):
            lines.append(f"  {plan.value:9} {rel}")
    for rel, (plan, reason) in summary.reasons.items():  # every file not to be sent, and why
        lines.append(f"  {plan.value:9} {rel}  ({reason})")
    for problem in summary.manifest_problems:
        lines.append(
            f"  manifest  line {problem.line}: {problem.path or '(no path)'}: {problem.reason}"
        )
    return lines
