"""The producer's first half: walk the source root and describe each PDF.

The walk is a generator over the filesystem's own listing, so 100,000 files are never held in
memory at once. A symlink is followed only where it stays inside the root, unless
`source.follow_links` allows more; folders already seen are never walked twice, so links cannot
loop the walk. What a file is comes from its manifest row, then its folder (`source.layout`),
then its name, then the config's defaults: nothing here opens a file. Whether it is a PDF
Procore can take is `pdf_check`'s question, asked through `check_file` just before the upload. A file that cannot become a drawing becomes a `FileRejected`, never a
stop; so does a folder the walk cannot list (its `Found` has a `rel` ending in `/`), since the
files inside it were not imported either. Only an unreadable root stops the run, as a
`ConfigError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from bulkimport.errors import ConfigError, FileRejected
from bulkimport.models import DrawingFile
from bulkimport.settings import Settings, SourceSettings
from bulkimport.source.manifest import ManifestRow
from bulkimport.source.pdf_check import NotImportable, check_pdf


@dataclass(frozen=True, slots=True)
class Found:
    """A file the walk selects, before anything is read from it."""

    path: Path
    rel: str
    size: int
    mtime_ns: int
    problem: str | None = None  # a reason to refuse it found by the walk itself

    @property
    def folder(self) -> bool:
        """A folder the walk could not list: it stands for the files it may hold."""
        return self.rel.endswith("/")


# A name no glob is written for: an exclude that matches it below a folder, and below a
# subfolder of it, leaves out everything that folder could hold.
_PROBE = "\uffff.pdf"


@cache
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A case-insensitive regex for a path glob: `**/` spans folders, `*` and `?` do not."""
    return re.compile(_glob_source(pattern) + r"\Z", re.IGNORECASE)


def _glob_source(pattern: str) -> str:
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
    return "".join(out)


@cache
def layout_regex(layout: str) -> re.Pattern[str]:
    """`{drawing_area}/{drawing_set}/*.pdf` as a regex whose groups are those folders."""
    parts = []
    for segment in layout.split("/"):
        name = re.fullmatch(r"{([a-z_]+)}", segment)
        parts.append(f"(?P<{name.group(1)}>[^/]+)" if name else _glob_source(segment))
    return re.compile("/".join(parts) + r"\Z", re.IGNORECASE)


