"""Is this file a PDF Procore can take? Checked before any request is made for it.

Cheap checks first, from a few bytes at each end: not empty, not above the size limit,
`%PDF-` at the start and `%%EOF` near the end (a truncated copy has none). Then pypdf reads the
trailer and the page tree, not the pages themselves, for encryption and the page count: an
open file is handed to it, so it seeks rather than loading the file into memory.

Blocking, and CPU-bound in pypdf: runs check it in the upload stage, just before a file's
Create Upload (see `checks.py`), never while scanning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

PDF_MAGIC = b"%PDF-"
EOF_MARKER = b"%%EOF"
TAIL = 2048  # bytes searched for %%EOF: writers may add a little after it

# pypdf reports what it repairs through logging; a broken file is our report, not its log.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class PdfFacts:
    pages: int


class NotImportable(Exception):
    """The reason a person can act on; the caller adds the file."""


def check_pdf(path: Path, size: int, max_size: int) -> PdfFacts:
    if size == 0:
        raise NotImportable("the file is empty (0 bytes)")
    if size > max_size:
        raise NotImportable(
            f"the file is {size / 1e6:.1f} MB, above source.max_file_size ({max_size / 1e6:.1f} MB)"
        )
    try:
        with path.open("rb") as handle:
            head = handle.read(len(PDF_MAGIC))
            if head != PDF_MAGIC:
                raise NotImportable("not a PDF (the file does not start with %PDF-)")
            handle.seek(max(0, size - TAIL))
            if EOF_MARKER not in handle.read(TAIL):
                raise NotImportable(
                    "the PDF is incomplete (no %%EOF at its end): a truncated copy? copy it again"
                )
            handle.seek(0)
            return _read_structure(handle)
    except OSError as exc:
        raise NotImportable(f"cannot read the file: {exc.strerror or exc}") from exc


def _read_structure(handle: BinaryIO) -> PdfFacts:
    # Imported here: pypdf brings cryptography (about 13 MB), and a run with nothing new to
    # check (a nightly re-run) should not pay for it.
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(handle)
        if reader.is_encrypted:
            raise NotImportable(
                "the PDF is encrypted (password protected): Procore cannot read it; "
                "save an unprotected copy"
            )
        pages = len(reader.pages)
    except NotImportable:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise NotImportable(f"the PDF is damaged and cannot be read ({exc})") from exc
    if pages < 1:
        raise NotImportable("the PDF has no pages")
    return PdfFacts(pages=pages)
