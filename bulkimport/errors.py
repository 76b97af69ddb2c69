"""Every error bulkimport raises, split by who failed and whether trying again can help.

BulkImportError
├── ConfigError              the configuration or the command line is wrong (exit 2)
├── AuthenticationError      Procore refused the credentials (exit 3)
├── JournalError             the journal cannot be opened or is not ours
├── FileRejected             one source file cannot be imported (the run goes on)
├── ProcoreError             a Procore call failed: endpoint, status, Procore's message
│   ├── ProcoreRejected      4xx other than 401/429: the request itself is wrong
│   └── ProcoreUnavailable   5xx, 429 or the network, still failing after the retries
└── StorageError             the storage POST failed: file, status, S3's code and message
    └── PolicyExpired        the upload's policy expired; a new upload is needed
"""

from __future__ import annotations

from typing import Any


class BulkImportError(Exception):
    """Base of every bulkimport error."""


class ConfigError(BulkImportError):
    pass


class AuthenticationError(BulkImportError):
    pass


class JournalError(BulkImportError):
    pass


class JournalBusy(JournalError):
    pass


class FileRejected(BulkImportError):
    """A source file that cannot be imported, with the reason a person can act on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ProcoreError(BulkImportError):
    def __init__(self, endpoint: str, status: int | None, message: str, body: Any = None) -> None:
        where = f"{endpoint} answered {status}" if status is not None else f"{endpoint} failed"
        super().__init__(f"{where}: {message}")
        self.endpoint = endpoint
        self.status = status
        self.message = message
        self.body = body


class ProcoreRejected(ProcoreError):
    pass


class ProcoreUnavailable(ProcoreError):
    pass


class StorageError(BulkImportError):
    def __init__(self, path: str, status: int | None, code: str, message: str) -> None:
        super().__init__(f"{path}: storage answered {status} {code}: {message}")
        self.path = path
        self.status = status
        self.code = code
        self.message = message


class PolicyExpired(StorageError):
    pass
