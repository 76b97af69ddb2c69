"""`bulkimport check`: would a run start? A handful of read-only requests, one result each.

The journal (reachable, readable by this version), the credentials, the company and each
project, the configured drawing area and set (and those the manifest or the folder layout
names), one page of drawings, the rate-limit budget, and the local clock against Procore's
`Date`. Nothing is created and nothing is uploaded: a set the
run would create is reported as such, never created here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum

import aiohttp
import anyio

from bulkimport.errors import (
    AuthenticationError,
    ConfigError,
    FileRejected,
    JournalError,
    JournalUnavailable,
    ProcoreError,
)
from bulkimport.journal.store import Journal
from bulkimport.procore.answers import DrawingArea, DrawingSet, TokenInfo
from bulkimport.procore.client import ProcoreClient
from bulkimport.procore.request import TOKEN_ENDPOINT
from bulkimport.settings import Credentials, Settings
from bulkimport.source.manifest import read_manifest
from bulkimport.source.scan import describe, walk
from bulkimport.stages.target import area_in, set_in

CLOCK_TOLERANCE = 60.0  # seconds; tickets expire after an hour, so a minute is already a lot


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # a run would start, but something deserves a look
    FAIL = "FAIL"  # a run would not start


@dataclass(frozen=True, slots=True)
class Check:
    status: Status
    message: str
    # The credentials were refused, or the journal is out of reach: a run would stop (exit 3),
    # which is not a configuration problem.
    refused: bool = False

    @property
    def line(self) -> str:
        return f"{self.status.value:<4} {self.message}"


async def preflight(settings: Settings, credentials: Credentials) -> list[Check]:
    """Every check, in the order a run meets them; later checks are skipped when an earlier
    one leaves nothing to check (no token, no project)."""
    checks: list[Check] = []
    async with aiohttp.ClientSession() as session:
        client = ProcoreClient(settings.procore, credentials, session)
        try:
            await _checks(client, settings, checks)
        except AuthenticationError as exc:  # a token refused later, after it was issued
            checks.append(Check(Status.FAIL, str(exc), refused=True))
        except ProcoreError as exc:
            checks.append(Check(Status.FAIL, f"Procore did not answer as expected: {exc}"))
    return checks


async def _checks(client: ProcoreClient, settings: Settings, checks: list[Check]) -> None:
    checks.append(await _journal(settings))
    login = await _credentials(client)
    checks.append(login)
    if login.status is Status.FAIL:
        return
    clock: Check | None = None
    for each in settings.projects():  # [[targets]]: every project, its areas and sets
        project = client.for_project(each.procore.project_id)
        clock = await _project(project, each, checks) or clock
    if clock is None:  # no project reachable: no budget to speak of
        return
    checks.append(_budget(client))
    checks.append(clock)


async def _journal(settings: Settings) -> Check:
    """Whether the journal can be reached and read: a database out of reach, or a journal a
    newer bulkimport wrote, would stop the run before anything is sent."""
    where = settings.engine.journal
    try:
        journal = await Journal.open_if_present(where)
    except JournalUnavailable as exc:  # a run would stop (exit 3), as on refused credentials
        return Check(Status.FAIL, f"journal: {exc}", refused=True)
    except JournalError as exc:
        return Check(Status.FAIL, f"journal: {exc}")
    if journal is None:
        return Check(Status.OK, f"journal {where}: none yet; the first run creates it")
    try:
        held = await journal.projects()
    finally:
        await journal.close()
    return Check(Status.OK, f"journal {where} readable; it holds {_count(len(held), 'project')}")


async def _project(client: ProcoreClient, settings: Settings, checks: list[Check]) -> Check | None:
    """One project's checks; the clock's against Procore's, unless the project is out of
    reach."""
    project = settings.procore.project_id
    sent = time.time()
    try:
        date = await client.server_date()
    except ProcoreError as exc:
        checks.append(Check(Status.FAIL, _unreachable(settings, exc)))
        return None
    answered = time.time()
    areas, sets = await client.drawing_areas(), await client.drawing_sets()
    checks.append(
        Check(
            Status.OK,
            f"project {project} (company {settings.procore.company_id}) reachable: "
            f"{_count(len(areas), 'drawing area')}, {_count(len(sets), 'drawing set')}",
        )
    )
    area = _configured(settings, areas, sets, checks)
    placed = await _placed(settings, areas, sets, checks)
    listed = area or placed
    if listed is not None:
        checks.append(await _drawings(client, listed))
    return clock_check(date, sent, answered)


async def _credentials(client: ProcoreClient) -> Check:
    """A token, then what Procore says of it (the call that fetches the token info is the
    first to need a token, so it is what asks for one)."""
    try:
        info = await client.token_info()
    except AuthenticationError as exc:
        return Check(Status.FAIL, str(exc), refused=True)
    except ProcoreError as exc:
        if exc.endpoint == TOKEN_ENDPOINT:
            return Check(Status.FAIL, f"no access token: {exc} (check procore.login_base)")
        return Check(Status.OK, "credentials accepted")  # a token came; only its details did not
    return Check(Status.OK, f"credentials accepted{_lifetime(info)}")


def _lifetime(info: TokenInfo) -> str:
    if info.expires_in is not None:
        return f" (token valid for {_span(info.expires_in)})"
    return ""


def _unreachable(settings: Settings, exc: ProcoreError) -> str:
    company, project = settings.procore.company_id, settings.procore.project_id
    if exc.status == 403:
        return (
            f"company {company} is not reachable with these credentials ({exc.message}): "
            "check procore.company_id and that the app is installed in that company"
        )
    if exc.status == 404:
        # Procore hides what a caller may not see: a wrong id and a missing permission look alike.
        return (
            f"project {project} is not reachable in company {company} ({exc.message}): "
            "check procore.project_id, and that the app has access to the project"
        )
    return f"project {project}: {exc}"


def _configured(
    settings: Settings,
    areas: list[DrawingArea],
    sets: list[DrawingSet],
    checks: list[Check],
) -> DrawingArea | None:
    """The [target] area and set, as a run checks them before it sends anything."""
    target, project = settings.target, settings.procore.project_id
    area = None
    if target.drawing_area is not None:
        try:
            area = area_in(areas, target.drawing_area, project)
            checks.append(Check(Status.OK, f"drawing area {_named(area)} found"))
        except ConfigError as exc:
            checks.append(Check(Status.FAIL, str(exc)))
    if target.drawing_set is not None:
        try:
            found = set_in(sets, target.drawing_set, target.create_missing_set, project)
        except ConfigError as exc:
            checks.append(Check(Status.FAIL, str(exc)))
        else:
            checks.append(
                Check(Status.OK, f"drawing set {_named(found)} found")
                if found is not None
                else Check(Status.OK, _would_create(target.drawing_set, project))
            )
    return area


async def _placed(
    settings: Settings,
    areas: list[DrawingArea],
    sets: list[DrawingSet],
    checks: list[Check],
) -> DrawingArea | None:
    """The areas and sets the manifest and the folder layout send files to. Unlike the
    [target] ones, a missing one fails its files, not the run: a warning."""
    source, target = settings.source, settings.target
    if source.manifest is None and source.layout is None:
        return None  # every file goes to the [target] area and set, checked already
    try:
        places = await anyio.to_thread.run_sync(_places, settings)
    except ConfigError as exc:
        checks.append(Check(Status.FAIL, str(exc)))
        return None
    project = settings.procore.project_id
    area_files = _by_name((area, n) for (area, _), n in places.items())
    set_files = _by_name((name, n) for (_, name), n in places.items())
    first: DrawingArea | None = None
    problems: list[Check] = []
    for name, files in area_files.items():
        try:
            area = area_in(areas, name, project)
            first = first or area
        except ConfigError as exc:
            if not _same(name, target.drawing_area):  # else reported already, as a failure
                problems.append(_files_fail(exc, files))
    for name, files in set_files.items():
        if _same(name, target.drawing_set):
            continue  # reported already
        try:
            if set_in(sets, name, target.create_missing_set, project) is None:
                problems.append(Check(Status.OK, _would_create(name, project)))
        except ConfigError as exc:
            problems.append(_files_fail(exc, files))
    origin = " and ".join(
        what
        for what, used in (("the manifest", source.manifest), ("the folder layout", source.layout))
        if used is not None
    )
    summary = (
        f"by {origin}: {_count(len(area_files), 'drawing area')} and "
        f"{_count(len(set_files), 'drawing set')} for {_count(sum(places.values()), 'file')}"
    )
    checks.append(Check(Status.OK, summary + ("" if problems else ", all found")))
    checks.extend(problems)
    return first


def _places(settings: Settings) -> Counter[tuple[str, str]]:
    """Files per (area, set) as a run would place them, from the names alone: no file is
    opened. Blocking: call it from a thread."""
    path = settings.source.manifest
    rows = read_manifest(path).rows if path else {}
    places: Counter[tuple[str, str]] = Counter()
    for found in walk(settings.source, rows):
        try:
            file = describe(found, settings, rows.get(found.rel))
        except FileRejected:
            continue  # a file that cannot go anywhere is `run --dry-run`'s to report
        places[(file.area, file.drawing_set)] += 1
    return places


def _by_name(files: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Files per name, names that differ only in case taken as one, as Procore matches them."""
    merged: dict[str, int] = {}
    spelled: dict[str, str] = {}
    for name, n in files:
        key = spelled.setdefault(name.casefold(), name)
        merged[key] = merged.get(key, 0) + n
    return merged


