"""A run opens a source file only when its bytes matter: a re-run over an unchanged archive
opens none, and the PDF checks run in the upload stage, still before any request for a file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bulkimport.emulator import RunningEmulator
from bulkimport.models import Plan
from bulkimport.pipeline import run_import
from bulkimport.report import totals, write_report
from bulkimport.samples import write_archive

from .conftest import CREDENTIALS, config_dict, make_settings, run_env, write_config, write_pdf
from .test_unreadable import modes, run_cli

pytestmark = pytest.mark.anyio


async def test_a_rerun_over_an_unchanged_archive_opens_no_file(
    emulator: RunningEmulator, tmp_path: Path
):
    root = tmp_path / "src"
    paths = write_archive(root, 6, min_size=1_000, max_size=3_000)
    settings = make_settings(emulator, root)

    first = await run_import(settings, CREDENTIALS, progress=False)
    assert first.files_opened == 6  # each checked once before its upload

    # Touched (same bytes, new mtime): read once for its sha256, nothing sent.
    touched = paths[0]
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    # Changed: read for its sha256, then checked; still one file opened.
    changed = paths[1]
    write_pdf(changed, 2048, seed=99)
    second = await run_import(settings, CREDENTIALS, progress=False)
    assert second.plans[touched.relative_to(root).as_posix()] == Plan.UNCHANGED
    assert second.plans[changed.relative_to(root).as_posix()] == Plan.CHANGED
    assert second.files_opened == 2

    # Nothing changed since: the re-run decides from the journal and a stat per file, so it
    # succeeds with every file unreadable (the CLI runs without the capabilities that let root
    # read them), and says it opened none.
    config = tmp_path / "bulkimport.toml"
    write_config(config, config_dict(emulator, root))
    report = tmp_path / "report.json"
    uploads = len(emulator.world.uploads)
    with modes(*((path, 0o000) for path in paths)):
        code, out, err = await run_cli(
            ["run", "--config", str(config), "--report", str(report), "--no-progress"],
            run_env(),
        )
    assert code == 0, out + err
    summary = json.loads(report.read_text())["totals"]
    assert summary["files_opened"] == 0
    assert summary["plan"]["unchanged"] == 6
    assert len(emulator.world.uploads) == uploads  # nothing sent


async def test_a_file_failing_its_check_in_the_upload_stage_gets_no_request(
    emulator: RunningEmulator, tmp_path: Path
):
    root = tmp_path / "src"
    write_archive(root, 3, min_size=1_000, max_size=3_000)
    (root / "A-900 Truncated.pdf").write_bytes(
        (root / next(p.name for p in root.iterdir())).read_bytes()[:600]
    )
    result = await run_import(make_settings(emulator, root), CREDENTIALS, progress=False)

    assert result.plans["A-900 Truncated.pdf"] == Plan.INVALID
    assert result.stats.planned[Plan.INVALID] == 1
    assert result.stats.planned[Plan.NEW] == 3
    assert result.files_opened == 4
    report = await write_report(tmp_path / "report.json", result)
    entries = {e["path"]: e for e in json.loads(report.with_suffix(".json").read_text())["files"]}
    bad = entries["A-900 Truncated.pdf"]
    assert (bad["action"], bad["state"]) == ("invalid", "failed")
    assert "the PDF is incomplete (no %%EOF at its end)" in bad["note"]
    assert totals(result)["files_opened"] == 4
    # No Create Drawing and no Create Upload for it.
    assert "A-900" not in {d.number for d in emulator.world.drawings.values()}
    assert "A-900 Truncated.pdf" not in {
        u.response_filename for u in emulator.world.uploads.values()
    }
