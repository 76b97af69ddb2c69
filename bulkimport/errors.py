"""Every error bulkimport raises, split by who failed and whether trying again can help.

BulkImportError
├── ConfigError              the configuration or the command line is wrong (exit 2)
├── AuthenticationError      Procore refused the credentials, or a renewed token (exit 3)
├── JournalError             the journal cannot be opened or is not ours (exit 2)
│   ├── JournalBusy          another run holds it (exit 3)
│   └── JournalUnavailable   its database server cannot be reached, or refuses us (exit 3)
├── FileRejected             one source file cannot be imported (the run goes on)
├── ProcoreError             a Procore call failed: endpoint, status, Procore's message
│   ├── ProcoreRejected      4xx other than 401/429: the request itself is wrong; not retried
│   │   ├── DrawingNumberTaken  Create Drawing: the area has that number already
│   │   └── NotFound         404: gone, or hidden from this account (Procore does not say)
│   ├── UnexpectedAnswer     a 2xx answer without the shape the reference documents: Procore
│   │                        may have done what was asked, so nothing is taken as refused
│   ├── TokenRefused         401 on a call with a token: renewed once, then AuthenticationError
│   └── ProcoreUnavailable   the network, a timeout or a 5xx: retried with backoff
│       ├── RateLimited      429: every caller waits for Retry-After or the window's Reset
│       ├── Throttled        503 with Retry-After: every caller waits that long
│       └── RetriesExhausted still failing when the retries are spent: what callers see
└── StorageError             the storage POST failed: file, status, S3's code and message;
    │                        a 4xx answer or a URL refused here: not retried
    ├── StorageUnavailable   no answer, a timeout, a 5xx, or the file unreadable for the POST:
    │                        retried with backoff
    ├── PolicyExpired        the upload's policy expired: retried at once with a new ticket
    ├── TicketsExpired       the policy expired on every ticket the retries allowed: given up
    └── FileChanged          the file changed while it was sent: not retried

aiohttp's exceptions never pass `bulkimport.procore.boundary`, which turns them and HTTP
answers into these; `bulkimport.procore.retry` decides what each is worth by its type alone.
"""

from __future__ import annotations

from collections.abc import Mapping
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


class JournalUnavailable(JournalError):
    """The journal's PostgreSQL server cannot be reached or refused the connection: nothing
    about the run is wrong, so it may start once the server answers."""


class ClaimLost(JournalError):
    """Another worker took over files this worker held (its lease ran out while it was
    frozen or cut off from the journal): it stops without sending them. Nothing is wrong with
    the run: the other worker imports them, and this one may be started again."""


class FileRejected(BulkImportError):
    """A source file that cannot be imported, with the reason a person can act on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ProcoreError(BulkImportError):
    def __init__(
        self,
        endpoint: str,
        status: int | None,
        message: str,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        where = f"{endpoint} answered {status}" if status is not None else f"{endpoint} failed"
        super().__init__(f"{where}: {message}")
        self.endpoint = endpoint
        self.status = status
        self.message = message
        self.body = body
        self.retry_after = retry_after  # seconds the answer asked callers to wait, if it said


class ProcoreRejected(ProcoreError):
    """`entries`: Procore's reasons per entry of a batch it refused, by index, when it named
    any (a 422 whose errors name `drawing_log_imports[i]`); empty when it named none."""

    def __init__(
        self,
        endpoint: str,
        status: int | None,
        message: str,
        body: Any = None,
        entries: Mapping[int, str] | None = None,
    ) -> None:
        super().__init__(endpoint, status, message, body)
        self.entries: Mapping[int, str] = entries or {}


class NotFound(ProcoreRejected):
    pass


class UnexpectedAnswer(ProcoreError):
    pass


class DrawingNumberTaken(ProcoreRejected):
    pass


class TokenRefused(ProcoreError):
    pass


class ProcoreUnavailable(ProcoreError):
    pass


class RateLimited(ProcoreUnavailable):
    pass


class Throttled(ProcoreUnavailable):
    pass


class RetriesExhausted(ProcoreUnavailable):
    pass


class StorageError(BulkImportError):
    def __init__(self, path: str, status: int | None, code: str, message: str) -> None:
        super().__init__(f"{path}: storage answered {status} {code}: {message}")
        self.path = path
        self.status = status
        self.code = code
        self.message = message


class StorageUnavailable(StorageError):
    pass


class PolicyExpired(StorageError):
    pass


class TicketsExpired(StorageError):
    """The last ticket's answer, and how many tickets expired before a POST landed."""

    def __init__(self, last: PolicyExpired, tickets: int) -> None:
        super().__init__(
            last.path,
            last.status,
            last.code,
            f"the upload policy expired on each of {tickets} tickets before its POST landed "
            f"(storage said: {last.message})",
        )
        self.tickets = tickets


class FileChanged(StorageError):
    def __init__(self, path: str) -> None:
        super().__init__(path, None, "Changed", "the file changed while it was read")
