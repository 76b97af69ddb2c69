"""The results table: what `benchmarks/run.py` writes to results/latest.md, and what
`benchmarks/readme_table.py` puts in the README, from the same results."""

from __future__ import annotations

from typing import Any

# (the column's title, the result's key), in the table's order.
COLUMNS = [
    ("files", "files"),
    ("engine files/s", "engine_files_per_s"),
    ("limit files/s", "limit_files_per_s"),
    ("naive files/s", "naive_files_per_s"),
    ("engine MB/s", "engine_mb_per_s"),
    ("requests/drawing", "requests_per_drawing"),
    ("budget use", "budget_use"),
    ("re-requested", "rerequested_tickets"),
    ("failed", "failed_files"),
    ("peak RSS MB", "peak_rss_mb"),
    ("wall s", "wall_s"),
]


def results_table(results: dict[str, Any]) -> str:
    """One row per scenario; "-" where a scenario has no such figure."""
    lines = [
        "| scenario | " + " | ".join(title for title, _ in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for name, values in results.items():
        cells = ["-" if values.get(key) is None else str(values[key]) for _, key in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
