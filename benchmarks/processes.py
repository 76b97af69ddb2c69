"""The processes a benchmark runs: the emulator, and the engine with its peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PEAK_RSS = Path(__file__).resolve().parent / "peak_rss.py"  # charges the engine its own memory


@dataclass(frozen=True, slots=True)
class EngineRun:
    wall_s: float
    peak_rss_mb: float
    exit_code: int
    report: dict[str, Any]

    @property
    def totals(self) -> dict[str, Any]:
        totals: dict[str, Any] = self.report.get("totals", {})
        return totals

    def rest_requests(self) -> int:
        requests = self.totals.get("procore_requests", {})
        return sum(n for endpoint, n in requests.items() if "/oauth/" not in endpoint)

    def failed(self) -> int:
        return sum(1 for f in self.report.get("files", []) if f["state"] == "failed")


class Emulator:
    """`bulkimport emulator` in its own process."""

    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bulkimport",
                "emulator",
                "--quiet",
                "--log-format",
                "json",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        self.info: dict[str, Any] = json.loads(self.process.stdout.readline())

    def state(self, *sections: str) -> dict[str, Any]:
        url = f"{self.info['state_url']}?sections={','.join(sections)}"
        with urllib.request.urlopen(url, timeout=120) as reply:
            result: dict[str, Any] = json.load(reply)
            return result

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def emulator(*args: str) -> Iterator[Emulator]:
    running = Emulator(list(args))
    try:
        yield running
    finally:
        running.stop()


def toml(raw: dict[str, dict[str, Any]]) -> str:
    return "".join(
        f"[{section}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
        for section, values in raw.items()
    )


def run_engine(
    emu: Emulator,
    root: Path,
    work: Path,
    *,
    dry_run: bool = False,
    source: dict[str, Any] | None = None,
    folders: list[str] | None = None,
    **engine: Any,
) -> EngineRun:
    """`bulkimport run` as its own process, started by peak_rss.py so that the peak RSS the
    kernel reports is the engine's own. `source` adds to the [source] section; `folders`, one
    for each of the emulator's projects, make it a run over several ([[targets]])."""
    info = emu.info
    config = work / "bulkimport.toml"
    place = {} if folders else {"project_id": info["project_id"]}
    text = toml(
        {
            "procore": {
                "api_base": info["api_base"],
                "login_base": info["login_base"],
                "company_id": info["company_id"],
                **place,
            },
            "source": {"root": str(root), **(source or {})},
            "target": {"drawing_area": "Building A", "drawing_set": "Issued for Construction"},
            "engine": {"journal": str(work / "journal.sqlite3"), **engine},
        }
    )
    ids = info["project_ids"][: len(folders or [])]
    for project, folder in zip(ids, folders or [], strict=True):  # enough projects, or fail
        text += f"[[targets]]\nproject_id = {project}\nfolder = {json.dumps(folder)}\n"
    config.write_text(text)
    report = work / "report.json"
    report.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bulkimport", "run", "--config", str(config)]
    command += ["--dry-run"] if dry_run else ["--report", str(report), "--no-progress"]
    env = {
        **os.environ,
        "PROCORE_CLIENT_ID": info["client_id"],
        "PROCORE_CLIENT_SECRET": info["client_secret"],
    }
    rss = work / "peak_rss"
    started = time.perf_counter()
    with (work / "engine.log").open("ab") as log:
        done = subprocess.run(
            [sys.executable, str(PEAK_RSS), str(rss), "--", *command],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
            check=False,
        )
    wall = time.perf_counter() - started
    body = json.loads(report.read_text()) if report.exists() else {}
    return EngineRun(wall, float(rss.read_text()), done.returncode, body)


class Neighbour(threading.Thread):
    """Another integration on the engine's credential: `per_s` calls a second to an endpoint
    the engine never calls, at a steady pace whatever the answers say."""

    def __init__(self, info: dict[str, Any], per_s: float) -> None:
        super().__init__(daemon=True)
        self.info, self.per_s = info, per_s
        self.done = threading.Event()
        self.sent = 0
        self.refused = 0  # 429s met

    def run(self) -> None:
        info = self.info
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
            }
        ).encode()
        with urllib.request.urlopen(f"{info['login_base']}/oauth/token", form, timeout=30) as r:
            token = json.load(r)["access_token"]
        call = urllib.request.Request(
            f"{info['api_base']}/rest/v1.0/projects/{info['project_id']}/drawing_areas",
            headers={
                "Authorization": f"Bearer {token}",
                "Procore-Company-Id": str(info["company_id"]),
            },
        )
        due = time.perf_counter()
        while not self.done.is_set():
            try:
                with urllib.request.urlopen(call, timeout=30) as reply:
                    reply.read()
                self.sent += 1
            except urllib.error.HTTPError as exc:
                self.refused += exc.code == 429
            due += 1 / self.per_s
            self.done.wait(max(0.0, due - time.perf_counter()))


@contextmanager
def spending_neighbour(info: dict[str, Any], per_s: float) -> Iterator[Neighbour]:
    other = Neighbour(info, per_s)
    other.start()
    try:
        yield other
    finally:
        other.done.set()
        other.join(timeout=60)
