"""Put the results table of benchmarks/results/latest.json into the README, between its
markers, so the README's figures are the committed results and nothing typed by hand.

    python benchmarks/readme_table.py           # after `python benchmarks/run.py --quick`
    python benchmarks/readme_table.py --check   # exit 1 when the README differs from the results
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table import results_table

ROOT = Path(__file__).resolve().parents[1]
START = "<!-- benchmark-table: generated from benchmarks/results/latest.json -->"
END = "<!-- /benchmark-table -->"


def with_table(readme: str, results: dict[str, Any]) -> str:
    """The README with the block between the markers replaced by the results' table."""
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the README has no {START} ... {END} block")
    return f"{head}{START}\n{results_table(results)}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    results = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    wanted = with_table(readme, results)
    if args.check:
        sys.exit(0 if wanted == readme else 1)
    readme_path.write_text(wanted, encoding="utf-8")


if __name__ == "__main__":
    main()
