"""Synthetic drawing archives for the benchmarks.

    python benchmarks/archive.py OUT --files 500 [--min-mb 0.5] [--max-mb 10] [--large 2 --large-gb 2]

Valid one-page PDFs named like `A-101 Floor Plan.pdf` across disciplines, sizes log-uniform in
the range (most drawings are 0.5-10 MB). `--large` adds files of `--large-gb` written sparsely,
so gigabytes cost no disk and the disk is not what is measured.
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

from bulkimport.samples import pdf, pdf_frame, write_archive, write_sparse_pdf
from bulkimport.settings import DEFAULT_FILENAME_PATTERN
from bulkimport.source.scan import parse_name


def make_archive(
    folder: Path,
    files: int,
    *,
    min_mb: float = 0.5,
    max_mb: float = 10.0,
    large: int = 0,
    large_gb: float = 2.0,
    seed: int = 0,
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    size_range = {"min_size": int(min_mb * 1e6), "max_size": int(max_mb * 1e6)}
    paths = write_archive(folder, files, seed=seed, **size_range)
    for n in range(large):
        path = folder / f"G-{900 + n} Large Site Survey.pdf"
        write_sparse_pdf(path, f"G-{900 + n}", "Large Site Survey", int(large_gb * 1024**3))
        paths.append(path)
    return paths


def revise(paths: list[Path], days: float = 1.0, seed: int = 1) -> None:
    """A new version of every file, same name and about the same size, dated `days` later."""
    rng = random.Random(seed)
    for path in paths:
        parts = parse_name(path.name, DEFAULT_FILENAME_PATTERN)
        assert parts is not None
        head, tail = pdf_frame(parts.number, parts.title or "", 0)
        padding = max(0, path.stat().st_size - len(head) - len(tail))
        path.write_bytes(pdf(parts.number, parts.title or "", rng.randbytes(padding)))
        later = path.stat().st_mtime + days * 86_400
        os.utime(path, (later, later))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--min-mb", type=float, default=0.5)
    parser.add_argument("--max-mb", type=float, default=10.0)
    parser.add_argument("--large", type=int, default=0)
    parser.add_argument("--large-gb", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    paths = make_archive(
        args.out,
        args.files,
        min_mb=args.min_mb,
        max_mb=args.max_mb,
        large=args.large,
        large_gb=args.large_gb,
        seed=args.seed,
    )
    print(f"{len(paths)} files in {args.out}")  # noqa: T201 - a command-line tool's output


if __name__ == "__main__":
    main()
