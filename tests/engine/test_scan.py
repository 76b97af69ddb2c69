"""Scanning: globs, file names, disciplines, and the files that cannot be drawings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bulkimport.errors import ConfigError, FileRejected
from bulkimport.models import Plan
from bulkimport.settings import (
    DEFAULT_DISCIPLINES,
    DEFAULT_FILENAME_PATTERN,
    Settings,
    SourceSettings,
    parse_settings,
)
from bulkimport.source.manifest import read_manifest
from bulkimport.source.planner import Context, decide, order_files
from bulkimport.source.scan import discipline_of, examine, parse_name, selected, walk

from .conftest import pdf_bytes


@pytest.mark.parametrize(
    ("name", "number", "title", "revision"),
    [
        ("A-101 First Floor Plan.pdf", "A-101", "First Floor Plan", None),
        ("S201_Foundation Plan_Rev3.pdf", "S201", "Foundation Plan", "3"),
        ("FP-001 Sprinkler Layout Rev B.PDF", "FP-001", "Sprinkler Layout", "B"),
        ("M-201.pdf", "M-201", None, None),
        ("E2.01 Lighting - Level 2 rev.4.pdf", "E2.01", "Lighting - Level 2", "4"),
    ],
)
def test_default_pattern_reads_common_names(name, number, title, revision):
    parts = parse_name(name, DEFAULT_FILENAME_PATTERN)
    assert parts is not None
    assert (parts.number, parts.title, parts.revision) == (number, title, revision)


@pytest.mark.parametrize("name", ["scan0001.pdf", "Floor plan.pdf", "101.pdf"])
def test_names_without_a_drawing_number_do_not_match(name):
    assert parse_name(name, DEFAULT_FILENAME_PATTERN) is None


def test_discipline_uses_the_longest_designator():
    assert discipline_of("FP-001", DEFAULT_DISCIPLINES) == "Fire Protection"
    assert discipline_of("F-1", DEFAULT_DISCIPLINES) == "Fire Protection"
    assert discipline_of("A-101", DEFAULT_DISCIPLINES) == "Architectural"
    assert discipline_of("K-1", DEFAULT_DISCIPLINES) is None
    assert discipline_of("AD-1", DEFAULT_DISCIPLINES) == "Architectural"


def test_globs_are_case_insensitive_and_double_star_spans_folders():
    assert selected("A-101.PDF", ("**/*.pdf",), ())
    assert selected("deep/er/A-101.pdf", ("**/*.pdf",), ())
    assert not selected("notes.txt", ("**/*.pdf",), ())
    assert not selected("old/A-101.pdf", ("**/*.pdf",), ("old/**",))
    assert not selected("sub/A-101.pdf", ("*.pdf",), ())


def source_at(root: Path) -> SourceSettings:
    return SourceSettings(root=root)


def settings_at(root: Path, **source: object) -> Settings:
    return parse_settings(
        {
            "procore": {
                "api_base": "https://api.example.test",
                "login_base": "https://login.example.test",
                "company_id": 1,
                "project_id": 2,
            },
            "source": {"root": str(root), **source},
            "target": {"drawing_area": "Building A", "drawing_set": "IFC"},
        },
        base=root,
    )


def test_walk_streams_selected_files_and_does_not_follow_folder_links(tmp_path: Path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "S-1.pdf").write_bytes(b"%PDF-1")
    (tmp_path / "A-1.pdf").write_bytes(b"%PDF-1")
    (tmp_path / "readme.txt").write_text("x")
    os.symlink(tmp_path, tmp_path / "b" / "loop")
    assert [f.rel for f in walk(source_at(tmp_path))] == ["A-1.pdf", "b/S-1.pdf"]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("A-1 Empty.pdf", b"", "the file is empty"),
        ("A-2 Zip.pdf", b"PK\x03\x04", "not a PDF"),
        ("scan0001.pdf", pdf_bytes(900), "does not match source.filename_pattern"),
        ("K-1 Odd.pdf", pdf_bytes(900), "no discipline for drawing number 'K-1'"),
    ],
)
def test_files_that_cannot_be_drawings_say_why(tmp_path: Path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    (found,) = walk(source_at(tmp_path))
    with pytest.raises(FileRejected) as caught:
        examine(found, settings_at(tmp_path))
    assert reason in caught.value.reason
    assert caught.value.path == name


def test_unreadable_file_is_rejected(tmp_path: Path):
    """A file that cannot be opened (here: gone between the walk and the read)."""
    path = tmp_path / "A-1 Gone.pdf"
    path.write_bytes(pdf_bytes(900))
    (found,) = walk(source_at(tmp_path))
    path.unlink()
    with pytest.raises(FileRejected, match="cannot read the file: No such file"):
        examine(found, settings_at(tmp_path))


def test_a_good_file_becomes_a_drawing(tmp_path: Path):
    (tmp_path / "S201_Foundation Plan_Rev3.pdf").write_bytes(pdf_bytes(1300))
    (found,) = walk(source_at(tmp_path))
    drawing = examine(found, settings_at(tmp_path))
    assert (drawing.number, drawing.title, drawing.revision) == ("S201", "Foundation Plan", "3")
    assert drawing.discipline == "Structural"
    assert (drawing.area, drawing.drawing_set) == ("Building A", "IFC")
    assert drawing.size == 1300
    assert len(drawing.drawing_date) == 10


def test_a_name_that_is_not_utf8_is_refused_and_can_still_be_reported(tmp_path: Path):
    os.close(os.open(os.fsencode(tmp_path) + b"/A-1 Fa\xe7ade.pdf", os.O_CREAT | os.O_WRONLY))
    (found,) = walk(source_at(tmp_path))
    assert found.rel == "A-1 Fa\\xe7ade.pdf"  # printable, and storable in the journal
    with pytest.raises(FileRejected, match="not valid UTF-8: rename it"):
        examine(found, settings_at(tmp_path))


def test_layout_folders_name_the_area_and_set(tmp_path: Path):
    (tmp_path / "Tower" / "Bid" / "sub").mkdir(parents=True)
    (tmp_path / "Tower" / "Bid" / "A-1 One.pdf").write_bytes(pdf_bytes(900))
    (tmp_path / "Tower" / "Bid" / "sub" / "A-2 Two.pdf").write_bytes(pdf_bytes(900))
    settings = settings_at(tmp_path, layout="{drawing_area}/{drawing_set}/*.pdf")
    files = {f.rel: examine(f, settings) for f in walk(settings.source)}
    assert (files["Tower/Bid/A-1 One.pdf"].area, files["Tower/Bid/A-1 One.pdf"].drawing_set) == (
        "Tower",
        "Bid",
    )
    deeper = files["Tower/Bid/sub/A-2 Two.pdf"]  # outside the layout: the [target] values
    assert (deeper.area, deeper.drawing_set) == ("Building A", "IFC")


def refuse_listing(monkeypatch: pytest.MonkeyPatch, *refused: Path) -> None:
    """`os.scandir` refuses these folders as the kernel refuses an account without read
    access (these tests may run as root, whom chmod does not stop; test_unreadable.py makes
    the refusal real)."""
    real = os.scandir

    def scandir(path: Path) -> object:
        if Path(path) in refused:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_a_folder_that_cannot_be_listed_is_reported_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "locked" / "deeper").mkdir(parents=True)
    (tmp_path / "locked" / "A-2 Two.pdf").write_bytes(pdf_bytes(900))
    (tmp_path / "A-1 One.pdf").write_bytes(pdf_bytes(900))
    refuse_listing(monkeypatch, tmp_path / "locked")
    found = {f.rel: f for f in walk(source_at(tmp_path))}
    assert sorted(found) == ["A-1 One.pdf", "locked/"]
    folder = found["locked/"]
    assert folder.folder
    assert not found["A-1 One.pdf"].folder
    with pytest.raises(FileRejected) as caught:
        examine(folder, settings_at(tmp_path))
    assert caught.value.reason == (
        "this folder cannot be read (Permission denied): its files were not imported; "
        'give the account read access to it, or leave it out with source.exclude = ["locked/**"]'
    )


@pytest.mark.parametrize(
    ("exclude", "reported"),
    [
        (["locked/**"], False),  # everything below it: the user chose to leave it out
        (["**/locked/**"], False),
        (["locked/*"], True),  # its subfolders are still wanted
        (["**/*.dwg"], True),
    ],
)
def test_a_folder_left_out_by_the_excludes_is_not_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exclude: list[str], reported: bool
):
    (tmp_path / "locked").mkdir()
    refuse_listing(monkeypatch, tmp_path / "locked")
    source = SourceSettings(root=tmp_path, exclude=tuple(exclude))
    assert [f.rel for f in walk(source)] == (["locked/"] if reported else [])


def test_an_unreadable_root_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    refuse_listing(monkeypatch, tmp_path)
    with pytest.raises(ConfigError, match=r"cannot be read \(Permission denied\)"):
        list(walk(source_at(tmp_path)))


def test_a_file_that_cannot_be_looked_at_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A folder the account may list but not enter: its files' names, but no stat."""
    (tmp_path / "A-1 One.pdf").write_bytes(pdf_bytes(900))
    real = Path.stat

    def stat(path: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        if path.name == "A-1 One.pdf":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(Path, "stat", stat)
    (found,) = walk(source_at(tmp_path))
    assert found.problem == (
        "this file cannot be read (Permission denied): give the account read access to it "
        "and to its folder"
    )


def test_manifest_rows_in_an_unreadable_folder_are_its_entry_not_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """With manifest_only, the folder is reported because the manifest lists a file in it,
    and it is refused, not skipped as "not in the manifest"; the row itself is not a second
    "no such file" problem."""
    root = tmp_path / "src"
    (root / "locked").mkdir(parents=True)
    (root / "other").mkdir()
    (root / "A-1 One.pdf").write_bytes(pdf_bytes(900))
    register = tmp_path / "register.csv"
    register.write_text("path\nA-1 One.pdf\nlocked/A-2 Two.pdf\nA-3 Gone.pdf\n")
    refuse_listing(monkeypatch, root / "locked", root / "other")
    settings = settings_at(root, manifest=str(register), manifest_only=True)
    manifest = read_manifest(register)
    order = order_files(settings, manifest)
    assert [(p.path, p.reason) for p in order.manifest_problems] == [
        ("A-3 Gone.pdf", "no such file under the source root")
    ]
    found = {f.rel: f for f in walk(settings.source, manifest.rows)}
    assert sorted(found) == ["A-1 One.pdf", "locked/"]  # nothing listed in other/: not needed
    decision = decide(found["locked/"], None, Context(settings, manifest, order, 0.0))
    assert decision.plan == Plan.INVALID
    assert decision.reason == (
        "this folder cannot be read (Permission denied): its files were not imported; "
        "give the account read access to it"
    )
