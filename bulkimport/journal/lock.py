"""One run per journal: `<journal>.lock`, held with flock for as long as the run lasts.

A nightly job that overlaps the previous one (cron does not wait) is refused at once, naming
the pid that holds the lock, instead of two runs importing the same files side by side. The
kernel drops the lock when its holder exits, however it exits.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TextIO

from bulkimport.errors import JournalBusy


def hold_run_lock(path: Path) -> TextIO:
    """Hold `<journal>.lock` for the whole run, so an overlapping run (cron) is refused."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(f"{path}.lock", "a+", encoding="utf-8")  # noqa: SIM115 - held for the run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise JournalBusy(
            f"another bulkimport run (pid {holder}) is using the journal {path}; "
            "this run was not started"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
