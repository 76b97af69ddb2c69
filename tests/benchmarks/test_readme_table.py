"""The README's benchmark table is the committed results, not figures typed by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from readme_table import END, START, with_table


def test_the_readme_table_is_the_committed_results():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    results = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    assert with_table(readme, results) == readme, (
        "README's benchmark table differs from benchmarks/results/latest.json: "
        "run `python benchmarks/readme_table.py`"
    )


def test_the_table_follows_the_results_it_is_given():
    readme = f"before\n{START}\n| old |\n{END}\nafter\n"
    results = {"scale": {"files": 10, "engine_files_per_s": 5.5, "failed_files": 0}}
    table = with_table(readme, results)
    assert table.startswith(f"before\n{START}\n| scenario | files | engine files/s |")
    assert "| scale | 10 | 5.5 | - |" in table
    assert table.endswith(f"{END}\nafter\n")
    with pytest.raises(ValueError, match="no"):
        with_table("no markers here", results)
