"""A deliberately plain aiohttp client for the emulator's own tests: it speaks the documented
protocol by hand, so these tests check the emulator against the contract, not against the
project's client.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from bulkimport.emulator import EmulatorConfig, RunningEmulator, serve

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]
    text: str

    def json(self) -> Any:
        import json

        return json.loads(self.text)


@dataclass
class Procore:
    http: aiohttp.ClientSession
    emu: RunningEmulator
    token: str = ""
    client_id: str = "emulator-client-id"
    client_secret: str = "emulator-client-secret"
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def company_id(self) -> int:
        return int(self.info["company_id"])

    @property
    def project_id(self) -> int:
        return int(self.info["project_id"])

    @property
    def area_ids(self) -> list[int]:
        return [a["id"] for a in self.info["drawing_areas"]]

    @property
    def set_ids(self) -> list[int]:
        return [s["id"] for s in self.info["drawing_sets"]]

    async def login(self) -> Procore:
        reply = await self.raw(
            "POST",
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
        )
        assert reply.status == 200, reply.text
        self.token = reply.json()["access_token"]
        return self

    async def as_other_user(self) -> Procore:
        other = Procore(
            self.http,
            self.emu,
            client_id="emulator-other-client-id",
            client_secret="emulator-other-secret",
            info=self.info,
        )
        return await other.login()

    async def raw(self, method: str, path: str, **kwargs: Any) -> Reply:
        url = path if path.startswith("http") else self.emu.api_base + path
        async with self.http.request(method, url, **kwargs) as response:
            return Reply(response.status, CIMultiDict(response.headers), await response.text())

    async def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Procore-Company-Id": str(self.company_id),
            **kwargs.pop("headers", {}),
        }
        return await self.raw(method, path, headers=headers, **kwargs)

    async def state(self, *sections: str) -> dict[str, Any]:
        query = f"?sections={','.join(sections)}" if sections else ""
        reply = await self.raw("GET", f"/_emulator/state{query}")
        assert reply.status == 200, reply.text
        result: dict[str, Any] = reply.json()
        return result

    async def advance(self, seconds: float) -> None:
        reply = await self.raw("POST", "/_emulator/clock", json={"advance": seconds})
        assert reply.status == 200, reply.text

    async def create_upload(
        self, filename: str = "A-101 Plan.pdf", *, path: str | None = None
    ) -> dict[str, Any]:
        path = path or f"/rest/v1.1/projects/{self.project_id}/uploads"
        reply = await self.call("POST", path, json={"response_filename": filename})
        assert reply.status == 201, reply.text
        ticket: dict[str, Any] = reply.json()
        return ticket

    async def post_file(
        self,
        ticket: dict[str, Any],
        content: bytes = PDF,
        *,
        fields: list[tuple[str, str]] | None = None,
        after_file: tuple[tuple[str, str], ...] = (),
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """The documented storage POST: every field in order, then `file`."""
        form = aiohttp.FormData()
        for name, value in fields if fields is not None else ticket["fields"].items():
            form.add_field(name, value)
        form.add_field("file", content, filename="drawing.pdf", content_type="application/pdf")
        for name, value in after_file:
            form.add_field(name, value)
        return await self.raw("POST", ticket["url"], data=form, headers=headers or {})

    async def uploaded(self, filename: str = "A-101 Plan.pdf", content: bytes = PDF) -> str:
        ticket = await self.create_upload(filename)
        reply = await self.post_file(ticket, content)
        assert reply.status == 204, reply.text
        return str(ticket["uuid"])

    async def create_drawing(self, number: str, area_id: int | None = None) -> int:
        area = area_id or self.area_ids[0]
        reply = await self.call(
            "POST",
            f"/rest/v1.1/drawing_areas/{area}/drawings",
            json={"drawing": {"number": number, "drawing_discipline": {"name": "Architectural"}}},
        )
        assert reply.status == 201, reply.text
        return int(reply.json()["id"])

    async def drawing_upload(
        self, imports: list[dict[str, Any]], *, token: str | None = None, wrap: bool = True
    ) -> Reply:
        body = {
            "drawing_area_id": self.area_ids[0],
            "drawing_set_id": self.set_ids[0],
            "drawing_log_imports": imports,
        }
        headers = {"Idempotency-Token": token} if token else {}
        return await self.call(
            "POST",
            f"/rest/v1.1/projects/{self.project_id}/drawing_uploads",
            json={"drawing_upload": body} if wrap else body,
            headers=headers,
        )


@asynccontextmanager
async def running(**config: Any) -> AsyncIterator[Procore]:
    """An emulator served on 127.0.0.1 with `config`, and a logged-in plain client."""
    config.setdefault("processing_delay", 0.0)
    async with serve(EmulatorConfig(**config)) as emu, aiohttp.ClientSession() as http:
        procore = Procore(http, emu, info=emu.startup_info())
        yield await procore.login()


@pytest.fixture
async def procore() -> AsyncIterator[Procore]:
    async with running() as p:
        yield p


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