def selected(rel: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    return any(glob_regex(p).match(rel) for p in include) and not any(
        glob_regex(p).match(rel) for p in exclude
    )


def printable(rel: str) -> str:
    """A path that can be logged and journalled even when its name is not valid UTF-8."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def walk(source: SourceSettings, listed: Collection[str] = ()) -> Iterator[Found]:
    """Every selected regular file below the root, a folder's files before its subfolders:
    those the include/exclude globs select, and those the manifest lists (`listed`); and each
    folder that cannot be listed, unless nothing in it could have been selected.

    Entries stream in the order the filesystem gives them: sorting a folder of 100,000 files
    would hold them all in memory first.
    """
    root = source.root
    stack = [root]
    seen_folders = {root.resolve()}
    while stack:
        folder = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError as exc:
            if folder == root:
                raise ConfigError(
                    f"the source root {root} cannot be read ({_why(exc)}): "
                    "give the account read access to it"
                ) from exc
            unread = _unread_folder(
                folder,
                source,
                listed,
                f"this folder cannot be read ({_why(exc)}): its files were not imported; "
                "give the account read access to it",
            )
            if unread is not None:
                yield unread
            continue
        with entries:
            try:
                for entry in entries:
                    found = _entry(entry, source, listed, seen_folders, stack)
                    if found is not None:
                        yield found
            except OSError as exc:  # the listing broke off part-way (a failing disk, a share)
                unread = _unread_folder(
                    folder,
                    source,
                    listed,
                    f"this folder could not be read to the end ({_why(exc)}): some of its "
                    "files may not have been imported; check the disk or share and run again",
                )
                if unread is not None:
                    yield unread


def _entry(
    entry: os.DirEntry[str],
    source: SourceSettings,
    listed: Collection[str],
    seen_folders: set[Path],
    stack: list[Path],
) -> Found | None:
    """The Found for one listed entry, or None; a folder goes on the stack instead."""
    root = source.root
    rel = Path(entry.path).relative_to(root).as_posix()
    problem = None
    if entry.is_symlink():
        problem = _link_problem(Path(entry.path), root, source.follow_links)
    if entry.is_dir():
        real = Path(entry.path).resolve()
        if problem is None and real not in seen_folders:
            seen_folders.add(real)
            stack.append(Path(entry.path))
        return None
    if not entry.is_file() and not entry.is_symlink():
        return None
    if rel not in listed and not selected(rel, source.include, source.exclude):
        return None
    return _found(Path(entry.path), rel, entry.is_symlink(), problem)


def _unread_folder(
    folder: Path, source: SourceSettings, listed: Collection[str], problem: str
) -> Found | None:
    """The report entry for a folder the walk could not list, or None when nothing in it
    could have been selected: every name below it is excluded, or with
    `source.manifest_only` the manifest lists nothing there."""
    rel = folder.relative_to(source.root).as_posix() + "/"
    if not any(path.startswith(rel) for path in listed):
        if source.manifest_only:
            return None
        probes = (rel + _PROBE, f"{rel}{_PROBE}/{_PROBE}")
        if all(any(glob_regex(p).match(probe) for p in source.exclude) for probe in probes):
            return None
        problem += f', or leave it out with source.exclude = ["{printable(rel)}**"]'
    try:
        mtime_ns = folder.lstat().st_mtime_ns
    except OSError:
        mtime_ns = 0
    return Found(folder, printable(rel), 0, mtime_ns, problem)


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def found_at(source: SourceSettings, rel: str) -> Found | None:
    """The file at `rel`, looked at again (for a later wave); None when it is gone."""
    path = source.root / rel
    link = path.is_symlink()
    problem = _link_problem(path, source.root, source.follow_links) if link else None
    return _found(path, rel, link, problem)


def _found(path: Path, rel: str, link: bool, problem: str | None) -> Found | None:
    size = mtime_ns = 0
    looked = False
    try:
        stat = path.stat()
        size, mtime_ns, looked = stat.st_size, stat.st_mtime_ns, True
    except FileNotFoundError:
        if not link:
            return None  # vanished between listing and stat
        problem = problem or "is a link to a file that does not exist"
    except PermissionError as exc:
        # Listed but not looked at: a folder the account may list but not enter, or a link
        # into one. The file is still one the user meant to import.
        problem = problem or (
            f"this file cannot be read ({_why(exc)}): give the account read access to it "
            "and to its folder"
        )
    except OSError as exc:  # a link loop, an I/O error
        problem = problem or f"this file cannot be read ({_why(exc)})"
    if link and not looked:  # describe the link itself
        try:
            stat = path.lstat()
            size, mtime_ns = stat.st_size, stat.st_mtime_ns
        except FileNotFoundError:
            return None  # the link itself vanished
        except OSError:
            pass
    if not _utf8(rel):
        problem = "the file name is not valid UTF-8: rename it"
        rel = printable(rel)
    return Found(path, rel, size, mtime_ns, problem)


def _link_problem(path: Path, root: Path, follow: bool) -> str | None:
    if follow:
        return None
    try:
        target = path.resolve()
        target.relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError):
        return "is a link that leads outside the source root (set source.follow_links = true)"
    return None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


def describe(found: Found, settings: Settings, row: ManifestRow | None = None) -> DrawingFile:
    """The drawing a found file is, from what is known without reading it, or FileRejected
    saying why it cannot be one."""
    source, target = settings.source, settings.target
    if found.problem:
        raise FileRejected(found.rel, found.problem)
    if row is not None and row.problem:
        raise FileRejected(found.rel, f"manifest line {row.line}: {row.problem}")
    review = target.mode == "review"
    listed = row or ManifestRow(0, found.rel)
    parts = parse_name(found.path.name, source.filename_pattern)
    number = listed.number or (parts.number if parts else None)
    if number is None and not review:
        raise FileRejected(
            found.rel,
            "no drawing number: the file name does not match source.filename_pattern"
            + (f" and manifest line {row.line} has no number" if row else ""),
        )
    discipline = listed.discipline or (
        discipline_of(number, source.disciplines) if number else None
    )
    if discipline is None and not review:
        raise FileRejected(
            found.rel,
            f"no discipline for drawing number {number!r}: add its designator to "
            "[source.disciplines]" + (" or a discipline column to the manifest" if row else ""),
        )
    folders = _folders(found.rel, source.layout)
    place: dict[str, str] = {}
    for key in ("drawing_area", "drawing_set"):
        value = getattr(listed, key) or folders.get(key) or getattr(target, key)
        if value is None or not str(value).strip():
            raise FileRejected(
                found.rel,
                f"no {key.replace('_', ' ')}: the file is not in a source.layout folder, "
                f"its manifest row has none and target.{key} is not set",
            )
        place[key] = str(value).strip()
    return DrawingFile(
        path=found.path,
        rel=found.rel,
        size=found.size,
        mtime_ns=found.mtime_ns,
        number=number or "",
        title=listed.title or (parts.title if parts else None),
        revision=listed.revision or (parts.revision if parts else None) or source.default_revision,
        discipline=discipline,
        drawing_date=listed.drawing_date
        or datetime.fromtimestamp(found.mtime_ns / 1e9, UTC).date().isoformat(),
        area=place["drawing_area"],
        drawing_set=place["drawing_set"],
        received_date=listed.received_date,
        review=review,
    )


def _folders(rel: str, layout: str | None) -> dict[str, str]:
    if layout is None:
        return {}
    found = layout_regex(layout).match(rel)
    return {k: v for k, v in found.groupdict().items() if v} if found else {}


def examine(found: Found, settings: Settings, row: ManifestRow | None = None) -> DrawingFile:
    """`describe`, then `check_file`. Blocking: call it from a thread."""
    return check_file(describe(found, settings, row), settings.source)


def check_file(file: DrawingFile, source: SourceSettings) -> DrawingFile:
    """The file's bytes: is it a whole, readable, unencrypted PDF, and how many sheets; the
    file as it goes (a multi-page PDF may go through review), or FileRejected saying why not.
    Opens the file: a run calls it just before the file's Create Upload, not while scanning.
    Blocking: call it from a thread."""
    try:
        facts = check_pdf(file.path, file.size, source.max_file_size)
    except NotImportable as exc:
        reason = str(exc)
        if isinstance(exc.__cause__, PermissionError):
            reason += ": give the account read access to it"
        raise FileRejected(file.rel, reason) from exc
    if facts.pages > 1 and not file.review:
        if source.multipage == "error":
            raise FileRejected(
                file.rel,
                f"the PDF has {facts.pages} pages; with drawing_id Procore wants one sheet per "
                'drawing: split it, or set source.multipage = "review"',
            )
        return replace(file, review=True)
    return file


def check_files(files: list[DrawingFile], source: SourceSettings) -> list[DrawingFile | str]:
    """`check_file` for each file: the file as it goes, or the reason it cannot. A job for a
    worker process (a dry run's), so it takes and returns plain values."""
    out: list[DrawingFile | str] = []
    for file in files:
        try:
            out.append(check_file(file, source))
        except FileRejected as exc:
            out.append(exc.reason)
    return out