async def _drawings(client: ProcoreClient, area: DrawingArea) -> Check:
    """The first page of the area's drawings only: an area can hold tens of thousands."""
    pages = client.drawings(area.id)
    try:
        page = await anext(pages, None)
    except ProcoreError as exc:
        return Check(Status.FAIL, f"drawings of drawing area {_named(area)} not listable: {exc}")
    finally:
        if isinstance(pages, AsyncGenerator):
            await pages.aclose()  # now, rather than whenever the garbage collector gets to it
    shown = len(page) if page is not None else 0
    return Check(
        Status.OK,
        f"drawings of drawing area {_named(area)} listable "
        f"({_count(shown, 'drawing')} on the first page)",
    )


def _budget(client: ProcoreClient) -> Check:
    window = client.budget.window
    if window is None:
        return Check(Status.OK, "budget: no rate-limit headers seen")
    text = (
        f"budget: {window.remaining:,} of {window.limit:,} left; "
        f"resets in {_span(window.reset - time.time())}"
    )
    if window.remaining > 0:
        return Check(Status.OK, text)
    return Check(Status.WARN, f"{text}: a run would wait for the reset")


def clock_check(date: str | None, sent: float, answered: float) -> Check:
    """The local clock against Procore's `Date`, from a request sent and answered at those
    local times. Ticket expiry is read from Procore's policy and compared with the local
    clock, so a clock that is off makes tickets look fresher or staler than they are."""
    if date is None:
        return Check(Status.WARN, "clock: Procore's answer had no Date header to compare with")
    try:
        # Date counts whole seconds: the middle of that second is the best guess.
        server = parsedate_to_datetime(date).timestamp() + 0.5
    except (TypeError, ValueError):
        return Check(Status.WARN, f"clock: cannot read Procore's Date header {date!r}")
    skew = (sent + answered) / 2 - server
    if abs(skew) <= CLOCK_TOLERANCE:
        return Check(Status.OK, f"clock: {abs(skew):.1f} s from Procore's")
    if skew > 0:
        effect = "tickets would look expired early and be requested again"
    else:
        effect = "tickets would be used after they expired and be refused"
    return Check(
        Status.WARN,
        f"clock: {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} Procore's: ticket "
        f"expiry is computed from the local clock and the upload policy, so {effect}; "
        "set the clock (NTP)",
    )


def _would_create(name: str | int, project: int) -> str:
    return (
        f"drawing set {name!r} is not in project {project}: it would be created "
        "(target.create_missing_set = true)"
    )


def _files_fail(exc: ConfigError, files: int) -> Check:
    return Check(Status.WARN, f"{exc}: its {_count(files, 'file')} would fail")


def _same(name: str, configured: str | int | None) -> bool:
    return configured is not None and name.casefold() == str(configured).strip().casefold()


def _named(item: DrawingArea | DrawingSet) -> str:
    return f"{item.name!r} (id {item.id})"


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def _span(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
