"""Several workers on one migration (`engine.workers = "shared"`): processes with their own
credentials share a PostgreSQL journal, claim files under a lease, and take over what a worker
killed with SIGKILL held; every file is imported exactly once, no drawing is created twice."""

from __future__ import annotations

import json
import signal
from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process

from bulkimport.emulator import EmulatorConfig, RunningEmulator, serve
from bulkimport.errors import ConfigError, JournalBusy
from bulkimport.journal import claims
from bulkimport.journal.claims import Worker
from bulkimport.journal.store import Journal
from bulkimport.models import FileState
from bulkimport.pipeline import run_import
from bulkimport.samples import write_archive
from bulkimport.settings import Credentials, parse_settings
from bulkimport.workers import worker_for
from tests.journals import JournalPlace

from .conftest import (
    CREDENTIALS,
    advance_clock,
    config_dict,
    emulator_state,
    make_settings,
    report_of,
    run_command,
    run_env,
    wait_for,
    write_config,
    write_pdf,
)
from .test_resilience import DRAWING_UPLOADS, lose_calls, upload_without_batching
from .test_run import assert_exactly_once

pytestmark = pytest.mark.anyio

CREATE_UPLOAD = "POST /rest/v1.1/projects/{project_id}/uploads"
OTHER = ("emulator-other-client-id", "emulator-other-secret")  # the default seed's second user


def worker_config(
    emu: RunningEmulator, folder: Path, root: Path, journal: str, **engine: Any
) -> Path:
    """A worker's config, in a folder of its own (as on its own host)."""
    raw = config_dict(
        emu,
        root,
        journal=journal,
        workers="shared",
        lease=2,
        batch_size=25,
        upload_workers=4,
        **engine,
    )
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder / "bulkimport.toml", raw)
    return folder / "bulkimport.toml"


def env_of(client_id: str, secret: str) -> dict[str, str]:
    return run_env() | {"PROCORE_CLIENT_ID": client_id, "PROCORE_CLIENT_SECRET": secret}


async def start(config: Path, env: dict[str, str], log: Path) -> Process:
    with log.open("ab") as stderr:
        return await anyio.open_process(run_command(config), env=env, stderr=stderr)


async def test_two_workers_one_killed_at_40_percent_import_every_file_once(
    tmp_path: Path, postgres_url: str
):
    async with serve(EmulatorConfig(processing_delay=0.0)) as emu:
        root = tmp_path / "archive"
        paths = write_archive(root, 500, min_size=1_000, max_size=3_000)
        first = worker_config(emu, tmp_path / "host-a", root, postgres_url)
        second = worker_config(emu, tmp_path / "host-b", root, postgres_url)
        mine, other = env_of(CREDENTIALS.client_id, CREDENTIALS.client_secret), env_of(*OTHER)
        ledger = emu.world.ledger
        with anyio.fail_after(60):
            a = await start(first, mine, tmp_path / "a.log")
            b = await start(second, other, tmp_path / "b.log")
            await ledger.until(lambda: ledger.requests.get(CREATE_UPLOAD, 0) >= 200)
            a.send_signal(signal.SIGKILL)  # at about 40%: claims, uploads, batches left
            await a.wait()
            restarted = await start(first, mine, tmp_path / "a.log")
            await b.wait()
            await restarted.wait()
        logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("a", "b")}
        assert (b.returncode, restarted.returncode) == (0, 0), logs
        state = await assert_exactly_once(emu, paths)
        numbers = Counter(d["number"] for d in state["drawings"])
        assert len(numbers) == 500
        assert set(numbers.values()) == {1}  # no drawing created twice
        # Both credentials did work: the attached uploads are of two users.
        attached = [u for u in state["uploads"] if u["attached_to"] is not None]
        by_user = Counter(u["owner_user_id"] for u in attached)
        assert len(by_user) == 2, by_user
        print(  # noqa: T201 - the figures of the run, for the report
            f"create uploads {ledger.requests[CREATE_UPLOAD]} for 500 files, drawing uploads "
            f"{len(state['drawing_uploads'])}, attached per user {sorted(by_user.values())}"
        )
    # A worker counts a file once, however many passes it made (the other one went round
    # again while the killed worker's lease ran): its figures, as `bulkimport status` shows.
    place = JournalPlace("postgresql", postgres_url, tmp_path)
    ((raw,),) = place.rows("SELECT figures FROM runs WHERE pid = ?", (b.pid,))
    figures = json.loads(raw)
    assert figures["unchanged"] + figures["to_upload"] <= 500, figures
    assert place.rows("SELECT state, COUNT(*) FROM files GROUP BY state") == [
        (FileState.VERIFIED, 500)
    ]
    # The workers that ended let go of what they held; only the killed one's claims remain,
    # on files finished since, where they stop no one.
    holders = place.rows("SELECT DISTINCT claimed_by FROM files WHERE claimed_by IS NOT NULL")
    assert len(holders) <= 1


