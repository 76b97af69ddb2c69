"""Every benchmark scenario at smoke size, in the normal suite: a scenario that fails a file or
breaks exactly-once is caught here, not in a benchmark run whose figures then go stale."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))

from run import SCENARIOS


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_scenario_imports_every_file_exactly_once(name: str, tmp_path: Path):
    result = SCENARIOS[name](tmp_path, "smoke")
    assert result["files"] > 0
    assert result["failed_files"] == 0
    assert result["exactly_once"] is True
