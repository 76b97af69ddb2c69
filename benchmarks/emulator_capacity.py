"""How much the emulator itself can move on this machine.

Engine benchmarks are only meaningful while the emulator is not the bottleneck, so this measures
its ceiling: the emulator runs as its own process (`bulkimport emulator --quiet`) and a minimal
aiohttp client creates uploads and POSTs files to storage at a fixed concurrency.

    python benchmarks/emulator_capacity.py [--files 400] [--size-mb 2] [--concurrency 8]

Prints one JSON object: files/s, MB/s, and API calls/s for Create Upload.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import aiohttp
import anyio


async def one_file(
    http: aiohttp.ClientSession, info: dict[str, Any], token: str, payload: bytes, n: int
) -> float:
    """Create an upload, POST the file; return the seconds Create Upload took."""
    started = time.perf_counter()
    async with http.post(
        f"{info['api_base']}/rest/v1.1/projects/{info['project_id']}/uploads",
        json={"response_filename": f"bench-{n}.pdf"},
        headers={"Authorization": f"Bearer {token}", "Procore-Company-Id": str(info["company_id"])},
    ) as reply:
        reply.raise_for_status()
        ticket = await reply.json()
    api_seconds = time.perf_counter() - started
    form = aiohttp.FormData()
    for name, value in ticket["fields"].items():
        form.add_field(name, value)
    form.add_field("file", payload, filename=f"bench-{n}.pdf", content_type="application/pdf")
    async with http.post(ticket["url"], data=form) as stored:
        if stored.status != 204:
            raise RuntimeError(f"storage answered {stored.status}: {await stored.text()}")
    return api_seconds


async def measure(info: dict[str, Any], files: int, size: int, concurrency: int) -> dict[str, Any]:
    payload = b"%PDF-1.7\n" + os.urandom(size - 9)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        async with http.post(
            f"{info['login_base']}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
            },
        ) as reply:
            token = (await reply.json())["access_token"]
        numbers = iter(range(files))
        api_total = 0.0

        async def worker() -> None:
            nonlocal api_total
            for n in numbers:
                api_total += await one_file(http, info, token, payload, n)

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
        wall = time.perf_counter() - started
    return {
        "files": files,
        "file_mb": size / 1e6,
        "concurrency": concurrency,
        "wall_s": round(wall, 2),
        "files_per_s": round(files / wall, 1),
        "mb_per_s": round(files * size / 1e6 / wall, 1),
        "create_upload_ms_mean": round(api_total / files * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--size-mb", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "bulkimport", "emulator", "--quiet", "--log-format", "json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        info = json.loads(emulator.stdout.readline())
        size = int(args.size_mb * 1e6)
        result = anyio.run(measure, info, args.files, size, args.concurrency)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    print(json.dumps(result))  # noqa: T201 - the benchmark's result is its output


if __name__ == "__main__":
    main()
