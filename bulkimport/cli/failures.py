"""What the CLI says when a command stops on errors: all of them, not the first.

A run's task groups raise exception groups, nested as the groups are: several workers may fail
at once (a file's storage refusal beside a Procore call that gave up). Every error inside is
reported, each once, each with the file or endpoint it names; the most serious decides the exit
status. An error that is not ours (a bug) is not summarised: its traceback is what helps, and
alone it is raised as it is.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

from bulkimport.errors import (
    AuthenticationError,
    BulkImportError,
    ClaimLost,
    ConfigError,
    JournalBusy,
    JournalError,
    JournalUnavailable,
    ProcoreRejected,
)
from bulkimport.report import EXIT_SOME_FAILED, EXIT_STOPPED, EXIT_USAGE

# (the errors, the exit status, how the message starts), the most serious first.
Rule = tuple[tuple[type[BulkImportError], ...], int, str]

RUN_RULES: Sequence[Rule] = (
    # Nothing wrong with the run itself: it may start once the other run or the server is done
    # (or, for a worker whose files another took over, at once).
    ((AuthenticationError, JournalBusy, JournalUnavailable, ClaimLost), EXIT_STOPPED, "stopped: "),
    ((ConfigError, JournalError), EXIT_USAGE, ""),
    ((BulkImportError,), EXIT_SOME_FAILED, "the run stopped: "),
)
RECONCILE_RULES: Sequence[Rule] = (
    ((AuthenticationError, JournalUnavailable), EXIT_STOPPED, "stopped: "),
    # A project, area list or journal out of reach.
    ((ConfigError, JournalError, ProcoreRejected), EXIT_USAGE, ""),
    ((BulkImportError,), EXIT_SOME_FAILED, "reconcile stopped: "),
)


def leaves(exc: BaseException) -> list[BaseException]:
    """Every error inside (nested) exception groups, in order, each once: the same type with
    the same text is one error met by several workers."""
    found: list[BaseException] = []
    seen: set[tuple[type[BaseException], str]] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if isinstance(current, BaseExceptionGroup):
            pending[:0] = current.exceptions
            continue
        key = (type(current), str(current))
        if key not in seen:
            seen.add(key)
            found.append(current)
    return found


def _rank(error: BaseException, rules: Sequence[Rule]) -> int | None:
    for index, (kinds, _, _) in enumerate(rules):
        if isinstance(error, kinds):
            return index
    return None


def failure(exc: BaseException, rules: Sequence[Rule]) -> tuple[int, str] | None:
    """The exit status and the message for `exc` and every error grouped in it; None when none
    of them is ours, to be raised as it is. An error that is not ours beside ours (a bug met
    while the run was failing anyway) has its traceback printed and is named in the message,
    so neither hides the other."""
    errors = leaves(exc)
    ranked = [(_rank(e, rules), e) for e in errors]
    ours = sorted(((rank, e) for rank, e in ranked if rank is not None), key=lambda pair: pair[0])
    bugs = [e for rank, e in ranked if rank is None]
    if not ours:
        return None
    for bug in bugs:
        traceback.print_exception(bug, file=sys.stderr)
    _, code, start = rules[ours[0][0]]
    if len(errors) == 1:
        return code, f"{start}{errors[0]}"
    lines = [f"{start}{len(errors)} errors:", *(f"  - {e}" for _, e in ours)]
    lines += [f"  - {type(b).__name__}: {b} (a bug: its traceback is above)" for b in bugs]
    return code, "\n".join(lines)