async def test_worker_mode_on_a_sqlite_journal_is_refused_before_anything_is_sent(
    emulator: RunningEmulator, tmp_path: Path
):
    config = worker_config(emulator, tmp_path, tmp_path / "src", str(tmp_path / "j.sqlite3"))
    write_archive(tmp_path / "src", 2, min_size=1_000, max_size=2_000)
    done = await anyio.run_process(run_command(config), env=run_env(), check=False)
    assert done.returncode == 2, done.stderr
    assert 'engine.workers = "shared" needs a PostgreSQL journal' in done.stderr.decode()
    assert emulator.world.ledger.requests == {}
    assert not (tmp_path / "j.sqlite3").exists()


async def test_workers_share_the_projects_lock_and_a_single_run_is_refused_beside_them(
    postgres_url: str, tmp_path: Path
):
    location = JournalPlace("postgresql", postgres_url, tmp_path).location
    one, two = (Worker(f"w{n}", "credential-x", 5.0) for n in (1, 2))
    first = await Journal.open(location, projects=(7,), worker=one)
    second = await Journal.open(location, projects=(7,), worker=two)
    try:
        with pytest.raises(JournalBusy, match="holds the lock on project 7"):
            await Journal.open(location, projects=(7,))  # a single run
        # A new file found by both at once: one holds it, the other passes over it.
        found = [("A-1.pdf", 10, 1), ("A-2.pdf", 10, 1)]
        held, rows = await first.claim(found[:1])
        assert (held, rows) == ({"A-1.pdf"}, {})  # new: no row but the claim
        held, rows = await second.claim(found)
        assert held == {"A-2.pdf"}
    finally:
        await first.close()
        await second.close()
    single = await Journal.open(location, projects=(7,))  # the workers have gone
    await single.close()


@pytest.mark.parametrize("taker", ["same credential", "other credential"])
async def test_a_dead_workers_unanswered_batch_is_taken_over_never_duplicated(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch, taker: str
):
    """Killed while its Create Drawing Upload is on the wire (journalled, never acted on): a
    worker of the same credential resends it with its Idempotency-Token; one of another
    credential (whose user can use neither the token nor the uploads) looks it up, and gives
    its files back to be uploaded again. Either way each file is imported once."""
    release = lose_calls(monkeypatch, DRAWING_UPLOADS)
    async with serve(EmulatorConfig(processing_delay=0.0)) as emu:
        root = tmp_path / "archive"
        paths = write_archive(root, 30, min_size=1_000, max_size=2_000)
        dead = worker_config(emu, tmp_path / "host-a", root, postgres_url, batch_max_wait=60)
        other = worker_config(emu, tmp_path / "host-b", root, postgres_url)
        mine = env_of(CREDENTIALS.client_id, CREDENTIALS.client_secret)
        with anyio.fail_after(30):
            a = await start(dead, mine, tmp_path / "a.log")
            await wait_for(emu, DRAWING_UPLOADS, 1)  # arrived; held, so not answered
            a.send_signal(signal.SIGKILL)
            await a.wait()
            release.set()  # what was held is lost
            env = mine if taker == "same credential" else env_of(*OTHER)
            b = await start(other, env, tmp_path / "b.log")
            await b.wait()
        log = (tmp_path / "b.log").read_text()
        assert b.returncode == 0, log
        await assert_exactly_once(emu, paths)
        events = {json.loads(line)["event"] for line in log.splitlines() if line[:1] == "{"}
        taken = "batch.resend" if taker == "same credential" else "batch.given_back"
        assert taken in events


async def test_a_workers_refused_batch_is_split_and_its_parts_sent(
    tmp_path: Path, postgres_url: str
):
    """The parts of a refused batch are the worker's, as the batch was: sent, not passed over
    as another's. Two uploads an earlier run left, deleted by Procore's attach deadline, make
    the batch refused whole (a 400 naming no entry)."""
    async with serve(EmulatorConfig(processing_delay=0, refusal_style="batch")) as emu:
        root = tmp_path / "src"
        left = [root / f"A-{n} Left.pdf" for n in (1, 2)]
        for n, path in enumerate(left, 1):
            write_pdf(path, seed=n)
        await upload_without_batching(emu, root, left, journal=postgres_url)
        await advance_clock(emu, 8 * 24 * 3600)
        others = [root / f"A-{n} Other.pdf" for n in range(3, 13)]
        for n, path in enumerate(others, 3):
            write_pdf(path, seed=n)
        settings = make_settings(
            emu,
            root,
            journal=postgres_url,
            workers="shared",
            lease=2,
            attach_deadline=30 * 24 * 3600.0,
        )
        result = await run_import(settings, CREDENTIALS, progress=False)
        assert result.stats.split_calls > 0
        report = await report_of(result)
        assert {report[p.name]["state"] for p in left} == {"failed"}
        assert {report[p.name]["state"] for p in others} == {"verified"}
        state = await emulator_state(emu, "drawing_uploads")
        attached = [i["upload_uuid"] for du in state["drawing_uploads"] for i in du["imports"]]
        assert len(attached) == len(set(attached)) == len(others)  # each good file once


