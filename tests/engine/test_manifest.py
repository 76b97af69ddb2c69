"""The CSV register: spreadsheet encodings and separators, and rows that cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkimport.errors import ConfigError
from bulkimport.source.manifest import normal_path, parse_day, read_manifest


def write(tmp_path: Path, text: str, bom: bool = False) -> Path:
    path = tmp_path / "register.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


@pytest.mark.parametrize(("separator", "bom"), [(",", False), (";", True), (";", False)])
def test_commas_or_semicolons_with_or_without_a_byte_order_mark(tmp_path, separator, bom):
    text = separator.join(["Path", "Number", "Title", "Drawing Date", "Notes"]) + "\r\n"
    text += separator.join(["a/A-1.pdf", "A-101", "Ground Floor", "2024-05-06", "x"]) + "\r\n"
    manifest = read_manifest(write(tmp_path, text, bom))
    row = manifest.rows["a/A-1.pdf"]
    assert (row.number, row.title, row.drawing_date, row.line) == (
        "A-101",
        "Ground Floor",
        "2024-05-06",
        2,
    )
    assert row.problem is None


def test_quoted_cells_keep_commas_quotes_and_line_breaks(tmp_path):
    text = 'path,title\n"x/A-1 ""Big"", North.pdf","Plan, ""level 1""\nand roof"\nx/A-2.pdf,Two\n'
    manifest = read_manifest(write(tmp_path, text))
    assert manifest.rows['x/A-1 "Big", North.pdf'].title == 'Plan, "level 1"\nand roof'
    assert manifest.rows["x/A-2.pdf"].line == 4  # line numbers count physical lines


def test_bad_rows_keep_their_line_numbers(tmp_path):
    lines = [
        "path,drawing_date,received_date",
        "a.pdf,2024-13-01,",
        "b.pdf,,yesterday",
        "../outside.pdf,,",
        ",2024-01-01,",
        "c.pdf,,",
        "c.pdf,,",
    ]
    text = "\n".join(lines) + "\n"
    manifest = read_manifest(write(tmp_path, text))
    assert (
        manifest.rows["a.pdf"].problem == "drawing_date '2024-13-01' is not a date (use YYYY-MM-DD)"
    )
    assert "received_date 'yesterday'" in str(manifest.rows["b.pdf"].problem)
    assert manifest.rows["c.pdf"].problem == "listed more than once in the manifest (lines 6 and 7)"
    assert [(p.line, p.reason) for p in manifest.problems] == [
        (4, "outside the source root"),
        (5, "the path is empty"),
    ]
    assert [p.line for p in manifest.unseen({"a.pdf", "b.pdf"})] == [6]


def test_a_manifest_without_a_path_column_or_not_utf8_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no `path` column"):
        read_manifest(write(tmp_path, "file,number\na.pdf,A-1\n"))
    (tmp_path / "latin1.csv").write_bytes("path\nfa\xe7ade.pdf\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(line 2\)"):
        read_manifest(tmp_path / "latin1.csv")
    with pytest.raises(ConfigError, match="cannot read manifest"):
        read_manifest(tmp_path / "nowhere.csv")


def test_dates_and_paths_normalise():
    assert parse_day("2024/05/06") == "2024-05-06"
    assert parse_day("2024-05-06T10:00:00Z") == "2024-05-06"
    assert parse_day("06.05.2024") is None
    assert normal_path("./Area A\\IFC\\A-1.pdf") == "Area A/IFC/A-1.pdf"
    assert normal_path("/etc/passwd") is None
    assert normal_path("C:\\drawings\\A-1.pdf") is None
    assert normal_path("a/../../b.pdf") is None
