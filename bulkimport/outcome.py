"""What a run, or a dry run, ends with: the values the report and the display are made from."""

from __future__ import annotations

from collections import Counter
from dataclasses import astuple, dataclass, field
from pathlib import Path

from bulkimport.estimate import Cost
from bulkimport.journal.rows import FileRow
from bulkimport.journal_location import JournalLocation
from bulkimport.models import FileState, Plan, Plans
from bulkimport.progress import RunStats
from bulkimport.source.manifest import ManifestProblem

# Imported but not yet read back is not arrived: nothing counts as done until Procore shows it.
ARRIVED = frozenset({FileState.VERIFIED, FileState.SKIPPED})


@dataclass(slots=True)
class ProjectOutcome:
    """One project's part of a run: what a run over that project alone would end with."""

    project_id: int
    folder: Path  # its files' paths are relative to this folder
    plans: Plans  # every file of it the run saw, and what it decided
    states: Counter[FileState] = field(default_factory=Counter)  # of its files, at the end
    missing: list[FileRow] = field(default_factory=list)  # its files that are not in Procore
    drawings_created: int = 0
    manifest_problems: int = 0


@dataclass(slots=True)
class RunResult:
    stats: RunStats
    projects: list[ProjectOutcome]  # one for each project, in the config's order
    journal: JournalLocation  # where each file's row is, for the report
    states: Counter[FileState] = field(default_factory=Counter)  # of this run's files, at the end
    missing: list[FileRow] = field(default_factory=list)  # files that are not in Procore
    requests: dict[str, int] = field(default_factory=dict)  # Procore calls per endpoint
    interrupted: bool = False  # stopped by a signal (drained or not)
    manifest_problems: list[ManifestProblem] = field(default_factory=list)  # rows with no file
    files_opened: int = 0  # source files whose bytes were read before sending (checks.py)

    @property
    def plans(self) -> Plans:
        """A one-project run's plans, by path (a run over several has them per project)."""
        if len(self.projects) != 1:
            raise ValueError("a run over several projects keeps its plans per project")
        return self.projects[0].plans

    @property
    def files(self) -> int:
        return sum(len(p.plans) for p in self.projects)


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
    project_id: int | None = None
    folder: Path | None = None
    parts: list[PlanSummary] = field(default_factory=list)  # a run over several: each project

    @classmethod
    def of_parts(cls, parts: list[PlanSummary]) -> PlanSummary:
        """The plan of a run over several projects: their sums, each project's plan in
        `parts`. The projects share one budget, so their times add up (an upper bound when
        Procore counts each endpoint apart: the endpoints then go side by side)."""
        total = cls(parts=parts, waves=max(p.waves for p in parts))
        for part in parts:
            for plan, n in part.counts.items():
                total.counts[plan] = total.counts.get(plan, 0) + n
            total.bytes_to_upload += part.bytes_to_upload
            total.reviewed += part.reviewed
            total.resumed += part.resumed
        costs = [p.cost for p in parts if p.cost is not None]
        if len(costs) == len(parts):
            total.cost = Cost(*map(sum, zip(*(astuple(c) for c in costs), strict=True)))
            seconds = [p.cost_seconds for p in parts]
            total.cost_seconds = sum(s for s in seconds if s is not None)
            total.budget_note = parts[-1].budget_note
        return total
