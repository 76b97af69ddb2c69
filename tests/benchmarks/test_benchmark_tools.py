"""The benchmark tools' own logic: archives, revisions and the budget-use measure."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pypdf
import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))

from archive import make_archive, revise
from run import budget_use, import_seconds


def test_archive_holds_valid_pdfs_and_sparse_large_files(tmp_path: Path):
    paths = make_archive(tmp_path, 3, min_mb=0.01, max_mb=0.02, large=1, large_gb=0.01)
    assert len(paths) == 4
    for path in paths:
        assert len(pypdf.PdfReader(io.BytesIO(path.read_bytes())).pages) == 1
    large = paths[-1].stat()
    assert large.st_size > 10_000_000
    assert large.st_blocks * 512 < 1_000_000  # a hole, not data


def test_revise_keeps_names_and_sizes_and_changes_bytes_and_dates(tmp_path: Path):
    paths = make_archive(tmp_path, 4, min_mb=0.01, max_mb=0.02)
    before = {p: (p.read_bytes(), p.stat().st_size, p.stat().st_mtime) for p in paths}
    revise(paths)
    for path, (content, size, mtime) in before.items():
        assert path.stat().st_size == pytest.approx(size, abs=16)  # the Length's digits
        assert path.read_bytes() != content
        assert path.stat().st_mtime == pytest.approx(mtime + 86_400)


def test_budget_use_counts_calls_until_the_last_import():
    timeline = [
        [0.0, "GET areas"],
        [5.0, "POST uploads"],
        [10.0, "POST .../drawing_uploads"],
        [30.0, "GET .../drawing_uploads"],
    ]
    assert import_seconds(timeline) == 10.0
    assert budget_use(timeline, rate=0.3) == pytest.approx(3 / (10 * 0.3))
