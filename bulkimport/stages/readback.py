"""Read-back: a file counts as verified only once Procore's drawing log shows it.

A drawing upload that Procore has processed says little about each file in it: `reviewed` does
not name the revisions made, and `ready_for_review` does not say which direct imports Procore
could not assign. So the revisions of every (area, set) the processed uploads touched are listed
once, every page, obsolete and deleted ones included, and each direct import is looked for as
the revision it meant: its drawing, revision label, set, drawing date and received date (as
days). Found: `verified`. Missing from an upload that ended `ready_for_review`: `needs_review`,
the sheet waits in Items to Review. Missing otherwise: `failed`, with what Procore has instead.

Review-mode files have no drawing to look in until a person reviews them; their upload reaching
`ready_for_review` is what they asked for. When the list cannot be read, the files stay
`imported` and the next run reads back again.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Mapping

import structlog

from bulkimport.errors import ProcoreError
from bulkimport.journal.rows import UNCONFIRMED, FileRow
from bulkimport.ledger import Ledger, Outcome
from bulkimport.models import FileState
from bulkimport.procore.answers import Revision, day
from bulkimport.procore.client import ProcoreClient

log = structlog.get_logger("bulkimport.stages.readback")

REVISIONS = "GET /rest/v1.0/projects/{id}/drawing_revisions"
Key = tuple[int, str, int, str | None, str | None]  # drawing, revision, set, drawing/received day
SHOWN = 3  # revisions of the drawing quoted in a failure
UPLOADS_AT_ONCE = 20  # drawing uploads whose files are read from the journal together
QUOTED = 20  # failures per run whose drawing's revisions are fetched to show what Procore has


def row_key(row: FileRow) -> Key:
    """The revision a journalled import meant, as it was sent."""
    return (
        int(row.drawing_id or 0),
        str(row.revision or "").casefold(),
        int(row.set_id or 0),
        day(row.drawing_date),
        day(row.received_date),
    )


def listed_key(revision: Revision) -> Key:
    return (
        revision.drawing_id,
        revision.label.casefold(),
        revision.set_id or 0,
        revision.drawing_date,
        revision.received_date,
    )


def describe_revision(key: Key) -> str:
    _, revision, set_id, drawing_date, received_date = key
    text = f"revision {revision or '(none)'} in set {set_id} dated {drawing_date}"
    return text + (f", received {received_date}" if received_date else "")


class LogIndex:
    """The revisions listed, kept small: a run may read back 100,000 of them, so only a 64-bit
    hash of each key is kept, in sorted arrays (8 bytes a revision, where a set of ints costs
    about 90). A collision would need two different revisions of one area and set to meet.
    Every `add` comes before the first `has`: the listing is read whole, then the files."""

    def __init__(self) -> None:
        self._exact = array("q")
        self._any_received = array("q")
        self._sorted = True

    def add(self, revision: Revision) -> None:
        key = listed_key(revision)
        self._exact.append(hash(key))
        self._any_received.append(hash(key[:4]))
        self._sorted = False

    def has(self, key: Key) -> bool:
        """Sent without a received date, any received date matches: Procore may fill one in."""
        if not self._sorted:
            self._exact = array("q", sorted(self._exact))
            self._any_received = array("q", sorted(self._any_received))
            self._sorted = True
        return _holds(self._exact, hash(key)) or (
            key[4] is None and _holds(self._any_received, hash(key[:4]))
        )


def _holds(hashes: array[int], value: int) -> bool:
    at = bisect_left(hashes, value)
    return at < len(hashes) and hashes[at] == value


def outcome(row: FileRow, status: str, log_index: LogIndex) -> tuple[FileState, str | None]:
    """The state a processed import ends in, and the note that says why (for a failure, the
    caller adds what Procore has)."""
    if row.review:
        return FileState.VERIFIED, None
    key = row_key(row)
    if log_index.has(key):
        return FileState.VERIFIED, None
    meant = f"drawing {row.number} (id {row.drawing_id}), {describe_revision(key)}"
    if status == "ready_for_review":
        return FileState.NEEDS_REVIEW, (
            f"waits in Items to Review (drawing upload {row.drawing_upload_id}): Procore could "
            f"not assign it to {meant}, so it is not in the drawing log until someone reviews "
            "it in Procore's Drawings tool"
        )
    return FileState.FAILED, (
        f"Procore processed drawing upload {row.drawing_upload_id}, but its drawing log does not "
        f"show {meant}"
    )


async def what_procore_has(client: ProcoreClient, row: FileRow) -> str:
    """The drawing's revisions as Procore lists them, for a failure a person must act on."""
    keys: list[Key] = []
    async for page in client.drawing_revisions(int(row.area_id or 0), drawing_id=row.drawing_id):
        keys += [listed_key(r) for r in page if r.drawing_id == row.drawing_id]
    shown = "; ".join(describe_revision(k) for k in keys[:SHOWN]) or "no revision"
    more = f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
    return f"Procore has: {shown}{more}"


async def read_back(client: ProcoreClient, ledger: Ledger, processed: Mapping[int, str]) -> None:
    """Settle the files of the processed drawing uploads (id -> final status) from what
    Procore's drawing log shows. Files are read from the journal a few uploads at a time."""
    journal = ledger.journal
    uploads = sorted(processed)
    places = sorted(await journal.places_of(uploads))
    before = client.requests.get(REVISIONS, 0)
    log_index = LogIndex()
    try:
        for area_id, set_id in places:
            async for page in client.drawing_revisions(area_id, set_id):
                for revision in page:
                    log_index.add(revision)
    except ProcoreError as exc:
        log.warning(
            "readback.unavailable",
            error=str(exc),
            hint="the files stay imported; the next run reads them back",
        )
        unread: ProcoreError | None = exc
    else:
        unread = None
    settled = quoted = 0
    for start in range(0, len(uploads), UPLOADS_AT_ONCE):
        rows = await journal.imported_in(uploads[start : start + UPLOADS_AT_ONCE])
        # Review files have nothing to look for in the log: settled whatever the listing did.
        outcomes: list[Outcome] = [(r.rel, FileState.VERIFIED, None) for r in rows if r.review]
        if unread is None:
            for r in rows:
                if r.review:
                    continue
                state, note = outcome(r, processed[r.drawing_upload_id or 0], log_index)
                if state is FileState.FAILED and quoted < QUOTED:
                    quoted += 1
                    note = f"{note}; {await _quote(client, r)}"
                elif state is FileState.FAILED:
                    note = f"{note}; bulkimport reconcile lists what Procore has"
                outcomes.append((r.rel, state, note))
        else:
            await ledger.unconfirmed(
                [r.rel for r in rows if not r.review],
                f"{UNCONFIRMED}: Procore's drawing log could not be read ({unread}); the "
                "account needs permission to list drawing revisions, and the next run reads "
                "it back",
            )
        await ledger.settled(outcomes)
        settled += len(outcomes)
    ledger.read_back(settled, len(places), client.requests.get(REVISIONS, 0) - before)


async def _quote(client: ProcoreClient, row: FileRow) -> str:
    try:
        return await what_procore_has(client, row)
    except ProcoreError as exc:
        return f"what Procore has could not be read ({exc})"
