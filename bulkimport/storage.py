"""The storage POST: one file streamed to the URL of its ticket.

The body is multipart form data built by hand so its length is known before the first byte:
every field of the ticket verbatim and in order, then `file`, read from disk one chunk at a time
(so memory stays flat whatever the file size) and hashed on the way. No Authorization header:
the policy is the only credential storage accepts.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import AsyncIterator

import aiofiles
import aiohttp

from .errors import PolicyExpired, StorageError
from .models import DrawingFile, Ticket

CHUNK = 1024 * 1024
MIN_RATE = 256 * 1024  # bytes/s: the slowest link a POST's timeout allows for


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


def _s3_detail(text: str) -> tuple[str, str]:
    code = re.search(r"<Code>(.*?)</Code>", text, re.DOTALL)
    message = re.search(r"<Message>(.*?)</Message>", text, re.DOTALL)
    return (
        code.group(1) if code else "Unknown",
        message.group(1) if message else text.strip()[:300] or "no message",
    )


async def post_file(session: aiohttp.ClientSession, ticket: Ticket, file: DrawingFile) -> str:
    """POST `file` with `ticket`; return its sha256. Raises StorageError (PolicyExpired)."""
    content_type, head, tail = multipart_frame(ticket, file.filename)
    digest = hashlib.sha256()
    changed = StorageError(file.rel, None, "Changed", "the file changed while it was uploaded")

    async def body() -> AsyncIterator[bytes]:
        yield head
        async with aiofiles.open(file.path, "rb") as handle:
            remaining = file.size  # exactly the length announced, never more or less
            while remaining > 0:
                chunk = await handle.read(min(CHUNK, remaining))
                if not chunk:
                    raise changed
                digest.update(chunk)
                remaining -= len(chunk)
                yield chunk
            if await handle.read(1):
                raise changed
        yield tail

    timeout = aiohttp.ClientTimeout(
        total=120 + file.size / MIN_RATE, sock_connect=30, sock_read=120
    )
    try:
        async with session.post(
            ticket.url,
            data=body(),
            headers={
                "Content-Type": content_type,
                "Content-Length": str(len(head) + file.size + len(tail)),
            },
            timeout=timeout,
        ) as response:
            text = await response.text()
            status = response.status
    except StorageError:
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        if exc.__cause__ is changed or exc.__context__ is changed:
            raise changed from exc
        raise StorageError(file.rel, None, type(exc).__name__, str(exc) or "no answer") from exc
    except OSError as exc:
        raise StorageError(file.rel, None, "ReadError", exc.strerror or str(exc)) from exc
    if 200 <= status < 300:
        return digest.hexdigest()
    code, message = _s3_detail(text)
    if status == 403 and "expired" in message.lower():
        raise PolicyExpired(file.rel, status, code, message)
    raise StorageError(file.rel, status, code, message)


def retryable(error: StorageError) -> bool:
    """Network trouble and 5xx are worth another attempt; 4xx answers are not."""
    return error.code != "Changed" and (error.status is None or error.status >= 500)
