"""bulkimport: import large archives of drawing PDFs into Procore's Drawings tool."""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("bulkimport")

__all__ = ["__version__"]
