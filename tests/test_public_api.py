"""The public API: the names `bulkimport.__all__` exports, what importing them costs, where
they are documented, and one run made through them alone."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bulkimport
from bulkimport import errors
from bulkimport.emulator import EmulatorConfig, serve

ROOT = Path(__file__).parents[1]
EXPORTED = [name for name in bulkimport.__all__ if name != "__version__"]


def loaded_by(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after one statement. (`-X importtime` does not see
    a module loaded through importlib, as the lazy names are.)"""
    done = subprocess.run(
        [sys.executable, "-c", f"{statement}\nimport sys\nprint(*sys.modules, sep='\\n')"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(done.stdout.split())


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_every_exported_name_resolves_to_the_object_its_module_defines():
    for name in EXPORTED:
        value = getattr(bulkimport, name)
        home = importlib.import_module(value.__module__)
        assert home.__name__.startswith("bulkimport."), name
        assert getattr(home, name) is value, name
    assert isinstance(bulkimport.__version__, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", bulkimport.__version__)


def test_nothing_private_and_no_module_is_exported():
    assert len(set(bulkimport.__all__)) == len(bulkimport.__all__)
    for name in EXPORTED:
        assert not name.startswith("_"), name
        assert not inspect.ismodule(getattr(bulkimport, name)), name
    assert set(EXPORTED) <= set(dir(bulkimport))


def test_every_error_of_the_tree_is_exported():
    """A new error class in bulkimport.errors is part of the API: callers catch it."""
    tree = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, errors.BulkImportError)
        and value.__module__ == errors.__name__
    }
    assert tree <= set(EXPORTED)
    assert "BulkImportError" in tree


def test_the_lazy_table_and_the_type_checkers_imports_name_the_same_things():
    """`__all__`, the names loaded on first use, and the imports type checkers read are three
    lists in bulkimport/__init__.py; they must agree."""
    source = ast.parse((ROOT / "bulkimport" / "__init__.py").read_text())
    typed = {
        alias.asname or alias.name
        for node in ast.walk(source)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for statement in node.body
        if isinstance(statement, ast.ImportFrom)
        for alias in statement.names
    }
    lazy = bulkimport._HOMES
    assert typed == set(EXPORTED) == set(lazy)
    typed_homes = {
        alias.name: statement.module
        for node in ast.walk(source)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for statement in node.body
        if isinstance(statement, ast.ImportFrom)
        for alias in statement.names
    }
    assert typed_homes == lazy


def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import():
    with pytest.raises(AttributeError, match="has no attribute 'run'"):
        getattr(bulkimport, "run")  # noqa: B009 (a plain attribute would not type-check)
    from bulkimport import logs

    assert logs.__name__ == "bulkimport.logs"


def test_each_exported_name_is_documented_in_the_readme():
    section = readme_section("Python API")
    undocumented = [name for name in bulkimport.__all__ if f"`{name}" not in section]
    assert undocumented == []


def test_importing_bulkimport_loads_none_of_the_engine():
    modules = loaded_by("import bulkimport")
    assert "bulkimport" in modules
    assert {m for m in modules if m.startswith("bulkimport.")} == set()
    assert "aiohttp" not in modules


def test_the_api_loads_the_engine_but_never_the_emulator():
    modules = loaded_by("from bulkimport import run_import, plan_only, Settings, ConfigError")
    assert "bulkimport.pipeline" in modules
    assert {m for m in modules if m.startswith("bulkimport.emulator")} == set()


@pytest.mark.anyio
async def test_a_plan_and_a_run_through_the_public_names_alone(tmp_path: Path):
    """What the README's example does, against the emulator: nothing but `bulkimport.*`."""
    from tests.engine.conftest import write_config, write_pdf

    root = tmp_path / "drawings"
    for n in range(3):
        write_pdf(root / f"A-10{n} Plan.pdf", seed=n)
    async with serve(EmulatorConfig(processing_delay=0)) as emu:
        info = emu.startup_info()
        config = tmp_path / "bulkimport.toml"
        raw = {
            "procore": {
                "api_base": emu.api_base,
                "login_base": emu.login_base,
                "company_id": info["company_id"],
                "project_id": info["project_id"],
            },
            "source": {"root": "drawings"},
            "target": {"drawing_area": "Building A", "drawing_set": "Issued for Construction"},
            "engine": {"batch_max_wait": 0.2, "verify_interval": 0.05},
        }
        write_config(config, raw)
        settings = bulkimport.load_settings(config)
        assert isinstance(settings, bulkimport.Settings)
        assert settings.engine.journal == tmp_path / "bulkimport-journal.sqlite3"
        credentials = bulkimport.Credentials("emulator-client-id", "emulator-client-secret")

        plan = await bulkimport.plan_only(settings, credentials)
        assert isinstance(plan, bulkimport.PlanSummary)
        assert sum(plan.counts.values()) == 3
        assert plan.cost is not None
        assert not settings.engine.journal.exists()  # the dry run wrote nothing

        result = await bulkimport.run_import(settings, credentials, progress=False)
        assert isinstance(result, bulkimport.RunResult)
        assert (result.missing, result.manifest_problems) == ([], [])
        assert sum(result.states.values()) == 3
        drawings = emu.world.ledger.requests
        assert drawings["POST /rest/v1.1/projects/{project_id}/drawing_uploads"] == 1

        with pytest.raises(bulkimport.ConfigError, match="must be one of direct, review"):
            bulkimport.parse_settings({**raw, "target": {"mode": "auto"}}, tmp_path)
        refused = bulkimport.Credentials("emulator-client-id", "not-the-secret")
        with pytest.raises(bulkimport.AuthenticationError):
            await bulkimport.plan_only(settings, refused)
        with pytest.raises(bulkimport.AuthenticationError):  # raised as it is, not in a group
            await bulkimport.run_import(settings, refused, progress=False)
