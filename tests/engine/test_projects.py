"""Many projects in one run ([[targets]]): each folder into its project, exactly once, on one
credential's budget, with the report, the display and the dry run per project."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from rich.console import Console

from bulkimport.cli.display import render
from bulkimport.dry_run import plan_only
from bulkimport.emulator import EmulatorConfig, RunningEmulator, serve
from bulkimport.errors import ConfigError
from bulkimport.models import FileState, Plan
from bulkimport.outcome import RunResult
from bulkimport.pipeline import run_import
from bulkimport.progress import Budget, Figures, ProjectLine
from bulkimport.report import exit_code, plan_text, report_entries, summary_text, totals
from bulkimport.samples import write_archive
from bulkimport.settings import Credentials, Settings, parse_settings
from tests.journals import JournalPlace

from .conftest import CREDENTIALS, config_dict, emulator_state, write_pdf

pytestmark = pytest.mark.anyio

FOLDERS = ("Tower A", "Tower B", "Annex")


@pytest.fixture
async def three_projects() -> AsyncIterator[RunningEmulator]:
    async with serve(EmulatorConfig(processing_delay=0.0, projects=3)) as emu:
        yield emu


def targets_config(emu: RunningEmulator, root: Path, journal: str, **engine: Any) -> dict[str, Any]:
    """A config whose [[targets]] send each of FOLDERS to one of the emulator's projects."""
    raw = config_dict(emu, root, journal=journal, **engine)
    del raw["procore"]["project_id"]
    ids = emu.startup_info()["project_ids"]
    raw["targets"] = [
        {"project_id": project, "folder": folder}
        for project, folder in zip(ids, FOLDERS, strict=True)
    ]
    return raw


def plain_targets(tmp_path: Path) -> dict[str, Any]:
    """A [[targets]] config that is never run: three projects, one folder each."""
    return {
        "procore": {
            "api_base": "https://api.procore.com",
            "login_base": "https://login.procore.com",
            "company_id": 1,
        },
        "source": {"root": str(tmp_path / "src")},
        "target": {"drawing_area": "Building A", "drawing_set": "Issued for Construction"},
        "targets": [{"project_id": 10 + n, "folder": folder} for n, folder in enumerate(FOLDERS)],
    }


def settings_for(raw: dict[str, Any], root: Path) -> Settings:
    return parse_settings(raw, base=root.parent)


async def test_three_projects_each_get_their_folder_exactly_once(
    three_projects: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    root = tmp_path / "src"
    for n, folder in enumerate(FOLDERS):
        write_archive(root / folder, 30, seed=n, min_size=1_000, max_size=20_000)
    # The same name in two projects: two files, two rows, two imports.
    for n, folder in enumerate(FOLDERS[:2]):
        write_pdf(root / folder / "Z-1 Shared.pdf", seed=100 + n)
    raw = targets_config(
        three_projects, root, journal_location.setting, batch_size=10, batch_max_wait=30
    )
    settings = settings_for(raw, root)
    ids = three_projects.startup_info()["project_ids"]

    result = await run_import(settings, CREDENTIALS, progress=False)

    assert exit_code(result) == 0
    assert [p.project_id for p in result.projects] == ids
    assert [len(p.plans) for p in result.projects] == [31, 31, 30]
    assert set(result.states) == {FileState.VERIFIED}
    state = await emulator_state(three_projects, "uploads", "drawing_uploads", "violations")
    assert state["violations"] == []
    attached = [u for u in state["uploads"] if u["attached_to"] is not None]
    assert Counter(u["project_id"] for u in attached) == dict(zip(ids, (31, 31, 30), strict=True))
    assert len({u["sha256"] for u in attached}) == len(attached)  # no file twice
    # Batches never mix projects: each drawing upload holds one project's files.
    by_project = Counter(du["project_id"] for du in state["drawing_uploads"])
    assert by_project == dict(zip(ids, (4, 4, 3), strict=True))
    names = Counter(
        (du["project_id"], i["filename"]) for du in state["drawing_uploads"] for i in du["imports"]
    )
    assert set(names.values()) == {1}
    figures = totals(result)["projects"]
    assert [(p["project_id"], p["files"], p["not_arrived"]) for p in figures] == [
        (ids[0], 31, 0),
        (ids[1], 31, 0),
        (ids[2], 30, 0),
    ]
    entries = [e async for e in report_entries(result)]
    assert Counter(e["project_id"] for e in entries) == dict(zip(ids, (31, 31, 30), strict=True))
    shared = [e for e in entries if e["path"] == "Z-1 Shared.pdf"]
    assert sorted(e["project_id"] for e in shared) == ids[:2]

    again = await run_import(settings_for(raw, root), CREDENTIALS, progress=False)
    assert exit_code(again) == 0
    assert again.stats.planned[Plan.UNCHANGED] == 92
    assert again.requests.get("POST /rest/v1.1/projects/{id}/uploads", 0) == 0


async def test_a_file_that_fails_in_one_project_is_named_with_its_project(
    three_projects: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    root = tmp_path / "src"
    for n, folder in enumerate(FOLDERS):
        write_archive(root / folder, 5, seed=n, min_size=1_000, max_size=20_000)
    broken = root / "Annex" / "X-9 Broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nnot really a pdf")
    settings = settings_for(targets_config(three_projects, root, journal_location.setting), root)
    annex = three_projects.startup_info()["project_ids"][2]

    result = await run_import(settings, CREDENTIALS, progress=False)

    assert exit_code(result) == 1
    assert [(row.project_id, row.rel) for row in result.missing] == [(annex, "X-9 Broken.pdf")]
    assert [len(p.missing) for p in result.projects] == [0, 0, 1]
    text = summary_text(result)
    assert f"project {annex}: X-9 Broken.pdf" in text
    assert f"project {annex} ({root / 'Annex'}): 6 files, 1 did not arrive" in text


async def test_the_dry_run_plans_each_project_and_their_sum(
    three_projects: RunningEmulator, tmp_path: Path, journal_location: JournalPlace
):
    root = tmp_path / "src"
    for n, folder in enumerate(FOLDERS):
        write_archive(root / folder, 4 + n, seed=n, min_size=1_000, max_size=20_000)
    settings = settings_for(targets_config(three_projects, root, journal_location.setting), root)

    summary = await plan_only(settings, CREDENTIALS)

    assert summary.counts[Plan.NEW] == 4 + 5 + 6
    assert [p.counts[Plan.NEW] for p in summary.parts] == [4, 5, 6]
    assert summary.cost is not None
    assert summary.cost.create_upload == 15
    text = plan_text(summary)
    ids = three_projects.startup_info()["project_ids"]
    for project, folder in zip(ids, FOLDERS, strict=True):
        assert f"project {project} ({root / folder}):" in text
    assert not journal_location.exists()  # a dry run writes nothing


def test_the_display_has_a_line_per_project():
    lines = (ProjectLine(101, "Tower A", 40, 40, 0), ProjectLine(102, "Tower B", 50, 12, 3))
    figures = Figures(
        files=90,
        not_planned=0,
        unchanged=0,
        states={},
        to_upload=90,
        uploaded=52,
        megabytes=1.0,
        mb_per_s=0.5,
        requests=120,
        rerequested=0,
        rate_limited=0,
        throttled=0,
        budget=Budget(None, None, None, 0.0, 0.0),
        elapsed=2.0,
        eta=None,
        projects=lines,
    )
    console = Console(width=120, record=True)
    console.print(render(figures, "bulkimport run"))
    shown = console.export_text()
    assert "project 101  40 of 40 handled · Tower A" in shown
    assert "project 102  12 of 50 handled · 3 did not arrive · Tower B" in shown
    assert Figures.from_dict(figures.as_dict()) == figures  # as `bulkimport status` reads it


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw["procore"].update(project_id=5), "not in [procore]"),
        (lambda raw: raw["targets"].append(dict(raw["targets"][0])), "more than one [[targets]]"),
        (lambda raw: raw["targets"][1].update(colour="red"), "unknown key 'colour'"),
        (lambda raw: raw["targets"][2].pop("project_id"), "entry 3 needs a project_id"),
        (lambda raw: raw["source"].update(manifest="register.csv"), "manifest belongs to"),
        (lambda raw: raw["source"].update(manifest_only=True), "manifest_only needs a manifest"),
        (lambda raw: raw.update(targets=[]), "list of [[targets]] tables"),
    ],
)
def test_targets_that_cannot_be_meant_are_refused(tmp_path: Path, change: Any, message: str):
    raw = plain_targets(tmp_path)
    change(raw)
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings_for(raw, tmp_path / "src")


