"""Sample drawing archives: valid one-page PDFs with realistic names and varied sizes.

Used by `bulkimport demo`, the tests and the benchmarks. Each file is a real PDF (catalog, one
page with its number and title, a correct xref table); its size comes from an incompressible
padding object, so storage and hashing see realistic bytes.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

DISCIPLINES = (
    ("A", ("Floor Plan", "Reflected Ceiling Plan", "Elevations", "Wall Sections", "Door Schedule")),
    ("S", ("Foundation Plan", "Framing Plan", "Column Schedule", "Details")),
    ("M", ("HVAC Plan", "Ductwork Layout", "Equipment Schedule")),
    ("E", ("Lighting Plan", "Power Plan", "Panel Schedules", "Single Line Diagram")),
    ("P", ("Plumbing Plan", "Riser Diagram", "Fixture Schedule")),
    ("C", ("Site Plan", "Grading Plan", "Utility Plan")),
    ("FP", ("Sprinkler Layout", "Fire Alarm Plan")),
    ("L", ("Planting Plan", "Hardscape Plan")),
)


def pdf_frame(number: str, title: str, padding: int) -> tuple[bytes, bytes]:
    """A one-page PDF showing `number` and `title`, as the bytes before and after an unused
    stream of `padding` bytes: whatever goes in between, the xref offsets are right."""
    text = f"BT /F1 96 Tf 120 1500 Td ({number}) Tj 0 -140 Td ({title}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 2592 1728] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    head = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(head))
        head += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    offsets.append(len(head))
    head += b"6 0 obj\n<< /Length %d >>\nstream\n" % padding
    tail = bytearray(b"\nendstream\nendobj\n")
    xref = len(head) + padding + len(tail)
    tail += b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)
    for offset in offsets:
        tail += b"%010d 00000 n \n" % offset
    tail += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(offsets) + 1,
        xref,
    )
    return bytes(head), bytes(tail)


def pdf(number: str, title: str, padding: bytes) -> bytes:
    """A one-page PDF carrying `padding` in an unused stream."""
    head, tail = pdf_frame(number, title, len(padding))
    return head + padding + tail


def write_sparse_pdf(path: Path, number: str, title: str, size: int) -> None:
    """A valid PDF of about `size` bytes whose padding is a hole: gigabytes cost no disk."""
    head, tail = pdf_frame(number, title, max(0, size))
    with path.open("wb") as handle:
        handle.write(head)
        handle.seek(max(0, size), 1)
        handle.write(tail)


def write_archive(
    folder: Path, count: int, *, seed: int = 0, min_size: int = 20_000, max_size: int = 2_000_000
) -> list[Path]:
    """`count` drawings named like `A-101 Floor Plan.pdf`, sizes log-uniform in the range."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        prefix, titles = DISCIPLINES[i % len(DISCIPLINES)]
        number = f"{prefix}-{101 + i // len(DISCIPLINES)}"
        title = rng.choice(titles)
        size = int(math.exp(rng.uniform(math.log(min_size), math.log(max_size))))
        name = f"{number} {title}.pdf" if i % 5 else f"{number}_{title}_Rev1.pdf"
        path = folder / name
        path.write_bytes(pdf(number, title, rng.randbytes(size)))
        paths.append(path)
    return paths
