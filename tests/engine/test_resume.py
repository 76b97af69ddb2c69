"""A run killed with SIGKILL part-way, then run again, imports every file exactly once: with
the journal in a SQLite file, and in a PostgreSQL database."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import pytest

from bulkimport.emulator import EmulatorConfig, Wan, serve
from bulkimport.models import Plan
from bulkimport.pipeline import run_import
from bulkimport.report import exit_code
from bulkimport.samples import write_archive
from tests.journals import JournalPlace

from .conftest import (
    CREDENTIALS,
    config_dict,
    emulator_state,
    make_settings,
    run_command,
    run_env,
    wait_for,
    write_config,
)
from .test_run import assert_exactly_once

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("kill_after_posts", [5, 45, 110])
async def test_killed_run_resumes_to_exactly_once(
    tmp_path: Path, kill_after_posts: int, journal_location: JournalPlace
):
    config = EmulatorConfig(processing_delay=0.2, wan=Wan(s3_latency=0.02, api_latency=0.005))
    async with serve(config) as emu:
        paths = write_archive(tmp_path / "src", 120, min_size=1_000, max_size=8_000)
        journal = journal_location.setting
        raw = config_dict(emu, tmp_path / "src", batch_size=20, upload_workers=4, journal=journal)
        write_config(tmp_path / "bulkimport.toml", raw)
        command = run_command(tmp_path / "bulkimport.toml")
        async with await anyio.open_process(command, env=run_env()) as process:
            await wait_for(emu, "POST /{bucket}", kill_after_posts)
            process.send_signal(signal.SIGKILL)
            await process.wait()
        assert process.returncode == -signal.SIGKILL
        before = (await emulator_state(emu, "uploads"))["uploads"]
        posted_before = {u["uuid"] for u in before if u["posted"]}
        # Every upload the killed run asked for. A POST whose body had all arrived when the
        # process died may still be recorded by the emulator after this snapshot: it is the
        # killed run's all the same, and must not count as one the resumed run sent.
        asked_before = {u["uuid"] for u in before}
        finished = finished_uploads(journal_location)
        assert set(finished.values()) <= posted_before

        result = await run_import(
            make_settings(emu, tmp_path / "src", batch_size=20, journal=journal),
            CREDENTIALS,
            progress=False,
        )
        assert exit_code(result) == 0
        assert result.stats.planned[Plan.NEW] == 0  # every file was in the journal already
        state = await assert_exactly_once(emu, paths)
        # Finished uploads were not sent again: only those cut off mid-flight could be.
        posted = [u for u in state["uploads"] if u["posted"]]
        assert len(posted) <= len(paths) + 4
        assert all(u["post_count"] == 1 for u in posted)
        # Each upload the killed run journalled as finished is the one its file was imported
        # with, and every other file was uploaded once more: no more, no fewer.
        attached = {u["uuid"] for u in posted if u["attached_to"] is not None}
        assert set(finished.values()) <= attached
        posted_again = {u["uuid"] for u in posted} - asked_before
        assert len(posted_again) == len(paths) - len(finished)
        assert result.stats.uploaded == len(posted_again)


def finished_uploads(journal: JournalPlace) -> dict[str, str]:
    """rel -> upload uuid, for the files the journal says reached storage."""
    rows = journal.rows(
        "SELECT rel, upload_uuid FROM files WHERE upload_uuid IS NOT NULL AND state IN"
        " ('uploaded', 'batched', 'imported', 'verified', 'needs_review')"
    )
    return dict(rows)
