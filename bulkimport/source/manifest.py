"""The manifest: a CSV register exported from another document system, one row per file.

Columns (the header row names them; case, spaces and order do not matter, other columns are
ignored): `path` (required, relative to the source root), and optionally `number`, `title`,
`discipline`, `revision`, `drawing_date`, `received_date`, `drawing_area`, `drawing_set`. A
value given here wins over what the file name or the folder says; an empty cell says nothing.

UTF-8 with or without a byte-order mark (what spreadsheets write), comma or semicolon
separated (what spreadsheets in many European locales write). A row that cannot be used keeps
its line number so the report can point at it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from bulkimport.errors import ConfigError

COLUMNS = (
    "path",
    "number",
    "title",
    "discipline",
    "revision",
    "drawing_date",
    "received_date",
    "drawing_area",
    "drawing_set",
)
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")


@dataclass(frozen=True, slots=True)
class ManifestRow:
    line: int
    path: str  # relative to the root, forward slashes
    number: str | None = None
    title: str | None = None
    discipline: str | None = None
    revision: str | None = None
    drawing_date: str | None = None  # YYYY-MM-DD
    received_date: str | None = None
    drawing_area: str | None = None
    drawing_set: str | None = None
    problem: str | None = None  # why the file this row names cannot be imported as listed


@dataclass(frozen=True, slots=True)
class ManifestProblem:
    """A row that names no file the run can import: a missing file, a path outside the root."""

    line: int
    path: str
    reason: str


@dataclass(slots=True)
class Manifest:
    source: Path
    rows: dict[str, ManifestRow] = field(default_factory=dict)
    problems: list[ManifestProblem] = field(default_factory=list)

    def unseen(self, seen: set[str]) -> list[ManifestProblem]:
        """Rows naming files the walk did not find."""
        return [
            ManifestProblem(row.line, row.path, "no such file under the source root")
            for path, row in self.rows.items()
            if path not in seen
        ]


def parse_day(value: str) -> str | None:
    """A date as YYYY-MM-DD; ISO datetimes give their date. None when unparsable."""
    text = value.strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).date().isoformat()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        return None


def normal_path(value: str) -> str | None:
    """The manifest's path as a journal key, or None when it leaves the root."""
    text = value.strip().replace("\\", "/")
    if not text or text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        return None
    parts = [p for p in PurePosixPath(text).parts if p != "."]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def _header(names: list[str]) -> list[str]:
    return [n.strip().lower().replace(" ", "_").replace("-", "_") for n in names]


def _delimiter(first_line: str) -> str:
    return ";" if first_line.count(";") > first_line.count(",") else ","


def read_manifest(path: Path) -> Manifest:
    """The manifest's rows by path. A file that is not a usable CSV at all is a ConfigError;
    a bad row is kept with its problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read manifest {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"manifest {path} is not UTF-8 text (line {line})") from exc
    lines = text.splitlines(keepends=True)
    if not lines:
        raise ConfigError(f"manifest {path} is empty: it needs a header row with `path`")
    reader = csv.reader(lines, delimiter=_delimiter(lines[0]))
    header = _header(next(reader))
    if "path" not in header:
        raise ConfigError(
            f"manifest {path} has no `path` column (its header: {', '.join(header)}); "
            f"known columns: {', '.join(COLUMNS)}"
        )
    manifest = Manifest(path)
    first_line: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank lines, as spreadsheets leave at the end
        values = {
            name: cell.strip()
            for name, cell in zip(header, cells, strict=False)
            if name in COLUMNS and cell.strip()
        }
        rel = normal_path(values.get("path", ""))
        if rel is None:
            reason = "the path is empty" if not values.get("path") else "outside the source root"
            manifest.problems.append(ManifestProblem(line, values.get("path", ""), reason))
            continue
        if rel in first_line:
            earlier = manifest.rows[rel]
            problem = f"listed more than once in the manifest (lines {first_line[rel]} and {line})"
            manifest.rows[rel] = replace(earlier, problem=problem)
            continue
        first_line[rel] = line
        manifest.rows[rel] = _row(line, rel, values)
    return manifest


def _row(line: int, rel: str, values: dict[str, str]) -> ManifestRow:
    problems = []
    dates: dict[str, str | None] = {}
    for key in ("drawing_date", "received_date"):
        raw = values.get(key)
        dates[key] = parse_day(raw) if raw else None
        if raw and dates[key] is None:
            problems.append(f"{key} {raw!r} is not a date (use YYYY-MM-DD)")
    return ManifestRow(
        line=line,
        path=rel,
        number=values.get("number"),
        title=values.get("title"),
        discipline=values.get("discipline"),
        revision=values.get("revision"),
        drawing_date=dates["drawing_date"],
        received_date=dates["received_date"],
        drawing_area=values.get("drawing_area"),
        drawing_set=values.get("drawing_set"),
        problem="; ".join(problems) or None,
    )