async def test_two_workers_send_each_numbers_revisions_in_order(tmp_path: Path, postgres_url: str):
    """Three revisions of each of 120 numbers, two workers: the one that claims a number's first
    revision claims its later ones with it, so no later revision reaches Procore first."""
    root = tmp_path / "src"
    for n in range(120):
        for rev in range(3):
            write_pdf(root / f"A-{100 + n}_Plan_Rev{rev}.pdf", seed=n * 10 + rev)
    async with serve(EmulatorConfig(processing_delay=0.05)) as emu:
        settings = make_settings(
            emu, root, journal=postgres_url, workers="shared", lease=2, batch_size=10
        )
        results = []

        async def work(credentials: Credentials) -> None:
            results.append(await run_import(settings, credentials, progress=False))

        async with anyio.create_task_group() as tg:
            tg.start_soon(work, CREDENTIALS)
            tg.start_soon(work, Credentials(*OTHER))
        paths = sorted(root.iterdir())
        state = await assert_exactly_once(emu, paths)
        for drawing in state["drawings"]:
            in_order = [r["revision_number"] for r in sorted(drawing["revisions"], key=by_id)]
            assert in_order == ["0", "1", "2"], drawing["number"]
        assert len(state["drawings"]) == 120
        print(f"uploaded by each worker: {[r.stats.uploaded for r in results]}")  # noqa: T201


def by_id(revision: dict[str, Any]) -> int:
    number: int = revision["id"]
    return number


async def test_a_later_revision_waits_for_the_worker_that_holds_the_first(
    tmp_path: Path, postgres_url: str
):
    """A slow worker (a small request budget) holds the first revisions of ten numbers; a fast
    one, started after it, finds nothing of wave 0 to do and must not send the second
    revisions of those numbers ahead of them: they are the slow worker's."""
    root = tmp_path / "src"
    for n in range(10):
        for rev in range(2):
            write_pdf(root / f"A-{100 + n}_Plan_Rev{rev}.pdf", seed=n * 10 + rev)
    async with serve(EmulatorConfig(processing_delay=0.0)) as emu:
        common: dict[str, Any] = {"journal": postgres_url, "workers": "shared", "lease": 2}
        slow = make_settings(emu, root, max_requests_per_hour=36_000, **common)
        fast = make_settings(emu, root, **common)
        ledger = emu.world.ledger
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(run_import, slow, CREDENTIALS, progress=False))
            with anyio.fail_after(20):
                await ledger.until(lambda: ledger.requests.get(CREATE_UPLOAD, 0) >= 1)
            tg.start_soon(partial(run_import, fast, Credentials(*OTHER), progress=False))
        state = await assert_exactly_once(emu, sorted(root.iterdir()))
        for drawing in state["drawings"]:
            in_order = [r["revision_number"] for r in sorted(drawing["revisions"], key=by_id)]
            assert in_order == ["0", "1"], drawing["number"]


def test_a_lease_under_a_second_is_refused(tmp_path: Path):
    settings = parse_settings(
        {
            "procore": {
                "api_base": "https://api.procore.com",
                "login_base": "https://login.procore.com",
                "company_id": 1,
                "project_id": 2,
            },
            "source": {"root": str(tmp_path)},
            "target": {"drawing_area": "A", "drawing_set": "S"},
            "engine": {"journal": "postgresql://importer@db/drawings", "workers": "shared"},
        },
        base=tmp_path,
    )
    assert worker_for(settings, CREDENTIALS) is not None
    short = replace(settings, engine=replace(settings.engine, lease=0.5))
    with pytest.raises(ConfigError, match=r"engine\.lease must be at least 1 second, got 0\.5"):
        worker_for(short, CREDENTIALS)
    single = replace(settings, engine=replace(settings.engine, workers="single"))
    assert worker_for(single, CREDENTIALS) is None


async def test_a_batched_file_is_held_by_whoever_holds_its_batch(postgres_url: str, tmp_path: Path):
    """A dead worker's batch is renewed after its files: they may come free while it is still
    held, and cannot be taken without it. They count as held elsewhere until it is free."""
    place = JournalPlace("postgresql", postgres_url, tmp_path)
    worker = Worker("w2", "credential-x", 5.0)
    journal = await Journal.open(place.location, projects=(7,), worker=worker)
    try:
        now = "EXTRACT(EPOCH FROM clock_timestamp())"
        place.rows(
            "INSERT INTO batches (token, project_id, area_id, set_id, status, created_at,"
            f" claimed_by, lease_until) VALUES ('t', 7, 1, 2, 'pending', 0, 'w1', {now} + 60)"
        )
        for n in range(3):
            place.rows(
                "INSERT INTO files (project_id, rel, size, mtime_ns, state, updated_at,"
                f" batch_id, claimed_by, lease_until) VALUES (7, ?, 1, 1, 'batched', 0, 't',"
                f" 'w1', {now} - 1)",
                (f"A-{n}.pdf",),
            )
        left = await journal.claiming(claims.remaining)
        assert (left.held_elsewhere, left.free) == (3, 0)
        place.rows(f"UPDATE batches SET lease_until = {now} - 1")  # the batch's lease ran out
        left = await journal.claiming(claims.remaining)
        assert (left.held_elsewhere, left.free) == (0, 3)
    finally:
        await journal.close()
