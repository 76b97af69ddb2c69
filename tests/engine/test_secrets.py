"""Secrets stay secret: the client secret, every access token, and the storage policies and
signatures never reach a log event, a report, the journal or an exception message."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
import structlog
from structlog.testing import capture_logs

from bulkimport import logs
from bulkimport.cli.environment import credentials_if_set
from bulkimport.emulator import EmulatorConfig, RunningEmulator, serve
from bulkimport.emulator.uploads import upload_json
from bulkimport.journal_location import JournalUrl
from bulkimport.pipeline import run_import
from bulkimport.procore.client import ProcoreClient
from bulkimport.report import exit_code, write_report
from bulkimport.samples import write_archive
from tests.journals import JournalPlace

from .conftest import (
    CREDENTIALS,
    advance_clock,
    config_dict,
    make_settings,
    run_env,
    write_config,
)

pytestmark = pytest.mark.anyio


def secrets_of(emu: RunningEmulator) -> dict[str, str]:
    """Everything secret the run saw: what the engine sent and what the emulator handed out."""
    world = emu.world
    found = {"client secret": CREDENTIALS.client_secret, "s3 secret": world.s3_secret}
    for n, token in enumerate(world.tokens):
        found[f"access token {n}"] = token
    for upload in world.uploads.values():
        for attachment in (True, False):
            fields = upload_json(world, upload, attachment)["fields"]
            found[f"policy of {upload.uuid}"] = fields["policy"]
            found[f"signature of {upload.uuid} {attachment}"] = fields["x-amz-signature"]
    return found


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


def journal_text(journal: Path | JournalUrl) -> str:
    """The journal as text to search: a SQLite file's bytes, write-ahead log included; every
    row of every table of a PostgreSQL journal."""
    if isinstance(journal, JournalUrl):
        place = JournalPlace("postgresql", journal.url, journal.local.parent)
        tables = place.rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert {"files", "batches", "meta"} <= {t for (t,) in tables}
        return "".join(repr(place.rows(f'SELECT * FROM "{t}"')) for (t,) in tables)
    parts = [journal, journal.with_name(journal.name + "-wal")]
    return "".join(p.read_bytes().decode("latin-1") for p in parts if p.exists())


async def test_a_full_run_leaks_nothing_into_logs_reports_or_the_journal(tmp_path: Path):
    """Two runs (two tokens), and a failing file, so error paths write messages too."""
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        root = tmp_path / "src"
        write_archive(root, 30, min_size=1_000, max_size=5_000)
        (root / "A-999 Broken.pdf").write_bytes(b"PK\x03\x04 not a pdf")
        settings = make_settings(emu, root, upload_workers=2)
        with capture_logs() as events:
            await run_import(settings, CREDENTIALS, progress=False)
            write_archive(root / "more", 3, seed=9, min_size=1_000, max_size=5_000)
            result = await run_import(settings, CREDENTIALS, progress=False)
        assert exit_code(result) == 1
        report = tmp_path / "report.json"
        table = await write_report(report, result)
        secrets = secrets_of(emu)
        assert len(emu.world.tokens) == 2
        assert sum(name.startswith("signature") for name in secrets) >= 2 * 30
        names = {e["event"] for e in events}
        assert {"auth.token", "batch.sent", "verify.done"} <= names  # the capture saw the run
        assert leaks(repr(events), secrets) == []
        assert leaks(report.read_text(), secrets) == []
        assert leaks(table.read_text(encoding="utf-8-sig"), secrets) == []
        assert leaks(journal_text(settings.engine.journal), secrets) == []
        failed = [r.error or "" for r in result.missing]
        assert failed
        assert leaks(" ".join(failed), secrets) == []


async def test_the_cli_reads_the_secret_from_a_file_and_prints_none(
    tmp_path: Path, journal_location: JournalPlace
):
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        root = tmp_path / "src"
        write_archive(root, 5, min_size=1_000, max_size=3_000)
        config = tmp_path / "bulkimport.toml"
        write_config(config, config_dict(emu, root))
        secret_file = tmp_path / "secret"
        secret_file.write_text(CREDENTIALS.client_secret + "\n")
        env = run_env(secret=None) | {
            "PROCORE_CLIENT_ID": CREDENTIALS.client_id,
            "PROCORE_CLIENT_SECRET_FILE": str(secret_file),
        }
        report = tmp_path / "report.json"
        command = [sys.executable, "-m", "bulkimport", "run", "--config", str(config)]
        with anyio.fail_after(120):
            done = await anyio.run_process(
                [*command, "--log-format", "json", "--report", str(report)], env=env, check=False
            )
        assert done.returncode == 0, done.stderr
        secrets = secrets_of(emu)
        output = done.stdout.decode() + done.stderr.decode()
        assert leaks(output, secrets) == []
        events = [json.loads(line) for line in done.stderr.decode().splitlines()]
        assert any(e["event"] == "auth.token" for e in events)
        assert leaks(report.read_text(), secrets) == []
        assert leaks(journal_text(journal_location.location), secrets) == []

        env["PROCORE_CLIENT_SECRET_FILE"] = str(tmp_path / "missing")
        with anyio.fail_after(60):
            refused = await anyio.run_process(command, env=env, check=False)
        assert refused.returncode == 2
        assert b"cannot read PROCORE_CLIENT_SECRET_FILE" in refused.stderr


def test_redaction_is_a_second_line_of_defence():
    """If an event ever carried a secret, the configured processors would blank it."""
    logs.keep_secret("tok-0123456789abcdef")
    event: dict[str, Any] = {
        "event": "oops",
        "client_secret": "hunter2-hunter2",
        "detail": "Bearer tok-0123456789abcdef was refused",
        "fields": {"policy": "eyJleHBpcmF0aW9uIjo", "key": "uploads/1"},
    }
    out = logs.redact(None, "info", event)
    assert out["client_secret"] == logs.REDACTED
    assert out["detail"] == f"Bearer {logs.REDACTED} was refused"
    assert out["fields"] == {"policy": logs.REDACTED, "key": "uploads/1"}
    structlog.reset_defaults()


async def test_the_client_secret_stays_redacted_however_many_tokens_are_issued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """A long migration renews its token again and again; the registry of tokens is bounded,
    and the client secret must never be what it evicts."""
    monkeypatch.setenv("PROCORE_CLIENT_ID", CREDENTIALS.client_id)
    monkeypatch.setenv("PROCORE_CLIENT_SECRET", CREDENTIALS.client_secret)
    credentials = credentials_if_set()  # loaded as a real run loads them
    assert credentials is not None
    renewals = 45
    logs.configure("json")
    # No logger may keep this test's captured stderr once it is closed: later tests log too.
    structlog.configure(cache_logger_on_first_use=False)
    try:
        async with (
            serve(EmulatorConfig(processing_delay=0, token_ttl=60)) as emu,
            aiohttp.ClientSession() as session,
        ):
            settings = make_settings(emu, tmp_path)
            client = ProcoreClient(settings.procore, credentials, session)
            with anyio.fail_after(60):
                for _ in range(renewals):
                    await client.drawing_areas()
                    # Past the token's life on the emulator's clock: the next call is
                    # refused once and the client renews, with no waiting here.
                    await advance_clock(emu, 61)
            assert len(emu.world.tokens) >= renewals
            newest = list(emu.world.tokens)[-1]  # issued in order
        log = structlog.get_logger("bulkimport.test")
        log.error(
            "auth.refused",
            detail=f"sent client_id={CREDENTIALS.client_id}&secret={CREDENTIALS.client_secret}",
            header=f"Bearer {newest}",
        )
        err = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
    last = json.loads(err.splitlines()[-1])
    assert last["event"] == "auth.refused"
    assert last["detail"] == f"sent client_id={CREDENTIALS.client_id}&secret={logs.REDACTED}"
    assert last["header"] == f"Bearer {logs.REDACTED}"
    assert CREDENTIALS.client_secret not in err
    assert newest not in err
