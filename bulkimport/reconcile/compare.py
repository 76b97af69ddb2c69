"""Reconcile's pure half: one archive file against one area's drawing log, and the drawings
no archive file names.

A revision matches when the drawing (by number, or `drawing_number` for a multi-sheet drawing,
or the id the engine sent it to), the revision label (ignoring case), the drawing set and the
drawing date's day agree, and the received date's day too when the archive gives one: Procore
may answer dates or date-times, and may fill a received date nobody sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bulkimport.procore.answers import Drawing, Revision
from bulkimport.stages.target import DrawingNumbers


class Status(StrEnum):
    MATCHING = "matching"
    MISSING = "missing"  # no such drawing, or the drawing lacks that revision
    DIFFERS = "differs"  # the revision is there with another set or dates
    UNKNOWN = "unknown"  # cannot be told: review imports, revisions Procore would not list
    INVALID = "invalid"  # the scanner rejects the file, or a manifest row names no file
    SKIPPED = "skipped"  # not meant to be imported (source.manifest_only)


NOT_ARRIVED = frozenset({Status.MISSING, Status.DIFFERS, Status.UNKNOWN, Status.INVALID})


@dataclass(frozen=True, slots=True)
class Expected:
    """What one archive file should be in Procore's drawing log."""

    rel: str
    number: str  # "" when Procore was to read it from the sheet (review)
    revision: str
    drawing_date: str  # YYYY-MM-DD
    received_date: str | None
    area: str  # name or id
    drawing_set: str  # name or id
    review: bool
    compared_with: str  # "journal" (the values the engine sent) or "archive" (the file now)
    drawing_id: int | None = None  # the drawing the engine sent it to
    note: str | None = None  # what the journal says of a file that may not have arrived


@dataclass(frozen=True, slots=True)
class Outcome:
    rel: str
    status: Status
    reason: str | None = None
    expected: Expected | None = None  # None for a file the scanner rejects
    area: str | None = None  # as Procore names them, once resolved
    drawing_set: str | None = None
    drawing_id: int | None = None
    procore: str | None = None  # what Procore has, when it is not what the archive says


@dataclass(frozen=True, slots=True)
class Extra:
    """A drawing in an area the archive touches that no archive file names."""

    area: str
    area_id: int
    drawing: Drawing


@dataclass(slots=True)
class AreaLog:
    """One area's drawings and, once read, every revision (obsolete and deleted included)."""

    area_id: int
    name: str
    drawings: dict[int, Drawing]
    by_number: dict[str, int]
    revisions: dict[int, list[Revision]] | None = None  # None: only current revisions known
    partial: str | None = None  # why the full revision list is not known
    named: set[int] = field(default_factory=set)  # drawings some archive file names

    @classmethod
    def of(cls, area_id: int, name: str, items: list[Drawing]) -> AreaLog:
        drawings = {d.id: d for d in items}
        numbers = DrawingNumbers()
        for drawing in items:
            numbers.add(drawing)
        by_number = numbers.ids()
        return cls(area_id, name, drawings, by_number)

    def add_revisions(self, items: list[Revision]) -> None:
        found: dict[int, list[Revision]] = {}
        for revision in items:
            if revision.drawing_id in self.drawings:  # another area's, if unfiltered
                found.setdefault(revision.drawing_id, []).append(revision)
        self.revisions, self.partial = found, None

    def revisions_of(self, drawing: Drawing) -> list[Revision]:
        if self.revisions is not None:
            return self.revisions.get(drawing.id, [])
        return [drawing.current] if drawing.current else []


def find_drawing(expected: Expected, log: AreaLog) -> Drawing | None:
    drawing_id = log.by_number.get(expected.number.casefold()) if expected.number else None
    if drawing_id is None and expected.drawing_id in log.drawings:
        drawing_id = expected.drawing_id  # renamed in Procore since the engine sent it there
    return log.drawings.get(drawing_id) if drawing_id is not None else None


