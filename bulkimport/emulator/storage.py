"""The storage service's browser-POST endpoint, as S3 answers it.

`POST /{bucket}` with multipart form data: every field of the upload's `fields`, then `file`.
Fields after `file` are ignored, so a `key` sent after the file counts as missing. The bytes go
to a file in the storage folder, hashed on the way, never held in memory whole.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import BinaryIO

import anyio
from aiohttp import BodyPartReader, web

from .replies import s3_error
from .sigv4 import check_form
from .world import Upload, World

CHUNK = 256 * 1024
MAX_FORM_FIELDS_BYTES = 20 * 1024  # S3's limit on the form data before the file


class BlobSink:
    """Writes one incoming file and hashes it; called from a worker thread, chunk by chunk."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / f".incoming-{secrets.token_hex(8)}"
        self._file: BinaryIO = self.path.open("wb")
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self.size = 0
        self.head = b""

    def write(self, chunk: bytes) -> None:
        if len(self.head) < 8:
            self.head = (self.head + chunk[:8])[:8]
        self._md5.update(chunk)
        self._sha256.update(chunk)
        self._file.write(chunk)
        self.size += len(chunk)

    def keep(self, final: Path) -> tuple[str, str]:
        """Close, move into place, and give (md5 hex, sha256 hex)."""
        self._file.close()
        os.replace(self.path, final)
        return self._md5.hexdigest(), self._sha256.hexdigest()

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


async def _read_field(part: BodyPartReader, budget: int) -> str | None:
    """A form field's text, or None when the fields so far pass S3's 20 KB limit."""
    raw = await part.read(decode=False)
    if len(raw) > budget:
        return None
    return raw.decode("utf-8", errors="replace")


async def _stream(world: World, part: BodyPartReader, sink: BlobSink, max_bytes: int) -> bool:
    """Copy the file part into `sink` at no more than the WAN model's bandwidth.

    Returns False as soon as the file is larger than `max_bytes`.
    """
    bandwidth = world.config.wan.s3_bandwidth
    started = time.monotonic()
    while chunk := await part.read_chunk(CHUNK):
        if sink.size + len(chunk) > max_bytes:
            return False
        await anyio.to_thread.run_sync(sink.write, chunk)
        if bandwidth is not None:
            ahead = sink.size / bandwidth - (time.monotonic() - started)
            if ahead > 0:
                await anyio.sleep(ahead)
    return True


def routes(world: World) -> web.RouteTableDef:
    table = web.RouteTableDef()
    known_keys = {world.s3_access_key: world.s3_secret}

    def reject(status: int, code: str, message: str, kind: str) -> web.Response:
        world.ledger.reject(kind, message, violation=kind != "policy_expired")
        return s3_error(status, code, message)

    @table.post("/{bucket}")
    async def post_object(request: web.Request) -> web.Response:
        bucket = request.match_info["bucket"]
        if "Authorization" in request.headers:
            return reject(
                400, "InvalidArgument", "Only one auth mechanism allowed", "authorization_to_s3"
            )
        if request.content_length is None:
            return reject(
                411,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.",
                "missing_content_length",
            )
        if request.content_type != "multipart/form-data":
            return reject(
                412,
                "PreconditionFailed",
                "Bucket POST must be of the enclosure-type multipart/form-data",
                "not_multipart",
            )
        if bucket not in world.buckets():
            return reject(404, "NoSuchBucket", "The specified bucket does not exist", "no_bucket")

        form: dict[str, str] = {}
        budget = MAX_FORM_FIELDS_BYTES
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                return reject(400, "InvalidArgument", "Nested multipart", "nested_multipart")
            if part.name != "file":
                value = await _read_field(part, budget)
                if value is None:
                    return reject(
                        400,
                        "MaxPostPreDataLengthExceeded",
                        "Your POST request fields preceding the upload file were too large.",
                        "fields_too_large",
                    )
                budget -= len(value.encode())
                form[part.name or ""] = value
                continue
            return await _accept_file(request, bucket, form, part)
        return reject(
            400,
            "InvalidArgument",
            "POST requires exactly one file upload per request.",
            "missing_file",
        )

    async def _accept_file(
        request: web.Request, bucket: str, form: dict[str, str], part: BodyPartReader
    ) -> web.Response:
        key = next((v for k, v in form.items() if k.lower() == "key"), None)
        if not key:
            return reject(
                400,
                "InvalidArgument",
                "Bucket POST must contain a field named 'key'.  If it is specified, "
                "please check the order of the fields.",
                "missing_key",
            )
        rejection, size_range = check_form(form, bucket, world.clock.now(), known_keys)
        if rejection is not None:
            return reject(rejection.status, rejection.code, rejection.message, rejection.kind)
        upload = world.uploads.get(key.rsplit("/", 1)[-1])
        if upload is None or upload.key != key:
            return reject(403, "AccessDenied", "Access Denied", "unknown_key")
        low, high = size_range or (0, world.config.max_upload_bytes)
        sink = await anyio.to_thread.run_sync(BlobSink, world.storage_dir)
        kept = False
        try:
            if not await _stream(world, part, sink, high):
                return reject(
                    400,
                    "EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed size",
                    "entity_too_large",
                )
            if sink.size < low:
                return reject(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                    "entity_too_small",
                )
            md5, sha256 = await anyio.to_thread.run_sync(sink.keep, world.storage_dir / upload.uuid)
            kept = True
        finally:
            if not kept:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(sink.discard)
        _record(world, upload, sink, md5, sha256)
        etag = f'"{md5}"'
        return web.Response(status=204, headers={"ETag": etag, "Location": f"{request.url}/{key}"})

    return table


def _record(world: World, upload: Upload, sink: BlobSink, md5: str, sha256: str) -> None:
    upload.size = sink.size
    upload.sha256 = sha256
    upload.etag = md5
    upload.head = sink.head
    upload.posted_at = world.clock.now()
    upload.post_count += 1
