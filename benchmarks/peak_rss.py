"""Run a command and write its peak RSS (MB) to a file: `peak_rss.py OUT -- COMMAND...`.

A child's ru_maxrss counts what it shares with its parent between fork and exec, so a command
started by the benchmark runner (which holds the archive's paths and the emulator's state) would
be charged for the runner's memory. Started from this small process instead, it is charged only
for its own. Exits with the command's exit status.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main() -> None:
    out, separator, *command = sys.argv[1:]
    assert separator == "--", "usage: peak_rss.py OUT -- COMMAND..."
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(f"{usage.ru_maxrss / 1024:.1f}\n")
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
