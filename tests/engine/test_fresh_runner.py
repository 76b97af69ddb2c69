"""A nightly run on a fresh runner (a CI job, a Kubernetes CronJob): the archive is checked out
again into a new folder, so every file has a new mtime, and nothing local survives (no SQLite
file, no status file, no pid file). With the journal in PostgreSQL, the run still knows what
Procore holds: it re-reads the files whose stat changed for their sha256, and sends nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bulkimport.emulator import RunningEmulator
from bulkimport.models import FileState, Plan
from bulkimport.report import exit_code
from bulkimport.samples import write_archive

from .conftest import emulator_state
from .conftest import import_archive as run

pytestmark = pytest.mark.anyio

CREATE_UPLOAD = "POST /rest/v1.1/projects/{project_id}/uploads"


async def test_a_fresh_runner_with_the_postgresql_journal_sends_no_upload(
    emulator: RunningEmulator, tmp_path: Path, postgres_url: str
):
    first = tmp_path / "runner-1" / "src"
    paths = write_archive(first, 30, min_size=1_000, max_size=5_000)
    result = await run(emulator, first, journal=postgres_url)
    assert exit_code(result) == 0
    assert result.states[FileState.VERIFIED] == 30
    uploads = emulator.world.ledger.requests[CREATE_UPLOAD]
    # The next night: another machine, another folder, the files copied afresh (new mtimes,
    # as a checkout gives them), and the first runner's folder gone with it.
    second = tmp_path / "runner-2" / "src"
    for path in paths:
        target = second / path.relative_to(first)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)  # the bytes, not the mtime
        assert target.stat().st_mtime_ns != path.stat().st_mtime_ns
    shutil.rmtree(first.parent)
    before = dict(emulator.world.ledger.requests)
    again = await run(emulator, second, journal=postgres_url)
    assert exit_code(again) == 0
    assert again.stats.planned[Plan.UNCHANGED] == 30
    assert emulator.world.ledger.requests[CREATE_UPLOAD] == uploads  # 0 Create Upload calls
    sent = {k: n - before.get(k, 0) for k, n in emulator.world.ledger.requests.items()}
    assert {k for k, n in sent.items() if n} <= {"POST /oauth/token"}
    # Every file was read once for its sha256 (its stat changed), and its new stat recorded,
    # so the night after reads none.
    assert again.files_opened == 30
    third = await run(emulator, second, journal=postgres_url)
    assert (third.stats.planned[Plan.UNCHANGED], third.files_opened) == (30, 0)
    state = await emulator_state(emulator, "drawing_uploads")
    assert sum(len(du["imports"]) for du in state["drawing_uploads"]) == 30
