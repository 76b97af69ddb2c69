"""What a plan costs in Procore requests, and how long that takes at the current budget.

The same model serves `--dry-run` (before anything is sent) and the progress ETA (while a run
goes): per file to upload one Create Upload, one Create Drawing per number its area lacks (none
for files Procore reads itself, in review), one Create Drawing Upload per batch (batches do not
mix areas, sets or review), and about one verification call per batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cost:
    create_drawing: int
    create_upload: int
    create_drawing_upload: int
    verify: int

    @property
    def total(self) -> int:
        return self.create_drawing + self.create_upload + self.create_drawing_upload + self.verify

    def by_endpoint(self) -> dict[str, int]:
        return {
            "POST /rest/v1.1/drawing_areas/{id}/drawings": self.create_drawing,
            "POST /rest/v1.1/projects/{id}/uploads": self.create_upload,
            "POST /rest/v1.1/projects/{id}/drawing_uploads": self.create_drawing_upload,
            "GET /rest/v1.1/projects/{id}/drawing_uploads/{id}": self.verify,
        }


def plan_cost(
    numbers: Iterable[tuple[str, str]],
    existing: set[tuple[str, str]],
    reviewed: int,
    batch_groups: Iterable[int],
    batch_size: int,
) -> Cost:
    """The requests a plan needs. `numbers` are the (area, number) of direct-mode files to
    upload and `existing` those the areas have, all casefolded; `reviewed` files go through
    review; `batch_groups` counts the files per batch target, resumed uploads included."""
    wanted = list(numbers)
    batches = sum(math.ceil(n / batch_size) for n in batch_groups)
    return Cost(
        create_drawing=len(set(wanted) - existing),
        create_upload=len(wanted) + reviewed,
        create_drawing_upload=batches,
        verify=batches,
    )


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
