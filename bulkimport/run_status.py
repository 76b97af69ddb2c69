"""The running run's figures, published for `bulkimport status`: the record, and the file a
SQLite journal keeps it in.

The journal holds where each file is; what only the running process knows (its pid, when it
started, the rate, the budget, the ETA) is a `RunRecord`, written about twice a second. Beside
a SQLite journal it goes to `<journal>.status.json`, replaced whole, so a reader never sees half
a file and never touches the journal's lock; when the run ends the CLI writes it once more with
the outcome, and it stays as the last run's. A PostgreSQL journal keeps the same record in its
`runs` table instead (journal/runs.py), one row per run or worker, readable from any machine.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class RunRecord:
    pid: int
    started_at: float  # unix seconds
    updated_at: float
    figures: dict[str, Any]  # progress.Figures.as_dict()
    finished_at: float | None = None
    exit_status: int | None = None
    host: str | None = None  # named where runs of several machines are shown (PostgreSQL)


def status_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".status.json")


def write(journal: Path, record: RunRecord) -> None:
    """Replace the record atomically (write beside, then rename); private like the journal."""
    path = status_path(journal)
    partial = path.with_name(path.name + ".part")
    descriptor = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    # Beside the journal the host is this machine: left out, as before it was a field.
    raw = {k: v for k, v in asdict(record).items() if k != "host" or v is not None}
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(raw, out)
    os.replace(partial, path)


def read(journal: Path) -> RunRecord | None:
    """The last record, or None when no run has written one (or it cannot be read)."""
    try:
        raw = json.loads(status_path(journal).read_text(encoding="utf-8"))
        return RunRecord(**raw)
    except (OSError, ValueError, TypeError):
        return None


def is_running(record: RunRecord, journal: Path) -> bool:
    """The record's run (beside a SQLite journal, on this machine) is still going: not
    finished, its process alive, and the journal's lock file names it (a pid the system reused
    since would not be there)."""
    if record.finished_at is not None:
        return False
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, under another account
    try:
        holder = Path(f"{journal}.lock").read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return holder == str(record.pid)
