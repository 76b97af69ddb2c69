"""What a user would otherwise write, measured on the same data and emulator as the engine.

naive: the tutorial flow one file at a time (Create Drawing, Create Upload, POST the file,
       one Create Drawing Upload per file), as most integration scripts do it.
limit: the storage POSTs alone, with tickets issued beforehand, at a given concurrency, in a
       minimal aiohttp loop: the most this machine and emulator can move.

Both are plain aiohttp, deliberately apart from the engine's code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from bulkimport.source.scan import parse_name


@dataclass(frozen=True, slots=True)
class Measured:
    files: int
    seconds: float

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds if self.seconds else 0.0


class Procore:
    """Just enough of the API for the baselines."""

    def __init__(self, http: aiohttp.ClientSession, info: dict[str, Any]) -> None:
        self.http = http
        self.info = info
        self.headers: dict[str, str] = {}

    async def login(self) -> None:
        async with self.http.post(
            f"{self.info['login_base']}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.info["client_id"],
                "client_secret": self.info["client_secret"],
            },
        ) as reply:
            token = (await reply.json())["access_token"]
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Procore-Company-Id": str(self.info["company_id"]),
        }

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(
            f"{self.info['api_base']}{path}", json=body, headers=self.headers
        ) as reply:
            if reply.status >= 300:
                raise RuntimeError(f"{path} answered {reply.status}: {await reply.text()}")
            result: dict[str, Any] = await reply.json()
            return result

    async def ticket(self, filename: str) -> dict[str, Any]:
        return await self.post(
            f"/rest/v1.1/projects/{self.info['project_id']}/uploads",
            {"response_filename": filename},
        )

    async def store(self, ticket: dict[str, Any], path: Path) -> None:
        form = aiohttp.FormData()
        for name, value in ticket["fields"].items():
            form.add_field(name, value)
        with path.open("rb") as handle:
            form.add_field("file", handle, filename=path.name, content_type="application/pdf")
            async with self.http.post(ticket["url"], data=form) as reply:
                if reply.status != 204:
                    raise RuntimeError(f"storage answered {reply.status}: {await reply.text()}")


async def naive(info: dict[str, Any], paths: list[Path], area_id: int, set_id: int) -> Measured:
    async with aiohttp.ClientSession() as http:
        procore = Procore(http, info)
        await procore.login()
        started = time.perf_counter()
        for path in paths:
            parts = parse_name(path.name, r"^(?P<number>[A-Z]+-\d+)")
            assert parts is not None
            drawing = await procore.post(
                f"/rest/v1.1/drawing_areas/{area_id}/drawings",
                {"drawing": {"number": parts.number, "drawing_discipline": {"name": "General"}}},
            )
            ticket = await procore.ticket(path.name)
            await procore.store(ticket, path)
            await procore.post(
                f"/rest/v1.1/projects/{info['project_id']}/drawing_uploads",
                {
                    "drawing_upload": {
                        "drawing_area_id": area_id,
                        "drawing_set_id": set_id,
                        "drawing_log_imports": [
                            {
                                "upload_uuid": ticket["uuid"],
                                "drawing_id": drawing["id"],
                                "default_revision": "0",
                                "drawing_date": "2026-01-01",
                            }
                        ],
                    }
                },
            )
        return Measured(len(paths), time.perf_counter() - started)


async def limit(info: dict[str, Any], paths: list[Path], concurrency: int) -> Measured:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        procore = Procore(http, info)
        await procore.login()
        tickets: dict[Path, dict[str, Any]] = {}

        async def issue(path: Path) -> None:
            tickets[path] = await procore.ticket(path.name)

        async with anyio.create_task_group() as tg:  # issued before the clock starts
            for path in paths:
                tg.start_soon(issue, path)
        work = iter((tickets[p], p) for p in paths)
        started = time.perf_counter()

        async def worker() -> None:
            for ticket, path in work:
                await procore.store(ticket, path)

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
        return Measured(len(paths), time.perf_counter() - started)
