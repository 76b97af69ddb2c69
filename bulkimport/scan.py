"""The producer's first half: walk the source root and describe each PDF.

The walk is a generator over the filesystem's own listing, so 100,000 files are never held in
memory at once. Symlinked folders
are not followed, so a link cannot loop the walk. A file that cannot become a drawing (empty,
unreadable, not a PDF, a name that does not match) becomes a `FileRejected`, never a stop.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from .errors import FileRejected
from .models import DrawingFile
from .settings import SourceSettings

PDF_MAGIC = b"%PDF-"


@dataclass(frozen=True, slots=True)
class Found:
    """A file the globs select, before anything is read from it."""

    path: Path
    rel: str
    size: int
    mtime_ns: int


@cache
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A case-insensitive regex for a path glob: `**/` spans folders, `*` and `?` do not."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE)


def selected(rel: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    return any(glob_regex(p).match(rel) for p in include) and not any(
        glob_regex(p).match(rel) for p in exclude
    )


def walk(source: SourceSettings) -> Iterator[Found]:
    """Every selected regular file below the root, a folder's files before its subfolders.

    Entries stream in the order the filesystem gives them: sorting a folder of 100,000 files
    would hold them all in memory first.
    """
    stack = [source.root]
    while stack:
        folder = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            continue  # an unreadable folder holds nothing we can import
        with entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                    continue
                if not entry.is_file():
                    continue
                rel = Path(entry.path).relative_to(source.root).as_posix()
                if not selected(rel, source.include, source.exclude):
                    continue
                try:
                    stat = entry.stat()
                except OSError:
                    continue  # vanished between listing and stat
                yield Found(Path(entry.path), rel, stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class NameParts:
    number: str
    title: str | None
    revision: str | None


def parse_name(filename: str, pattern: str) -> NameParts | None:
    """Number, title and revision from a file name, or None when it does not match."""
    stem = filename[:-4] if filename.lower().endswith(".pdf") else filename
    found = _compiled(pattern).match(stem.strip())
    if found is None or not found.groupdict().get("number"):
        return None
    groups = found.groupdict()
    title = (groups.get("title") or "").replace("_", " ").strip() or None
    return NameParts(groups["number"], title, groups.get("revision") or None)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def discipline_of(number: str, disciplines: dict[str, str]) -> str | None:
    """The discipline named by the number's letters: the longest designator that matches."""
    letters = re.match(r"[A-Za-z]+", number)
    if letters is None:
        return None
    prefix = letters.group(0).upper()
    for size in range(len(prefix), 0, -1):
        if prefix[:size] in disciplines:
            return disciplines[prefix[:size]]
    return None


def describe(found: Found, source: SourceSettings) -> DrawingFile:
    """The drawing a found file is, or FileRejected saying why it cannot be one."""
    parts = parse_name(found.path.name, source.filename_pattern)
    if parts is None:
        raise FileRejected(
            found.rel, "the file name does not match source.filename_pattern (no drawing number)"
        )
    discipline = discipline_of(parts.number, source.disciplines)
    if discipline is None:
        raise FileRejected(
            found.rel,
            f"no discipline for drawing number {parts.number!r}: add its designator to "
            "[source.disciplines]",
        )
    if found.size == 0:
        raise FileRejected(found.rel, "the file is empty")
    try:
        with found.path.open("rb") as handle:
            head = handle.read(len(PDF_MAGIC))
    except OSError as exc:
        raise FileRejected(found.rel, f"cannot read the file: {exc.strerror or exc}") from exc
    if head != PDF_MAGIC:
        raise FileRejected(found.rel, "not a PDF (the file does not start with %PDF-)")
    return DrawingFile(
        path=found.path,
        rel=found.rel,
        size=found.size,
        mtime_ns=found.mtime_ns,
        number=parts.number,
        title=parts.title,
        revision=parts.revision or source.default_revision,
        discipline=discipline,
        drawing_date=datetime.fromtimestamp(found.mtime_ns / 1e9, UTC).date().isoformat(),
    )