def test_an_entry_takes_target_defaults_and_its_own_keys(tmp_path: Path):
    raw = plain_targets(tmp_path)
    raw["targets"][1] |= {"drawing_area": "Building B", "mode": "review", "folder": "/elsewhere"}
    raw["targets"][2]["manifest"] = "annex.csv"
    projects = settings_for(raw, tmp_path / "src").projects()
    assert [p.source.root for p in projects] == [
        (tmp_path / "src" / "Tower A").resolve(),
        Path("/elsewhere"),
        (tmp_path / "src" / "Annex").resolve(),
    ]
    assert [p.target.drawing_area for p in projects] == ["Building A", "Building B", "Building A"]
    assert [p.target.mode for p in projects] == ["direct", "review", "direct"]
    assert [p.source.manifest for p in projects] == [None, None, (tmp_path / "annex.csv").resolve()]
    assert [p.procore.project_id for p in projects] == [10, 11, 12]
    assert all(p.targets == () for p in projects)


async def test_two_workers_on_three_projects_import_each_file_once(
    three_projects: RunningEmulator, tmp_path: Path, postgres_url: str
):
    """Two workers of two credentials, each running the same [[targets]] config on one
    PostgreSQL journal: each project's worker loop claims, and between passes lets go of, its
    own project's files only, so neither worker's project loops pull files from under the
    other's."""
    root = tmp_path / "src"
    for n, folder in enumerate(FOLDERS):
        write_archive(root / folder, 40, seed=n, min_size=1_000, max_size=3_000)
    raw = targets_config(
        three_projects, root, postgres_url, workers="shared", lease=2, batch_size=10
    )
    settings = settings_for(raw, root)
    other = Credentials("emulator-other-client-id", "emulator-other-secret")
    results: list[RunResult] = []

    async def worker(credentials: Credentials) -> None:
        results.append(await run_import(settings, credentials, progress=False))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker, CREDENTIALS)
            tg.start_soon(worker, other)

    missing = [
        [(row.project_id, row.rel, row.state, row.error) for row in r.missing] for r in results
    ]
    assert [exit_code(r) for r in results] == [0, 0], missing
    state = await emulator_state(three_projects, "uploads", "drawing_uploads", "violations")
    assert state["violations"] == []
    attached = [u for u in state["uploads"] if u["attached_to"] is not None]
    ids = three_projects.startup_info()["project_ids"]
    assert Counter(u["project_id"] for u in attached) == dict.fromkeys(ids, 40)
    assert len({u["sha256"] for u in attached}) == 120  # each file once
