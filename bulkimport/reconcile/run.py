"""`bulkimport reconcile`: the archive (folder, manifest, journal) against Procore's drawing log,
reading only.

Each archive file is described as a run would describe it. When the journal holds it as
imported (or verified) with the same bytes, Procore is compared with the values the engine sent
instead: a received date a policy chose, an area and set by id. Procore is read with list calls
only: the areas, the sets, each touched area's drawings, and that area's revisions only when a
file is not its drawing's current revision. Drawings imported by any tool count, so a migration
made partly by hand or by another tool can still be proven complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import aiohttp
import anyio
import structlog

from bulkimport.errors import ConfigError, FileRejected, ProcoreRejected
from bulkimport.journal.rows import FileRow
from bulkimport.journal.store import Journal
from bulkimport.procore.answers import DrawingArea, DrawingSet
from bulkimport.procore.client import ProcoreClient
from bulkimport.reconcile.compare import (
    NOT_ARRIVED,
    AreaLog,
    Expected,
    Extra,
    Outcome,
    Status,
    compare,
    extras,
)
from bulkimport.settings import Credentials, Settings
from bulkimport.source.manifest import Manifest, read_manifest
from bulkimport.source.planner import IN_PROCORE, sha256_of
from bulkimport.source.scan import Found, describe, examine, found_at, walk
from bulkimport.stages.target import area_in, set_in

log = structlog.get_logger("bulkimport.reconcile.run")

CHUNK = 500  # files per journal round trip
SENT = frozenset(IN_PROCORE)  # rows holding the values the engine sent and Procore took


@dataclass(slots=True)
class Reconciliation:
    outcomes: list[Outcome] = field(default_factory=list)
    extras: list[Extra] = field(default_factory=list)
    areas: int = 0  # areas whose drawing log was read
    requests: dict[str, int] = field(default_factory=dict)  # Procore calls per endpoint

    def counts(self) -> dict[str, int]:
        found = {status.value: 0 for status in Status}
        for outcome in self.outcomes:
            found[outcome.status.value] += 1
        return found

    @property
    def complete(self) -> bool:
        """Every archive file is in Procore as meant; extra drawings alone do not matter."""
        return not any(o.status in NOT_ARRIVED for o in self.outcomes)


async def reconcile(settings: Settings, credentials: Credentials) -> Reconciliation:
    """The archive against Procore; with [[targets]], each folder against its project, its
    files named by their path under the source root."""
    projects = settings.projects()
    if len(projects) == 1:
        return await _reconcile_project(settings, credentials)
    total = Reconciliation()
    for each in projects:
        part = await _reconcile_project(each, credentials)
        prefix = _prefix(each.source.root, settings.source.root, each.procore.project_id)
        total.outcomes += [replace(o, rel=f"{prefix}/{o.rel}") for o in part.outcomes]
        total.extras += part.extras
        total.areas += part.areas
        for endpoint, calls in part.requests.items():
            total.requests[endpoint] = total.requests.get(endpoint, 0) + calls
    return total


def _prefix(folder: Path, root: Path, project: int) -> str:
    """What a project's paths are named under: its folder below the source root (or its own
    path, outside it); the project, for a folder that is the root itself."""
    if folder == root:
        return f"project {project}"
    return (folder.relative_to(root) if folder.is_relative_to(root) else folder).as_posix()


async def _reconcile_project(settings: Settings, credentials: Credentials) -> Reconciliation:
    path = settings.source.manifest
    manifest = await anyio.to_thread.run_sync(read_manifest, path) if path else None
    expected, result = await read_archive(settings, manifest)
    log.info("reconcile.started", files=len(expected) + len(result.outcomes))
    async with aiohttp.ClientSession() as session:
        client = ProcoreClient(settings.procore, credentials, session)
        try:
            await against_procore(client, settings, expected, result)
        finally:
            result.requests = dict(client.requests)
    result.outcomes = await anyio.to_thread.run_sync(
        recheck_all, result.outcomes, settings, manifest
    )
    result.outcomes.sort(key=lambda o: o.rel)
    log.info("reconcile.done", **result.counts(), extra=len(result.extras))
    return result


# The archive ---------------------------------------------------------------------------------


async def read_archive(
    settings: Settings, manifest: Manifest | None
) -> tuple[list[Expected], Reconciliation]:
    """What each file should be in Procore; the files that cannot be compared go straight into
    the result (invalid, skipped, and manifest rows that name no file)."""
    result = Reconciliation()
    expected: list[Expected] = []
    project = settings.procore.project_id
    journal = await Journal.open_if_present(settings.engine.journal, projects=(project,))
    files: Iterator[Found] = walk(settings.source, manifest.rows if manifest else ())
    seen: set[str] = set()
    try:
        while chunk := await anyio.to_thread.run_sync(lambda: list(islice(files, CHUNK))):
            rows = await journal.lookup([f.rel for f in chunk]) if journal else {}
            items = await anyio.to_thread.run_sync(expect_all, chunk, rows, settings, manifest)
            for item in items:
                if isinstance(item, Expected):
                    expected.append(item)
                else:
                    result.outcomes.append(item)
            seen.update(f.rel for f in chunk)
    finally:
        if journal is not None:
            await journal.close()
    if manifest is not None:
        for problem in manifest.problems + manifest.unseen(seen):
            result.outcomes.append(
                Outcome(
                    problem.path or f"(manifest line {problem.line})",
                    Status.INVALID,
                    f"manifest line {problem.line}: {problem.reason}",
                )
            )
    return expected, result


def expect_all(
    chunk: list[Found], rows: dict[str, FileRow], settings: Settings, manifest: Manifest | None
) -> list[Expected | Outcome]:
    return [expect(f, rows.get(f.rel), settings, manifest) for f in chunk]


def expect(
    found: Found, row: FileRow | None, settings: Settings, manifest: Manifest | None
) -> Expected | Outcome:
    """What Procore should have for one file. Blocking (it may hash the file)."""
    listed = manifest.rows.get(found.rel) if manifest else None
    if listed is None and settings.source.manifest_only and not found.folder:
        return Outcome(
            found.rel, Status.SKIPPED, "not in the manifest (source.manifest_only = true)"
        )
    sent = journalled(found, row)
    if sent is not None:
        return Expected(
            rel=found.rel,
            number=sent.number or "",
            revision=str(sent.revision),
            drawing_date=str(sent.drawing_date),
            received_date=sent.received_date,
            area=str(sent.area_id),
            drawing_set=str(sent.set_id),
            review=sent.review,
            compared_with="journal",
            drawing_id=sent.drawing_id,
            note=_journal_note(sent, same_file=True),
        )
    try:
        file = describe(found, settings, listed)
    except FileRejected as exc:
        return Outcome(found.rel, Status.INVALID, exc.reason)
    return Expected(
        rel=found.rel,
        number=file.number,
        revision=file.revision,
        drawing_date=file.drawing_date,
        received_date=file.received_date,
        area=file.area,
        drawing_set=file.drawing_set,
        review=file.review,
        compared_with="archive",
        note=_journal_note(row, same_file=False),
    )


def journalled(found: Found, row: FileRow | None) -> FileRow | None:
    """The journal's row when it holds what the engine sent for these very bytes."""
    if row is None or row.state not in SENT:
        return None
    if None in (row.revision, row.drawing_date, row.area_id, row.set_id):
        return None
    if (row.size, row.mtime_ns) == (found.size, found.mtime_ns):
        return row
    # Touched or copied with its bytes intact: the same file, as a run would decide.
    try:
        same = row.sha256 is not None and sha256_of(found.path) == row.sha256
    except OSError:
        return None  # unreadable now: described afresh, `describe` says why
    return row if same else None


