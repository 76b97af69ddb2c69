"""What a person reads at the end of a run on a terminal: the tables of `display.summary`, made
from a real run against the emulator and rendered as rich renders them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from bulkimport.cli import display
from bulkimport.emulator import RunningEmulator
from bulkimport.outcome import RunResult

from .conftest import import_archive, write_pdf

pytestmark = pytest.mark.anyio


def rendered(result: RunResult, report: Path | None = None) -> str:
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(display.summary(result, report))
    return console.export_text()


async def test_the_summary_of_a_clean_run(emulator: RunningEmulator, tmp_path: Path):
    for n in range(3):
        write_pdf(tmp_path / "src" / f"A-10{n} Plan.pdf", seed=n)
    text = rendered(await import_archive(emulator, tmp_path / "src"))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert lines[0] == "bulkimport: 3 files"
    assert "Plan State now Time and budget" in lines
    # The three tables side by side: plan, states, time and budget.
    assert any(line.startswith("new 3 verified 3 time ") for line in lines)
    assert "drawings created 3" in lines
    assert "drawing uploads 1" in lines
    assert "POST /rest/v1.1/projects/{id}/uploads 3" in lines
    assert "POST /rest/v1.1/projects/{id}/drawing_uploads 1" in lines
    total = sum(
        int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(("GET /", "POST /"))
    )
    assert f"total {total}" in lines
    assert "Did not arrive" not in text  # nothing to list
    assert "more: see" not in text


async def test_the_first_twenty_that_did_not_arrive_then_where_the_rest_are(
    emulator: RunningEmulator, tmp_path: Path
):
    write_pdf(tmp_path / "src" / "A-100 Plan.pdf")
    for n in range(23):
        (tmp_path / "src" / f"A-2{n:02d} Broken.pdf").write_bytes(b"not a pdf")
    result = await import_archive(emulator, tmp_path / "src")
    text = rendered(result)
    listed = [line for line in text.splitlines() if "Broken.pdf" in line]
    assert len(listed) == display.SHOWN_MISSING
    assert all("NOT IMPORTED" in line and "not a PDF" in line for line in listed)
    assert "... and 3 more: see the report (--report FILE)" in text
    report = tmp_path / "report.json"
    assert f"... and 3 more: see {report}" in rendered(result, report)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert lines[0] == "bulkimport: 24 files"
    assert any(line.startswith("new 1 failed 23 ") for line in lines)
    assert any(line.startswith("invalid 23 verified 1 ") for line in lines)


def test_a_note_prints_above_the_live_view():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with display.LiveView(console, "bulkimport demo", "preparing") as view:
        view.note("wrote 200 sample drawings")
    assert "wrote 200 sample drawings" in out.getvalue()
