"""What the CLI says when a command stops on errors: all of them, not the first.

A run's task groups raise exception groups, nested as the groups are: several workers may fail
at once (a file's storage refusal beside a Procore call that gave up). Every error inside is
reported, each once, each with the file or endpoint it names; the most serious decides the exit
status. An error that is not ours (a bug) is not summarised: its traceback is what helps.
"""

from __future__ import annotations

from collections.abc import Sequence

from bulkimport.errors import (
    AuthenticationError,
    BulkImportError,
    ConfigError,
    JournalBusy,
    JournalError,
    ProcoreRejected,
)
from bulkimport.report import EXIT_SOME_FAILED, EXIT_STOPPED, EXIT_USAGE

# (the errors, the exit status, how the message starts), the most serious first.
Rule = tuple[tuple[type[BulkImportError], ...], int, str]

RUN_RULES: Sequence[Rule] = (
    ((AuthenticationError, JournalBusy), EXIT_STOPPED, "stopped: "),
    ((ConfigError, JournalError), EXIT_USAGE, ""),
    ((BulkImportError,), EXIT_SOME_FAILED, "the run stopped: "),
)
RECONCILE_RULES: Sequence[Rule] = (
    ((AuthenticationError,), EXIT_STOPPED, "stopped: "),
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
    """The exit status and the message for `exc` and every error grouped in it; None when one
    of them is not ours, to be raised as it is."""
    errors = leaves(exc)
    ranks = [_rank(e, rules) for e in errors]
    known = [r for r in ranks if r is not None]
    if len(known) < len(errors):
        return None
    worst = min(known)
    _, code, start = rules[worst]
    if len(errors) == 1:
        return code, f"{start}{errors[0]}"
    ordered = [e for _, e in sorted(zip(known, errors, strict=True), key=lambda pair: pair[0])]
    lines = [f"{start}{len(errors)} errors:", *(f"  - {e}" for e in ordered)]
    return code, "\n".join(lines)