def _journal_note(row: FileRow | None, same_file: bool) -> str | None:
    """What the journal says of the file, for the reason of one Procore lacks."""
    if row is None:
        return None
    if row.state in SENT and not same_file:
        return f"{row.state.value}, but the file has changed since: a run would send it again"
    return row.state.value + (f": {row.error}" if row.error else "")


def recheck_all(
    outcomes: list[Outcome], settings: Settings, manifest: Manifest | None
) -> list[Outcome]:
    return [recheck(o, settings, manifest) for o in outcomes]


def recheck(outcome: Outcome, settings: Settings, manifest: Manifest | None) -> Outcome:
    """A file Procore lacks, looked at closer (its PDF read, as a run would): one the engine
    would refuse is invalid, and a multi-page one it would send through review is unknown.
    Only files not in Procore are read, so a complete archive costs no reads."""
    expected = outcome.expected
    if outcome.status is not Status.MISSING or expected is None:
        return outcome
    if expected.compared_with != "archive":
        return outcome
    found = found_at(settings.source, outcome.rel)
    if found is None:
        return outcome
    try:
        file = examine(found, settings, manifest.rows.get(found.rel) if manifest else None)
    except FileRejected as exc:
        return replace(outcome, status=Status.INVALID, reason=exc.reason)
    if file.review and not expected.review:
        return replace(
            outcome,
            status=Status.UNKNOWN,
            reason=f"{outcome.reason}; it is a multi-page PDF a run sends through review, "
            "where Procore reads the numbers from the sheets",
        )
    return outcome


