"""What the CLI reports when a command stops on errors: every error of an exception group,
each once, with its file or endpoint; the most serious decides the exit status."""

from __future__ import annotations

from bulkimport.cli.failures import RECONCILE_RULES, RUN_RULES, failure, leaves
from bulkimport.errors import (
    AuthenticationError,
    ClaimLost,
    ConfigError,
    FileChanged,
    JournalBusy,
    ProcoreRejected,
    RetriesExhausted,
    StorageError,
)
from bulkimport.report import EXIT_SOME_FAILED, EXIT_STOPPED, EXIT_USAGE

GAVE_UP = RetriesExhausted("GET /rest/v1.1/projects/{id}/drawing_areas", None, "gave up")
REFUSED = StorageError("plans/A-1.pdf", 400, "EntityTooLarge", "too large")


def test_a_lone_error_reads_as_it_always_did():
    """One error, grouped or not, gives the one line the CLI printed before groups were
    reported whole."""
    alone = ExceptionGroup("run", [ExceptionGroup("wave", [GAVE_UP])])
    assert failure(GAVE_UP, RUN_RULES) == (EXIT_SOME_FAILED, f"the run stopped: {GAVE_UP}")
    assert failure(alone, RUN_RULES) == failure(GAVE_UP, RUN_RULES)


def test_every_error_of_nested_groups_is_reported_once():
    """Errors from nested task groups are all named, each with its endpoint or file; the
    same error met by several workers is reported once."""
    changed = FileChanged("plans/B-2.pdf")
    group = ExceptionGroup(
        "run",
        [
            ExceptionGroup("uploads", [REFUSED, changed, StorageError(*_args(REFUSED))]),
            ExceptionGroup("senders", [GAVE_UP]),
        ],
    )
    assert leaves(group) == [REFUSED, changed, GAVE_UP]
    code, message = failure(group, RUN_RULES) or (None, "")
    assert code == EXIT_SOME_FAILED
    assert message.splitlines() == [
        "the run stopped: 3 errors:",
        f"  - {REFUSED}",
        f"  - {changed}",
        f"  - {GAVE_UP}",
    ]
    assert "plans/A-1.pdf" in message
    assert "drawing_areas" in message


def test_the_most_serious_error_sets_the_exit_status_and_comes_first():
    """Refused credentials stop the run (3) whatever else failed beside them, and a
    configuration error is a usage error (2) beside a failed file."""
    refused = AuthenticationError("Procore refused the client credentials")
    code, message = failure(ExceptionGroup("run", [REFUSED, refused]), RUN_RULES) or (0, "")
    assert code == EXIT_STOPPED
    assert message.splitlines()[:2] == ["stopped: 2 errors:", f"  - {refused}"]
    config = ConfigError("drawing area 'Tower C' is not in project 1")
    assert (failure(ExceptionGroup("run", [REFUSED, config]), RUN_RULES) or (0,))[0] == EXIT_USAGE
    busy = JournalBusy("another bulkimport run (pid 7) holds the journal")
    assert failure(ExceptionGroup("run", [busy]), RUN_RULES) == (EXIT_STOPPED, f"stopped: {busy}")


def test_reconcile_has_its_own_rules():
    """For reconcile a refused list call means a project or area out of reach: usage (2)."""
    rejected = ProcoreRejected("GET /rest/v1.0/projects/{id}/drawing_sets", 403, "Forbidden")
    assert failure(rejected, RECONCILE_RULES) == (EXIT_USAGE, str(rejected))
    assert failure(GAVE_UP, RECONCILE_RULES) == (EXIT_SOME_FAILED, f"reconcile stopped: {GAVE_UP}")


def test_a_bug_alone_is_raised_and_beside_ours_is_named_with_its_traceback(capsys):
    """An error that is not ours is a bug. Alone, the CLI raises it as it is; beside ours, ours
    still sets the exit status and reads as always, and the bug is named, its traceback on
    stderr, so neither hides the other."""
    assert failure(KeyError("id"), RUN_RULES) is None
    assert failure(ExceptionGroup("run", [KeyError("id"), ValueError("x")]), RUN_RULES) is None
    try:
        raise KeyError("id")
    except KeyError as exc:
        bug = exc
    code, message = failure(ExceptionGroup("run", [REFUSED, bug]), RUN_RULES) or (0, "")
    assert code == EXIT_SOME_FAILED
    assert message.splitlines() == [
        "the run stopped: 2 errors:",
        f"  - {REFUSED}",
        "  - KeyError: 'id' (a bug: its traceback is above)",
    ]
    assert "Traceback" in capsys.readouterr().err


def _args(error: StorageError) -> tuple[str, int | None, str, str]:
    return error.path, error.status, error.code, error.message


def test_a_worker_whose_files_were_taken_over_stops_with_exit_3():
    """Not a configuration problem (exit 2): the other worker imports the files, and this one
    may be started again at once."""
    lost = ClaimLost("worker h/1/a no longer holds 3 of the files of a new batch")
    grouped = ExceptionGroup("run", [ExceptionGroup("wave", [lost])])
    assert failure(grouped, RUN_RULES) == (EXIT_STOPPED, f"stopped: {lost}")
