"""What makes a file a PDF Procore can take, checked before any request."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bulkimport.samples import write_sparse_pdf
from bulkimport.source.pdf_check import NotImportable, check_pdf

from .conftest import pdf_bytes
from .messy_archive import encrypted_pdf, multipage_pdf


def check(path: Path, content: bytes, max_size: int = 10**9):
    path.write_bytes(content)
    return check_pdf(path, len(content), max_size)


def test_pages_are_counted(tmp_path):
    assert check(tmp_path / "one.pdf", pdf_bytes(2000)).pages == 1
    assert check(tmp_path / "three.pdf", multipage_pdf(3)).pages == 3


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"PK\x03\x04 zip", "not a PDF"),
        (pdf_bytes(4000)[:2000], "incomplete (no %%EOF"),
        (encrypted_pdf(), "encrypted"),
        (b"%PDF-1.7\n garbage that is no PDF at all\n%%EOF\n", "damaged"),
    ],
)
def test_broken_files_say_why(tmp_path, content, reason):
    with pytest.raises(NotImportable, match=re.escape(reason)):
        check(tmp_path / "x.pdf", content)


def test_a_file_above_the_limit_is_refused_without_being_read(tmp_path):
    with pytest.raises(NotImportable, match=r"above source.max_file_size \(0.0 MB\)"):
        check(tmp_path / "big.pdf", pdf_bytes(2000), max_size=1000)


def test_a_sparse_gigabyte_pdf_is_checked_by_seeking(tmp_path):
    """pypdf is given the open file, so it reads the trailer and the page tree only."""
    path = tmp_path / "huge.pdf"
    write_sparse_pdf(path, "A-1", "Huge", 2 * 1024**3)
    assert check_pdf(path, path.stat().st_size, 4 * 1024**3).pages == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_says_so(tmp_path):
    path = tmp_path / "locked.pdf"
    path.write_bytes(pdf_bytes(2000))
    path.chmod(0)
    with pytest.raises(NotImportable, match="cannot read the file: Permission denied"):
        check_pdf(path, 2000, 10**9)
