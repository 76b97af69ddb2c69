"""How `reconcile` answers: the summary on stdout, the JSON and CSV reports, the exit status.

Exit status: 0 when every archive file is in Procore as meant (skipped files and extra drawings
do not count against it); 1 when some file is missing, differs, cannot be told, or is invalid.
The CLI adds 2 (usage or configuration) and 3 (credentials refused).

The reports are private (0600), like `run`'s: they name every file of the archive.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import anyio

from bulkimport.reconcile.compare import Extra, Outcome, Status
from bulkimport.reconcile.run import Reconciliation
from bulkimport.report import EXIT_OK, EXIT_SOME_FAILED, csv_path

SHOWN = 20  # non-matching files and extra drawings named on stdout; the report has them all

COLUMNS = (
    "path",
    "status",
    "number",
    "revision",
    "drawing_area",
    "drawing_set",
    "drawing_date",
    "received_date",
    "compared_with",
    "drawing_id",
    "procore",
    "reason",
)


def exit_code(result: Reconciliation) -> int:
    return EXIT_OK if result.complete else EXIT_SOME_FAILED


def totals(result: Reconciliation) -> dict[str, Any]:
    return {
        "files": len(result.outcomes),
        **result.counts(),
        "extra": len(result.extras),
        "areas": result.areas,
        "procore_requests": result.requests,
    }


def file_entry(outcome: Outcome) -> dict[str, Any]:
    expected = outcome.expected
    return {
        "path": outcome.rel,
        "status": outcome.status.value,
        "number": (expected.number or None) if expected else None,
        "revision": expected.revision if expected else None,
        "drawing_area": outcome.area or (expected.area if expected else None),
        "drawing_set": outcome.drawing_set or (expected.drawing_set if expected else None),
        "drawing_date": expected.drawing_date if expected else None,
        "received_date": expected.received_date if expected else None,
        "compared_with": expected.compared_with if expected else None,
        "drawing_id": outcome.drawing_id,
        "procore": outcome.procore,
        "reason": outcome.reason,
    }


def extra_entry(extra: Extra) -> dict[str, Any]:
    drawing, current = extra.drawing, extra.drawing.current
    return {
        "drawing_area": extra.area,
        "drawing_area_id": extra.area_id,
        "drawing_id": drawing.id,
        "number": drawing.number,
        "title": drawing.title,
        "current_revision": current.label if current else None,
        "drawing_set_id": current.set_id if current else None,
        "drawing_date": current.drawing_date if current else None,
        "received_date": current.received_date if current else None,
    }


def _extra_row(extra: Extra) -> dict[str, Any]:
    entry = extra_entry(extra)
    return dict.fromkeys(COLUMNS) | {
        "status": "extra",
        "number": entry["number"],
        "revision": entry["current_revision"],
        "drawing_area": entry["drawing_area"],
        "drawing_set": entry["drawing_set_id"],
        "drawing_date": entry["drawing_date"],
        "received_date": entry["received_date"],
        "drawing_id": entry["drawing_id"],
        "reason": "in Procore, not in the archive",
    }


def _private(path: Path) -> int:
    return os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)


def _csv_line(values: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


async def write_report(path: Path, result: Reconciliation) -> Path:
    """`{"totals": {...}, "files": [...], "extra": [...]}` and, beside it, the files and the
    extra drawings as one CSV for a spreadsheet. Returns the CSV's path."""
    await anyio.Path(path.parent).mkdir(parents=True, exist_ok=True)
    table = csv_path(path)
    files = ",\n  ".join(json.dumps(file_entry(o)) for o in result.outcomes)
    extra = ",\n  ".join(json.dumps(extra_entry(x)) for x in result.extras)
    async with (
        await anyio.open_file(_private(path), "w", encoding="utf-8") as report,
        # utf-8-sig: spreadsheet programs read accents right only with the byte-order mark.
        await anyio.open_file(_private(table), "w", encoding="utf-8-sig", newline="") as sheet,
    ):
        await report.write(
            '{"totals": '
            + json.dumps(totals(result), indent=2)
            + f',\n"files": [\n  {files}\n],\n"extra": [\n  {extra}\n]}}\n'
        )
        await sheet.write(_csv_line(COLUMNS))
        for row in [file_entry(o) for o in result.outcomes] + [
            _extra_row(x) for x in result.extras
        ]:
            await sheet.write(_csv_line(["" if row[c] is None else row[c] for c in COLUMNS]))
    return table


def cost_text(requests: dict[str, int]) -> str:
    return f"{sum(requests.values())} Procore requests: " + ", ".join(
        f"{n} {endpoint}" for endpoint, n in sorted(requests.items())
    )


def summary_text(result: Reconciliation, report: Path | None = None) -> str:
    counts = result.counts()
    lines = [
        f"bulkimport reconcile: {len(result.outcomes)} files in {result.areas} areas: "
        + ", ".join(f"{counts[s.value]} {s.value}" for s in Status)
        + f"; {len(result.extras)} extra (in Procore, not in the archive)",
    ]
    off = [o for o in result.outcomes if o.status is not Status.MATCHING]
    for outcome in off[:SHOWN]:
        lines.append(f"  {outcome.status.value.upper():8} {outcome.rel}: {outcome.reason}")
        if outcome.procore:
            lines.append(f"           Procore has {outcome.procore}")
    for extra in result.extras[:SHOWN]:
        current = extra.drawing.current
        lines.append(
            f"  EXTRA    {extra.drawing.number} in {extra.area!r}, current revision "
            f"{current.label if current else 'none'}: not in the archive"
        )
    if len(off) > SHOWN or len(result.extras) > SHOWN:
        lines.append(f"  ... (the first {SHOWN} of each shown)")
    if off or result.extras:
        lines.append(
            f"  see the report: {report} and {csv_path(report)}"
            if report is not None
            else "  see the report: --report FILE.json lists every file"
        )
    lines.append("  " + cost_text(result.requests))
    return "\n".join(lines)
