"""bulkimport: import large archives of drawing PDFs into Procore's Drawings tool.

The public API is what `__all__` names (the README's "Python API" section shows it in use):

- `run_import(settings, credentials)`: a run, as `bulkimport run` makes it; a `RunResult`.
- `plan_only(settings, credentials=None)`: the dry run; a `PlanSummary`, nothing written or sent.
- `load_settings(path)`, `parse_settings(raw, base)`, `Settings`, `Credentials`: the config.
- The exception tree of `bulkimport.errors`, from `BulkImportError` down.

The names are loaded on first use (PEP 562), so `import bulkimport` stays cheap and loads none
of the engine: the CLI's `--version` and the emulator, which shares this package but imports
nothing of the engine, do not pay for aiohttp, the pipeline or the journal.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers (redundant aliases re-export)
    from bulkimport.dry_run import plan_only as plan_only
    from bulkimport.errors import AuthenticationError as AuthenticationError
    from bulkimport.errors import BulkImportError as BulkImportError
    from bulkimport.errors import ClaimLost as ClaimLost
    from bulkimport.errors import ConfigError as ConfigError
    from bulkimport.errors import DrawingNumberTaken as DrawingNumberTaken
    from bulkimport.errors import FileChanged as FileChanged
    from bulkimport.errors import FileRejected as FileRejected
    from bulkimport.errors import JournalBusy as JournalBusy
    from bulkimport.errors import JournalError as JournalError
    from bulkimport.errors import JournalUnavailable as JournalUnavailable
    from bulkimport.errors import NotFound as NotFound
    from bulkimport.errors import PolicyExpired as PolicyExpired
    from bulkimport.errors import ProcoreError as ProcoreError
    from bulkimport.errors import ProcoreRejected as ProcoreRejected
    from bulkimport.errors import ProcoreUnavailable as ProcoreUnavailable
    from bulkimport.errors import RateLimited as RateLimited
    from bulkimport.errors import RetriesExhausted as RetriesExhausted
    from bulkimport.errors import StorageError as StorageError
    from bulkimport.errors import StorageUnavailable as StorageUnavailable
    from bulkimport.errors import Throttled as Throttled
    from bulkimport.errors import TicketsExpired as TicketsExpired
    from bulkimport.errors import TokenRefused as TokenRefused
    from bulkimport.errors import UnexpectedAnswer as UnexpectedAnswer
    from bulkimport.outcome import PlanSummary as PlanSummary
    from bulkimport.outcome import RunResult as RunResult
    from bulkimport.pipeline import run_import as run_import
    from bulkimport.settings import Credentials as Credentials
    from bulkimport.settings import Settings as Settings
    from bulkimport.settings import load_settings as load_settings
    from bulkimport.settings import parse_settings as parse_settings

__version__ = version("bulkimport")

__all__ = (
    "AuthenticationError",
    "BulkImportError",
    "ClaimLost",
    "ConfigError",
    "Credentials",
    "DrawingNumberTaken",
    "FileChanged",
    "FileRejected",
    "JournalBusy",
    "JournalError",
    "JournalUnavailable",
    "NotFound",
    "PlanSummary",
    "PolicyExpired",
    "ProcoreError",
    "ProcoreRejected",
    "ProcoreUnavailable",
    "RateLimited",
    "RetriesExhausted",
    "RunResult",
    "Settings",
    "StorageError",
    "StorageUnavailable",
    "Throttled",
    "TicketsExpired",
    "TokenRefused",
    "UnexpectedAnswer",
    "__version__",
    "load_settings",
    "parse_settings",
    "plan_only",
    "run_import",
)

# Where each lazy name is defined. tests/test_public_api.py checks that this, `__all__` and the
# imports above name the same things.
_HOMES = {
    name: module
    for module, names in {
        "bulkimport.pipeline": ("run_import",),
        "bulkimport.dry_run": ("plan_only",),
        "bulkimport.outcome": ("RunResult", "PlanSummary"),
        "bulkimport.settings": ("Settings", "Credentials", "load_settings", "parse_settings"),
        "bulkimport.errors": (
            "BulkImportError",
            "ConfigError",
            "AuthenticationError",
            "JournalError",
            "JournalBusy",
            "JournalUnavailable",
            "ClaimLost",
            "FileRejected",
            "ProcoreError",
            "ProcoreRejected",
            "ProcoreUnavailable",
            "StorageError",
            "PolicyExpired",
            "DrawingNumberTaken",
            "NotFound",
            "UnexpectedAnswer",
            "TokenRefused",
            "RateLimited",
            "Throttled",
            "RetriesExhausted",
            "StorageUnavailable",
            "TicketsExpired",
            "FileChanged",
        ),
    }.items()
    for name in names
}


# Hidden from type checkers, which would otherwise take any misspelt attribute for `Any`: they
# see the names through the imports above.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        """A public name, imported from its module on first use. Anything else is an
        AttributeError, which `from bulkimport import logs` needs to fall back to the submodule."""
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value  # later look-ups find it without coming here
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_HOMES})
