"""The checks on each `drawing_log_imports` entry of a Create Drawing Upload.

Every entry is checked before anything is applied; the caller decides how a refusal is worded
(`refusal_style`). Dates are read as the reference types them (procore-api.md C5).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from .traffic import Principal
from .world import LogImport, Revision, World

Errors = dict[str, list[str]]

NOT_A_DATE_TIME = "must be an ISO 8601 date-time"


def read_day(value: Any, *, strict: bool, utc_offset: float) -> tuple[str | None, str | None]:
    """(the `YYYY-MM-DD` stored and answered, the problem); both None when nothing was sent.

    procore-api.md C5: the reference types these fields `date-time` and answers dates. Rails
    parses a plain date too, so it is accepted unless `strict`. A time with a zone is turned
    into the project's calendar day; one without a zone is read as the project's own time.
    """
    if not isinstance(value, str) or not value:
        return None, None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return (None, NOT_A_DATE_TIME) if strict else (day.isoformat(), None)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None, "is not a date"
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone(timedelta(hours=utc_offset)))
    return moment.date().isoformat(), None


def revision_key(entry: LogImport | Revision) -> tuple[str | None, int, str, str | None]:
    """What must differ between two revisions of one drawing: number, set and dates."""
    number = entry.default_revision if isinstance(entry, LogImport) else entry.revision_number
    return (number, entry.drawing_set_id, entry.drawing_date, entry.received_date)


def _revision_taken(world: World, entry: LogImport, earlier: list[LogImport]) -> bool:
    """Procore refuses a revision a drawing already has (or is about to get) with the same
    set and dates (DOCS tutorial_direct_drawing_uploads.md); pending drawing uploads and
    earlier entries of this request count too.

    Obsolete and deleted revisions still count: the tutorial names no exception, so the
    emulator takes the strict reading (procore-api.md C8).
    """
    key = revision_key(entry)
    if any(revision_key(r) == key for r in world.drawings[entry.drawing_id or 0].revisions):
        return True
    pending = [
        e
        for i in world.unsettled
        for e in world.drawing_uploads[i].imports
        if not e.needs_review  # waits in Items to Review, never becomes a revision here
    ] + earlier
    return any(e.drawing_id == entry.drawing_id and revision_key(e) == key for e in pending)


def _check_upload(world: World, who: Principal, uuid: str) -> str | None:
    upload = world.uploads.get(uuid)
    if upload is None or upload.company_id != who.company_id:
        return "does not name an upload"
    if upload.owner_user_id != who.user_id:
        return "belongs to another user: only the user who created an upload may use it"
    if upload.created_at + world.config.attach_deadline <= world.clock.now():
        return "was deleted: uploads not attached within the deadline are removed"
    if not upload.posted:
        return "has not been uploaded to storage yet"
    if upload.attached_to is not None:
        return f"has already been imported by drawing upload {upload.attached_to}"
    return None


def read_imports(
    world: World,
    who: Principal,
    area_id: int | None,
    set_id: int,
    raw: Any,
    *,
    strict_dates: bool,
) -> tuple[list[LogImport], Errors]:
    """The entries, or the problems keyed `drawing_log_imports[i].field`."""
    errors: Errors = {}
    if not isinstance(raw, list) or not raw:
        return [], {"drawing_log_imports": ["can't be blank"]}
    limit = world.config.max_imports_per_upload
    if limit is not None and len(raw) > limit:
        return [], {"drawing_log_imports": [f"has more than {limit} entries"]}
    offset = world.config.project_utc_offset
    entries: list[LogImport] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"drawing_log_imports[{i}]"
        if not isinstance(item, dict):
            errors[where] = ["must be an object"]
            continue
        uuid = item.get("upload_uuid")
        problem = (
            "can't be blank"
            if not isinstance(uuid, str) or not uuid
            else "appears more than once in this request"
            if uuid in seen
            else _check_upload(world, who, uuid)
        )
        if problem:
            errors[f"{where}.upload_uuid"] = [problem]
        if isinstance(uuid, str):
            seen.add(uuid)
        drawing_date, bad = read_day(
            item.get("drawing_date"), strict=strict_dates, utc_offset=offset
        )
        if drawing_date is None:
            errors[f"{where}.drawing_date"] = [
                bad if bad == NOT_A_DATE_TIME else "is missing or not a date"
            ]
        received_date, bad = read_day(
            item.get("received_date"), strict=strict_dates, utc_offset=offset
        )
        if bad:
            errors[f"{where}.received_date"] = [bad]
        drawing_id = item.get("drawing_id")
        revision = item.get("default_revision")
        if drawing_id is not None:
            drawing = world.drawings.get(drawing_id) if isinstance(drawing_id, int) else None
            if drawing is None or drawing.area_id != area_id:
                errors[f"{where}.drawing_id"] = ["is not a drawing of this drawing area"]
            if revision in (None, ""):
                errors[f"{where}.default_revision"] = ["can't be blank when drawing_id is given"]
        if any(key.startswith(where) for key in errors) or not isinstance(uuid, str):
            continue
        upload = world.uploads[uuid]
        entry = LogImport(
            id=world.next_id(),
            upload_uuid=uuid,
            filename=upload.response_filename,
            drawing_set_id=set_id,
            drawing_date=str(drawing_date),
            received_date=received_date,
            default_revision=None if revision is None else str(revision),
            drawing_id=drawing_id,
            custom_fields={k: v for k, v in item.items() if k.startswith("custom_field_")},
        )
        if entry.drawing_id is not None and _revision_taken(world, entry, entries):
            errors[f"{where}.default_revision"] = [
                "already exists on this drawing with the same drawing set and dates"
            ]
            continue
        entries.append(entry)
    return entries, errors
