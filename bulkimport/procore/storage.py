"""The storage POST: one file streamed to the URL of its ticket.

The body is multipart form data built by hand so its length is known before the first byte
(storage refuses chunked bodies):
every field of the ticket verbatim and in order, then `file`, read from disk one chunk at a time
(so memory stays flat whatever the file size) and hashed on the way. No Authorization header:
the policy is the only credential storage accepts. What goes wrong comes out of the storage
boundary (`boundary.py`) as a StorageError of the kind that says what to do about it.
"""

from __future__ import annotations

import hashlib
import secrets

import aiohttp
from aiofiles.threadpool import wrap
from aiofiles.threadpool.binary import AsyncBufferedReader
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

from bulkimport.config_values import plain_http_allowed
from bulkimport.errors import FileChanged, StorageError
from bulkimport.models import DrawingFile, Ticket
from bulkimport.procore.boundary import storage_errors, storage_reply

CHUNK = 1024 * 1024
MIN_RATE = 256 * 1024  # bytes/s: the slowest link a POST's timeout allows for


def post_seconds(size: int) -> float:
    """The longest one POST of `size` bytes may take: its timeout."""
    return 120 + size / MIN_RATE


def _quote(name: str) -> str:
    """A form-data filename, escaped as browsers do (HTML's multipart rules)."""
    return name.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def multipart_frame(ticket: Ticket, filename: str) -> tuple[str, bytes, bytes]:
    """(content type, bytes before the file's bytes, bytes after them)."""
    boundary = f"bulkimport-{secrets.token_hex(16)}"
    head = bytearray()
    for name, value in ticket.fields:
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
        ).encode()
        head += value.encode() + b"\r\n"
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{_quote(filename)}"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    return (
        f"multipart/form-data; boundary={boundary}",
        bytes(head),
        f"\r\n--{boundary}--\r\n".encode(),
    )


class FileBody(Payload):
    """The whole multipart body, the file's bytes read from `handle` as they are sent.

    The caller owns the handle. aiohttp may cancel or abandon the task that writes a body when
    the answer comes early (a 403, a dropped connection); a file opened inside that task could
    then be left open, a handle opened and closed around the request cannot.
    """

    def __init__(self, ticket: Ticket, file: DrawingFile, handle: AsyncBufferedReader) -> None:
        content_type, self._head, self._tail = multipart_frame(ticket, file.filename)
        super().__init__(None, content_type=content_type)
        self._file = file
        self._handle = handle
        self._size = len(self._head) + file.size + len(self._tail)
        self.digest = hashlib.sha256()

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a streamed file body has no text form")

    async def write(self, writer: AbstractStreamWriter) -> None:
        await writer.write(self._head)
        remaining = self._file.size  # exactly the length announced, never more or less
        while remaining > 0:
            chunk = await self._handle.read(min(CHUNK, remaining))
            if not chunk:
                raise FileChanged(self._file.rel)
            self.digest.update(chunk)
            remaining -= len(chunk)
            await writer.write(chunk)
        if await self._handle.read(1):
            raise FileChanged(self._file.rel)
        await writer.write(self._tail)


async def post_file(session: aiohttp.ClientSession, ticket: Ticket, file: DrawingFile) -> str:
    """POST `file` with `ticket`; return its sha256. Raises a StorageError: PolicyExpired,
    StorageUnavailable (worth another attempt), FileChanged, or the refusal itself."""
    if not plain_http_allowed(ticket.url):
        # The form carries the upload's policy and signature: never over plain http.
        raise StorageError(
            file.rel, None, "InsecureURL", "Procore gave a plain-http storage URL; refused"
        )
    with storage_errors(file.rel):
        # Opened here, not in a thread: opening is instant, and a threaded open whose waiter
        # is cancelled hands its file to nobody.
        handle = file.path.open("rb")
    body = FileBody(ticket, file, wrap(handle))
    timeout = aiohttp.ClientTimeout(total=post_seconds(file.size), sock_connect=30, sock_read=120)
    try:
        with storage_errors(file.rel):
            async with session.post(ticket.url, data=body, timeout=timeout) as response:
                text = await response.text()
                status = response.status
    finally:
        handle.close()
    storage_reply(file.rel, status, text)
    return body.digest.hexdigest()
