"""The running run's figures, published beside its journal for `bulkimport status`.

The journal holds where each file is; what only the running process knows (its pid, when it
started, the rate, the budget, the ETA) goes to `<journal>.status.json`, replaced whole about
twice a second, so a reader never sees half a file and never touches the journal's lock. When
the run ends the CLI writes it once more with the outcome, and it stays as the last run's.
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


def status_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".status.json")


def write(journal: Path, record: RunRecord) -> None:
    """Replace the record atomically (write beside, then rename); private like the journal."""
    path = status_path(journal)
    partial = path.with_name(path.name + ".part")
    descriptor = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(asdict(record), out)
    os.replace(partial, path)


def read(journal: Path) -> RunRecord | None:
    """The last record, or None when no run has written one (or it cannot be read)."""
    try:
        raw = json.loads(status_path(journal).read_text(encoding="utf-8"))
        return RunRecord(**raw)
    except (OSError, ValueError, TypeError):
        return None


def is_running(record: RunRecord, journal: Path) -> bool:
    """The record's run is still going: not finished, its process alive, and the journal's
    lock file names it (a pid the system reused since would not be there)."""
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
