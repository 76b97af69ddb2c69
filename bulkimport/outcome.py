"""What a run, or a dry run, ends with: the values the report and the display are made from."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bulkimport.estimate import Cost
from bulkimport.journal.rows import FileRow
from bulkimport.journal_location import JournalLocation
from bulkimport.models import FileState, Plan, Plans
from bulkimport.progress import RunStats
from bulkimport.source.manifest import ManifestProblem

# Imported but not yet read back is not arrived: nothing counts as done until Procore shows it.
ARRIVED = frozenset({FileState.VERIFIED, FileState.SKIPPED})


@dataclass(slots=True)
class RunResult:
    stats: RunStats
    plans: Plans  # every file this run saw, and what it decided
    journal: JournalLocation  # where each file's row is, for the report
    states: Counter[FileState] = field(default_factory=Counter)  # of this run's files, at the end
    missing: list[FileRow] = field(default_factory=list)  # files that are not in Procore
    requests: dict[str, int] = field(default_factory=dict)  # Procore calls per endpoint
    interrupted: bool = False  # stopped by a signal (drained or not)
    manifest_problems: list[ManifestProblem] = field(default_factory=list)  # rows with no file
    files_opened: int = 0  # source files whose bytes were read before sending (checks.py)


@dataclass(slots=True)
class PlanSummary:
    counts: dict[Plan, int] = field(default_factory=dict)
    examples: dict[Plan, list[str]] = field(default_factory=dict)
    reasons: dict[str, tuple[Plan, str]] = field(default_factory=dict)  # not sent: why
    bytes_to_upload: int = 0
    numbers: list[tuple[str, str]] = field(default_factory=list)  # (area, number), direct mode
    reviewed: int = 0  # files to upload through review
    places: Counter[tuple[str, str, bool]] = field(
        default_factory=Counter
    )  # files per batch target
    resumed: int = 0  # uploads an earlier run left, straight to a batch
    manifest_problems: list[ManifestProblem] = field(default_factory=list)
    waves: int = 1
    cost: Cost | None = None  # known when the areas' drawings could be read
    cost_seconds: float | None = None  # at the budget Procore reported
    budget_note: str = ""