# Procore -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    area_id: int
    area: str
    set_id: int | None  # None when the project lacks the set
    drawing_set: str
    problem: str | None = None  # why files going there cannot be in Procore


async def against_procore(
    client: ProcoreClient, settings: Settings, expected: list[Expected], result: Reconciliation
) -> None:
    areas, sets = await client.drawing_areas(), await client.drawing_sets()
    project = settings.procore.project_id
    set_names = {s.id: s.name for s in sets}
    places: dict[tuple[str, str], Place | str] = {}
    by_area: dict[int, list[tuple[Expected, Place]]] = {}
    for item in expected:
        key = (item.area.casefold(), item.drawing_set.casefold())
        if key not in places:
            places[key] = _place(areas, sets, item, project)
        place = places[key]
        if isinstance(place, str):
            result.outcomes.append(_unplaced(item, place))
        else:
            by_area.setdefault(place.area_id, []).append((item, place))
    for area_id, files in by_area.items():
        area_log = await _area_log(client, area_id, files[0][1].area, files, set_names)
        result.outcomes += [_compare_one(item, place, area_log, set_names) for item, place in files]
        numbers = {item.number.casefold() for item, _ in files if item.number}
        result.extras += extras(area_log, numbers)
    result.areas = len(by_area)


def _place(
    areas: list[DrawingArea],
    sets: list[DrawingSet],
    item: Expected,
    project: int,
) -> Place | str:
    try:
        area = area_in(areas, item.area, project)
    except ConfigError as exc:
        return str(exc)
    try:
        drawing_set = set_in(sets, item.drawing_set, False, project)
    except ConfigError as exc:
        return Place(area.id, area.name, None, item.drawing_set, str(exc))
    assert drawing_set is not None  # set_in answers None only when it may create the set
    return Place(area.id, area.name, drawing_set.id, drawing_set.name)


def _unplaced(item: Expected, reason: str) -> Outcome:
    return Outcome(item.rel, Status.MISSING, reason, expected=item)


def _compare_one(
    item: Expected, place: Place, area_log: AreaLog, set_names: dict[int, str]
) -> Outcome:
    if place.set_id is None:
        outcome = _unplaced(item, str(place.problem))
        return replace(outcome, area=place.area, drawing_set=place.drawing_set)
    return compare(item, place.set_id, place.drawing_set, area_log, set_names)


async def _area_log(
    client: ProcoreClient,
    area_id: int,
    name: str,
    files: list[tuple[Expected, Place]],
    set_names: dict[int, str],
) -> AreaLog:
    """The area's drawings; its revisions too, unless every file is its drawing's current
    revision (the drawings list carries that one), which spares a list per area."""
    items = [item async for page in client.drawings(area_id) for item in page]
    area_log = AreaLog.of(area_id, name, items)
    first = [_compare_one(item, place, area_log, set_names) for item, place in files]
    needed = any(o.status is not Status.MATCHING and o.drawing_id is not None for o in first)
    revisions = 0
    if needed:
        try:
            found = [item async for page in client.drawing_revisions(area_id) for item in page]
        except ProcoreRejected as exc:
            # A service account may not be allowed to list revisions (404): what the drawings
            # list shows is still compared, and the rest is said to be unknown, not missing.
            area_log.partial = f"Procore's revisions could not be read ({exc})"
            log.warning("reconcile.revisions_unreadable", area_id=area_id, error=str(exc))
        else:
            area_log.add_revisions(found)
            revisions = len(found)
    log.info(
        "reconcile.area",
        area=name,
        area_id=area_id,
        files=len(files),
        drawings=len(items),
        revisions_read=needed,
        revisions=revisions,
    )
    return area_log
