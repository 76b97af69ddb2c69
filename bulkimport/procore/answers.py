"""Procore's answers as small typed values, read once at the client.

Only the fields the engine uses are kept. Dates are kept as days (YYYY-MM-DD): Procore may
answer a date or a date-time, and every comparison the engine makes is by day. An answer that
lacks a field the engine cannot do without raises UnexpectedAnswer at the client, never a
KeyError deep in a stage.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from bulkimport.errors import UnexpectedAnswer
from bulkimport.models import Ticket

T = TypeVar("T")
Json = Mapping[str, Any]

DEFAULT_TICKET_LIFE = 3600.0


def day(value: Any) -> str | None:
    return str(value)[:10] if value else None


def _id_or_none(value: Any) -> int | None:
    return int(value) if value else None


@dataclass(frozen=True, slots=True)
class ListSize:
    """How long a list is, as one page's `Total` and `Per-Page` headers say (REF, every list;
    procore-api.md 3.3): what reading all of it costs, in requests."""

    total: int
    per_page: int  # the page size Procore granted, which may be less than the one asked for

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> ListSize | None:
        """None when the answer does not say (both headers, whole numbers, a page of one or
        more): a size made up would be a guess."""
        try:
            total, per_page = int(headers["Total"]), int(headers["Per-Page"])
        except (KeyError, ValueError):
            return None
        return cls(total, per_page) if total >= 0 and per_page >= 1 else None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its items, and the list's size as that answer gives it."""

    items: list[T]
    size: ListSize | None


@dataclass(frozen=True, slots=True)
class DrawingArea:
    id: int
    name: str

    @classmethod
    def of(cls, item: Json) -> DrawingArea:
        return cls(int(item["id"]), str(item.get("name") or ""))


@dataclass(frozen=True, slots=True)
class DrawingSet:
    id: int
    name: str

    @classmethod
    def of(cls, item: Json) -> DrawingSet:
        return cls(int(item["id"]), str(item.get("name") or ""))


@dataclass(frozen=True, slots=True)
class Revision:
    drawing_id: int
    label: str  # revision_number, as Procore spells it
    set_id: int | None
    drawing_date: str | None
    received_date: str | None
    obsolete: bool = False
    deleted: bool = False

    @classmethod
    def of(cls, item: Json, drawing_id: int | None = None) -> Revision:
        """A listed revision, or a drawing's current one (which names no drawing: `drawing_id`)."""
        nested = item.get("drawing_set")
        set_id = nested.get("id") if isinstance(nested, dict) else None
        return cls(
            drawing_id=int(drawing_id if drawing_id is not None else item.get("drawing_id") or 0),
            label=str(item.get("revision_number") or ""),
            set_id=_id_or_none(set_id or item.get("drawing_set_id")),
            drawing_date=day(item.get("drawing_date")),
            received_date=day(item.get("received_date")),
            obsolete=bool(item.get("obsolete")),
            deleted=bool(item.get("deleted")),
        )


@dataclass(frozen=True, slots=True)
class Drawing:
    id: int
    number: str  # with "(Sheet X of Y)" on a multi-sheet drawing
    drawing_number: str | None  # never with the sheet suffix
    sheet_number: str | None
    title: str | None
    current: Revision | None

    @classmethod
    def of(cls, item: Json) -> Drawing:
        drawing_id = int(item["id"])
        current = item.get("current_revision")
        return cls(
            id=drawing_id,
            number=str(item["number"]),
            drawing_number=str(item["drawing_number"]) if item.get("drawing_number") else None,
            sheet_number=str(item["sheet_number"]) if item.get("sheet_number") else None,
            title=str(item["title"]) if item.get("title") else None,
            current=Revision.of(current, drawing_id) if isinstance(current, dict) else None,
        )


@dataclass(frozen=True, slots=True)
class DrawingUploadState:
    id: int
    status: str  # in_queue, in_progress, reviewed, ready_for_review, failed

    @classmethod
    def of(cls, item: Json) -> DrawingUploadState:
        return cls(int(item["id"]), str(item.get("status")))


@dataclass(frozen=True, slots=True)
class CreatedDrawingUpload:
    id: int

    @classmethod
    def of(cls, item: Json) -> CreatedDrawingUpload:
        return cls(int(item["id"]))


@dataclass(frozen=True, slots=True)
class ListedImport:
    """One `drawing_log_imports` entry of a listed drawing upload."""

    filename: str
    drawing_id: int | None
    revision: str  # default_revision
    drawing_date: str | None
    received_date: str | None
    set_id: int | None

    @classmethod
    def of(cls, item: Json) -> ListedImport:
        drawing_id = item.get("drawing_id")
        return cls(
            filename=str(item.get("filename") or ""),
            drawing_id=int(drawing_id) if drawing_id is not None else None,
            revision=str(item.get("default_revision") or ""),
            drawing_date=day(item.get("drawing_date")),
            received_date=day(item.get("received_date")),
            set_id=_id_or_none(item.get("drawing_set_id")),
        )


@dataclass(frozen=True, slots=True)
class ListedDrawingUpload:
    """A drawing upload as the list `view=with_drawing_log_imports` shows it."""

    id: int
    created_at: float | None  # unix seconds; None when Procore gives no readable time
    area_id: int | None
    set_id: int | None
    imports: tuple[ListedImport, ...] | None  # None when the answer carries no list

    @classmethod
    def of(cls, item: Json) -> ListedDrawingUpload:
        imports = item.get("drawing_log_imports")
        area_id = item.get("drawing_area_id")
        return cls(
            id=int(item["id"]),
            created_at=_timestamp(item.get("created_at")),
            area_id=int(area_id) if area_id is not None else None,
            set_id=_id_or_none(item.get("drawing_set_id")),
            imports=tuple(map(ListedImport.of, imports)) if isinstance(imports, list) else None,
        )


def _timestamp(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp() if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_in: float

    @classmethod
    def of(cls, item: Json) -> AccessToken:
        return cls(str(item["access_token"]), float(item.get("expires_in", 3600)))


@dataclass(frozen=True, slots=True)
class TokenInfo:
    expires_in: float | None  # seconds the token has left, when Procore says

    @classmethod
    def of(cls, item: Any) -> TokenInfo:
        seconds = item.get("expires_in_seconds") if isinstance(item, dict) else None
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            return cls(float(seconds))
        return cls(None)


def ticket_from(answer: Json, issued_at: float) -> Ticket:
    """A Create Upload answer. Its expiry comes from the policy when it can be read."""
    fields = answer.get("fields") or {}
    expires_at = issued_at + DEFAULT_TICKET_LIFE
    try:
        policy = json.loads(base64.b64decode(fields["policy"]))
        expires_at = datetime.fromisoformat(policy["expiration"]).timestamp()
    except (KeyError, ValueError, TypeError):
        pass  # not a readable policy: fall back to Procore's documented hour
    return Ticket(
        uuid=str(answer["uuid"]),
        url=str(answer["url"]),
        fields=tuple((str(k), str(v)) for k, v in fields.items()),
        issued_at=issued_at,
        expires_at=expires_at,
    )


def parsed(endpoint: str, status: int, body: Any, read: Callable[[Any], T]) -> T:
    """`read(body)`, or UnexpectedAnswer when the answer lacks what `read` needs. The body is
    not kept on the error: a token answer must not travel in one."""
    try:
        return read(body)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnexpectedAnswer(
            endpoint,
            status,
            f"an answer without the documented shape ({type(exc).__name__}: {exc})",
        ) from exc
