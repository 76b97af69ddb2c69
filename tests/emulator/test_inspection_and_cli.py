"""The inspection endpoint, seed files, and `bulkimport emulator` as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from bulkimport.emulator import EmulatorConfig, serve

from .conftest import Procore

pytestmark = pytest.mark.anyio


async def test_state_counts_requests_per_endpoint_and_filters_sections(procore: Procore):
    await procore.uploaded()
    state = await procore.state("requests", "requests_total", "tokens_issued")
    assert state["requests"] == {
        "POST /oauth/token": 1,
        "POST /rest/v1.1/projects/{project_id}/uploads": 1,
        "POST /{bucket}": 1,
    }
    assert state["requests_total"] == 3
    assert state["tokens_issued"] == 1
    assert (await procore.raw("GET", "/_emulator/state?sections=nope")).status == 400


async def test_clock_only_moves_forward(procore: Procore):
    reply = await procore.raw("POST", "/_emulator/clock", json={"advance": -1})
    assert reply.status == 400
    await procore.advance(30)
    assert (await procore.state("clock"))["clock"]["offset"] == 30


async def test_seed_file_sets_ids_names_and_clients(tmp_path: Path):
    seed = {
        "clients": [{"client_id": "mine", "client_secret": "pw", "user_id": 42}],
        "companies": [
            {
                "id": 10,
                "name": "Acme",
                "projects": [
                    {
                        "id": 20,
                        "name": "Depot",
                        "drawing_areas": [
                            {
                                "id": 30,
                                "name": "Shed",
                                "drawings": [
                                    {"number": "S-1", "title": "Slab", "discipline": "Structural"}
                                ],
                            }
                        ],
                        "drawing_sets": [{"id": 40, "name": "Tender"}],
                        "earlier_drawing_uploads": 3,
                    }
                ],
            }
        ],
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    async with serve(EmulatorConfig(seed_file=path)) as emu, aiohttp.ClientSession() as http:
        info = emu.startup_info()
        assert (info["client_id"], info["company_id"], info["project_id"]) == ("mine", 10, 20)
        assert info["drawing_areas"] == [{"id": 30, "name": "Shed"}]
        assert info["drawing_sets"] == [{"id": 40, "name": "Tender"}]
        procore = await Procore(http, emu, client_id="mine", client_secret="pw", info=info).login()
        drawings = await procore.call("GET", "/rest/v1.1/drawing_areas/30/drawings")
        assert [d["number"] for d in drawings.json()] == ["S-1"]
        await procore.uploaded()
        (upload,) = (await procore.state("uploads"))["uploads"]
        assert upload["owner_user_id"] == 42
        earlier = (await procore.state("drawing_uploads"))["drawing_uploads"]
        assert [(u["drawing_area_id"], u["drawing_set_id"]) for u in earlier] == [(30, 40)] * 3
        assert {(u["status"], u["created_by_id"], len(u["imports"])) for u in earlier} == {
            ("reviewed", 42, 1)
        }


async def test_earlier_drawing_uploads_need_a_set_and_a_count_of_at_least_0(tmp_path: Path):
    from bulkimport.emulator import SeedError

    path = tmp_path / "seed.json"
    for count, problem in ((2, "need a drawing set"), (-1, "must not be negative")):
        project = {"name": "Depot", "earlier_drawing_uploads": count}
        seed = {
            "clients": [{"client_id": "mine", "client_secret": "pw"}],
            "companies": [{"name": "Acme", "projects": [project]}],
        }
        path.write_text(json.dumps(seed))
        with pytest.raises(SeedError, match=problem):
            async with serve(EmulatorConfig(seed_file=path)):
                pass
    with pytest.raises(ValueError, match="must not be negative"):
        EmulatorConfig(earlier_drawing_uploads=-1)


def test_cli_prints_one_json_line_and_stops_on_ctrl_c():
    process = subprocess.Popen(
        [sys.executable, "-m", "bulkimport", "emulator", "--port", "0", "--upload-ttl", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["api_base"] == f"http://127.0.0.1:{info['port']}"
        assert info["login_base"] == info["api_base"]
        assert info["client_id"] == "emulator-client-id"
        assert {a["name"] for a in info["drawing_areas"]} == {"Building A", "Building B"}
        import urllib.request

        with urllib.request.urlopen(info["state_url"], timeout=5) as response:
            assert json.load(response)["requests_total"] == 0
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "emulator.stopping" in stderr
    assert "GET" in stderr  # requests are logged to stderr


def run_emulator_command(*args: str) -> subprocess.CompletedProcess[str]:
    """`bulkimport emulator ARGS` for a case that must end by itself (a refused start)."""
    return subprocess.run(
        [sys.executable, "-m", "bulkimport", "emulator", *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [["--fault-rate", "2"], ["--fault-scope", "api,moon"], ["--token-ttl", "0"]],
)
def test_cli_refuses_bad_settings_with_exit_2(args: list[str]):
    result = run_emulator_command(*args)
    assert result.returncode == 2
    assert "Error" in result.stderr


def test_cli_reports_a_broken_seed_file(tmp_path: Path):
    bad = tmp_path / "seed.json"
    bad.write_text('{"clients": []}')
    result = run_emulator_command("--seed-file", str(bad))
    assert result.returncode == 2
    assert "needs non-empty 'clients' and 'companies'" in result.stderr


async def test_the_example_seed_file_in_configs_loads():
    example = Path(__file__).parents[2] / "configs" / "emulator-seed.json"
    async with serve(EmulatorConfig(seed_file=example)) as emu:
        info = emu.startup_info()
        assert info["client_id"] == "rehearsal-client"
        assert [a["name"] for a in info["drawing_areas"]] == [
            "North Abutment",
            "South Abutment",
            "Deck",
        ]
        assert len(emu.world.drawings) == 3


def test_cli_options_for_each_reading_reach_the_config():
    from bulkimport.cli.emulator_command import _emulator_config, emulator

    args = [
        "--require-project-id",
        "--no-revisions-access",
        "--strict-dates",
        "--project-utc-offset",
        "-5",
        "--refusal-style",
        "batch",
        "--review-rate",
        "0.25",
        "--no-v10-uploads",
        "--no-429-retry-after",
        "--503-retry-after",
        "7",
        "--rate-limit-scope",
        "endpoint",
        "--earlier-drawing-uploads",
        "5000",
    ]
    config = _emulator_config(emulator.make_context("emulator", args).params)
    assert config.require_project_id is True
    assert config.revisions_access is False
    assert config.strict_dates is True
    assert config.project_utc_offset == -5
    assert config.refusal_style == "batch"
    assert config.review_rate == 0.25
    assert config.v10_uploads is False
    assert config.rate_limits.retry_after is False
    assert config.faults.retry_after_503 == 7
    assert config.rate_limits.scope == "endpoint"
    assert config.earlier_drawing_uploads == 5000
    defaults = _emulator_config(emulator.make_context("emulator", []).params)
    assert defaults == EmulatorConfig(log_requests=True)


@pytest.mark.parametrize(
    "args",
    [
        ["--review-rate", "1.5"],
        ["--project-utc-offset", "20"],
        ["--refusal-style", "x"],
        ["--rate-limit-scope", "token"],
    ],
)
def test_cli_refuses_bad_reading_settings(args: list[str]):
    import click

    from bulkimport.cli.emulator_command import _emulator_config, emulator

    with pytest.raises((click.UsageError, ValueError)):
        _emulator_config(emulator.make_context("emulator", args).params)
