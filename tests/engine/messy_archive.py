"""A generated export from another document system: nested folders per area and set, a
semicolon CSV register with a byte-order mark and mistakes in it, a multi-sheet PDF, broken
PDFs of every kind, two revisions of one drawing, odd names and a link leading out."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from pypdf import PdfWriter

from bulkimport.samples import pdf

from .conftest import pdf_bytes

LONG_TITLE = "Enlarged Plan of the North Stair Core and the Mechanical Penthouse " * 2


def multipage_pdf(pages: int) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(2592, 1728)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(2592, 1728)
    writer.encrypt("site-office", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class Expected:
    number: str | None  # None: Procore reads it (review)
    title: str | None
    revision: str
    area: str
    drawing_set: str
    review: bool = False


@dataclass(slots=True)
class MessyArchive:
    root: Path
    manifest: Path
    good: dict[str, Expected] = field(default_factory=dict)  # rel -> what Procore must show
    bad: dict[str, str] = field(default_factory=dict)  # rel -> words the reason must contain

    def write(self, rel: str, content: bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path


IFC_A = "Building A/Issued for Construction"
BID_B = "Building B/Bid Set"


def build(base: Path) -> MessyArchive:
    archive = MessyArchive(base / "export", base / "register.csv")
    a = archive

    a.write(f"{IFC_A}/A-101 Floor Plan.pdf", pdf_bytes(3000, 1))
    a.good[f"{IFC_A}/A-101 Floor Plan.pdf"] = Expected(
        "A-101", "First Floor Plan", "0", "Building A", "Issued for Construction"
    )
    quoted = f'{IFC_A}/A-102 "Quoted" Façade, North Élévation.pdf'
    a.write(quoted, pdf_bytes(2500, 2))
    a.good[quoted] = Expected(
        "A-102", '"Quoted" Façade, North Élévation', "0", "Building A", "Issued for Construction"
    )
    long_name = f"{IFC_A}/A-103 {LONG_TITLE.strip()}.pdf"
    a.write(long_name, pdf_bytes(2200, 3))
    a.good[long_name] = Expected(
        "A-103", LONG_TITLE.strip(), "0", "Building A", "Issued for Construction"
    )
    # Two revisions of one drawing, found in whatever order the folder lists them.
    for revision in ("2", "1"):
        rel = f"{BID_B}/S-201 Foundation Plan Rev {revision}.pdf"
        a.write(rel, pdf("S-201", f"Foundation Plan rev {revision}", os.urandom(1500)))
        a.good[rel] = Expected("S-201", "Foundation Plan", revision, "Building B", "Bid Set")
    a.write(f"{IFC_A}/M-301 Mechanical Sheets.pdf", multipage_pdf(3))
    a.good[f"{IFC_A}/M-301 Mechanical Sheets.pdf"] = Expected(
        None, None, "0", "Building A", "Issued for Construction", review=True
    )
    a.write("Building B/Addendum 1/P-501 Riser Diagram.pdf", pdf_bytes(2100, 5))
    a.good["Building B/Addendum 1/P-501 Riser Diagram.pdf"] = Expected(
        "P-501", "Riser Diagram", "0", "Building B", "Addendum 1"
    )
    a.write("scans/scan0001.pdf", pdf_bytes(2600, 6))  # only the register says what it is
    a.good["scans/scan0001.pdf"] = Expected("C-001", "Site Survey", "B", "Building B", "Bid Set")

    a.write(f"{IFC_A}/E-401 Locked.pdf", encrypted_pdf())
    a.bad[f"{IFC_A}/E-401 Locked.pdf"] = "encrypted"
    a.write(f"{IFC_A}/E-402 Empty.pdf", b"")
    a.bad[f"{IFC_A}/E-402 Empty.pdf"] = "empty"
    a.write(f"{IFC_A}/E-403 Truncated.pdf", pdf_bytes(4000, 7)[:2500])
    a.bad[f"{IFC_A}/E-403 Truncated.pdf"] = "incomplete (no %%EOF"
    a.write(f"{IFC_A}/E-404 Renamed.pdf", b"PK\x03\x04 a zip file, renamed")
    a.bad[f"{IFC_A}/E-404 Renamed.pdf"] = "not a PDF"
    a.write(f"{IFC_A}/A-105 Bad Date.pdf", pdf_bytes(2000, 8))
    a.bad[f"{IFC_A}/A-105 Bad Date.pdf"] = "manifest line 5: drawing_date '31/02/2024' is not"
    a.write("scans/scan0002.pdf", pdf_bytes(2000, 9))
    a.bad["scans/scan0002.pdf"] = "listed more than once in the manifest (lines 6 and 7)"
    a.write("loose/A-200 Loose.pdf", pdf_bytes(2000, 10))
    a.bad["loose/A-200 Loose.pdf"] = "no drawing area"
    outside = base / "elsewhere" / "A-104 Secret.pdf"
    outside.parent.mkdir(parents=True)
    outside.write_bytes(pdf_bytes(2000, 11))
    os.symlink(outside, a.root / IFC_A / "A-104 Link.pdf")
    a.bad[f"{IFC_A}/A-104 Link.pdf"] = "link that leads outside the source root"

    lines = [
        "Path;Number;Title;Revision;Drawing Date;Drawing Area;Drawing Set",
        "scans/scan0001.pdf;C-001;Site Survey;B;2024-03-05;Building B;Bid Set",
        f"{IFC_A}/A-101 Floor Plan.pdf;;First Floor Plan;;;;",
        "missing/Z-999 Gone.pdf;Z-999;Gone;0;2024-01-01;Building A;Bid Set",
        f"{IFC_A}/A-105 Bad Date.pdf;;;;31/02/2024;;",
        "scans/scan0002.pdf;C-002;Survey copy;0;;Building B;Bid Set",
        "scans/scan0002.pdf;C-003;Survey again;0;;Building B;Bid Set",
        "",
    ]
    archive.manifest.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode())
    return archive