def _agrees(revision: Revision, expected: Expected, set_id: int) -> bool:
    return (
        revision.set_id == set_id
        and revision.drawing_date == expected.drawing_date
        and (expected.received_date is None or revision.received_date == expected.received_date)
    )


def describe_revision(revision: Revision, set_names: dict[int, str]) -> str:
    name = set_names.get(revision.set_id or 0)
    where = f"set {name!r} ({revision.set_id})" if name else f"set {revision.set_id}"
    flags = "".join(
        f", {flag}"
        for flag, on in (("obsolete", revision.obsolete), ("deleted", revision.deleted))
        if on
    )
    return (
        f"revision {revision.label} in {where}, drawing date {revision.drawing_date}, "
        f"received date {revision.received_date}{flags}"
    )


def compare(
    expected: Expected, set_id: int, set_name: str, log: AreaLog, set_names: dict[int, str]
) -> Outcome:
    """Where the file stands in the area's drawing log."""
    placed: dict[str, Any] = {"expected": expected, "area": log.name, "drawing_set": set_name}
    if expected.review and not expected.number:
        return Outcome(
            expected.rel,
            Status.UNKNOWN,
            "imported through review and its name has no drawing number: Procore reads the "
            "number from the sheet, so it cannot be matched",
            **placed,
        )
    drawing = find_drawing(expected, log)
    if drawing is None:
        return _missing(expected, f"no drawing {expected.number} in area {log.name!r}", placed)
    log.named.add(drawing.id)
    placed["drawing_id"] = drawing.id
    revisions = log.revisions_of(drawing)
    same_label = [r for r in revisions if r.label.casefold() == expected.revision.casefold()]
    agreeing = [r for r in same_label if _agrees(r, expected, set_id)]
    live = [r for r in agreeing if not r.deleted]
    if live:
        obsolete = all(r.obsolete for r in live)
        note = "obsolete in Procore" if obsolete else None
        return Outcome(expected.rel, Status.MATCHING, note, **placed)
    if agreeing:
        return _missing(
            expected,
            f"revision {expected.revision} of {drawing.number} is deleted in Procore",
            placed,
        )
    if same_label:
        shown = min(same_label, key=lambda r: r.deleted)  # a live one first
        return Outcome(
            expected.rel,
            Status.DIFFERS,
            f"Procore has revision {expected.revision} of {drawing.number} with another set "
            "or dates",
            procore=describe_revision(shown, set_names),
            **placed,
        )
    if log.partial is not None:
        return Outcome(
            expected.rel,
            Status.UNKNOWN,
            f"{drawing.number}'s current revision is not {expected.revision}, and {log.partial}",
            **placed,
        )
    labels = ", ".join(sorted({r.label for r in revisions})) or "none"
    return _missing(
        expected,
        f"drawing {drawing.number} has no revision {expected.revision} (it has: {labels})",
        placed,
    )


def _missing(expected: Expected, reason: str, placed: dict[str, Any]) -> Outcome:
    if expected.review:
        # A review import waits in Items to Review until someone accepts it, and Procore may
        # read another number from the sheet than the name gives.
        reason += "; it went through review: it may wait in Items to Review, or Procore read"
        reason += " another number from the sheet"
        return Outcome(expected.rel, Status.UNKNOWN, reason, **placed)
    if expected.note:
        reason += f"; the journal says: {expected.note}"
    return Outcome(expected.rel, Status.MISSING, reason, **placed)


def extras(log: AreaLog, numbers: set[str]) -> list[Extra]:
    """The area's drawings no archive file names, by id or by number (casefolded)."""
    return [
        Extra(log.name, log.area_id, d)
        for d in log.drawings.values()
        if d.id not in log.named
        and d.number.casefold() not in numbers
        and not (d.drawing_number and d.drawing_number.casefold() in numbers)
    ]
