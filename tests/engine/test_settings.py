"""The configuration: the shipped examples load, and bad values are refused clearly."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from bulkimport.emulator import EmulatorConfig, serve
from bulkimport.errors import ConfigError
from bulkimport.journal_location import JournalUrl
from bulkimport.settings import (
    Credentials,
    EngineSettings,
    ProcoreSettings,
    SourceSettings,
    TargetSettings,
    load_settings,
    parse_settings,
)

CONFIGS = Path(__file__).parents[2] / "configs"


def test_example_documents_every_key_with_its_default():
    settings = load_settings(CONFIGS / "example.toml")
    raw = tomllib.loads((CONFIGS / "example.toml").read_text())
    engine_defaults = EngineSettings(journal=settings.engine.journal)
    assert settings.engine == engine_defaults
    optional = {f.name for f in fields(EngineSettings) if f.default is None}
    assert set(raw["engine"]) == {f.name for f in fields(EngineSettings)} - optional
    text = (CONFIGS / "example.toml").read_text()
    assert all(f"# {name} = " in text for name in optional)  # shown, commented out
    procore_keys = set(ProcoreSettings.__dataclass_fields__)
    assert set(raw["procore"]) == procore_keys
    unset = {"filename_pattern", "manifest", "layout"}  # shown commented out: no default
    assert all(f"# {name} = " in text for name in unset)
    assert set(raw["source"]) | unset == set(SourceSettings.__dataclass_fields__)
    assert settings.source == SourceSettings(root=settings.source.root)
    assert set(raw["target"]) == set(TargetSettings.__dataclass_fields__)
    assert settings.target.mode == "direct"
    assert settings.source.root == (CONFIGS / "drawings").resolve()


@pytest.mark.anyio
async def test_emulator_config_names_the_default_seed():
    settings = load_settings(CONFIGS / "emulator.toml")
    async with serve(EmulatorConfig()) as emu:
        info = emu.startup_info()
    assert (settings.procore.company_id, settings.procore.project_id) == (
        info["company_id"],
        info["project_id"],
    )


BASE: dict[str, dict[str, Any]] = {
    "procore": {
        "api_base": "https://a",
        "login_base": "https://l",
        "company_id": 1,
        "project_id": 2,
    },
    "source": {"root": "x"},
    "target": {"drawing_area": "A", "drawing_set": "S"},
}


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("procore", "api_base", "ftp://x", r"must be an http\(s\) URL"),
        ("procore", "company_id", "abc", "whole number"),
        ("procore", "upload_scope", "user", "must be one of project, company"),
        ("procore", "max_retry_seconds", -1, "max_retry_seconds must be a number >= 0"),
        ("engine", "batch_size", 0, "batch_size must be a whole number >= 1"),
        ("source", "filename_pattern", "(no-number)", "needs a named group"),
        ("source", "filename_pattern", "([", "not a valid regular expression"),
        ("target", "drawing_area", "", "name or a numeric id"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(section, key, value, message):
    raw = {name: dict(values) for name, values in BASE.items()}
    raw.setdefault(section, {})[key] = value
    with pytest.raises(ConfigError, match=message):
        parse_settings(raw, Path("/tmp"))


def test_a_misspelt_key_is_refused_not_ignored():
    raw = {name: dict(values) for name, values in BASE.items()}
    raw["engine"] = {"batch_sise": 10}
    with pytest.raises(ConfigError, match="unknown key 'batch_sise' in \\[engine\\]"):
        parse_settings(raw, Path("/tmp"))


def test_missing_sections_and_unknown_ones():
    with pytest.raises(ConfigError, match=r"where do drawings go\? set target.drawing_area"):
        parse_settings({k: v for k, v in BASE.items() if k != "target"}, Path("/tmp"))
    with pytest.raises(ConfigError, match=r"\[procore\]"):
        parse_settings({k: v for k, v in BASE.items() if k != "procore"}, Path("/tmp"))
    with pytest.raises(ConfigError, match="unknown config sections: extra"):
        parse_settings({**BASE, "extra": {}}, Path("/tmp"))


def test_a_path_the_system_cannot_use_is_a_config_error():
    """A NUL byte cannot be in a path: the config is wrong (exit 2), not the program."""
    with pytest.raises(ConfigError, match=r"source\.root is not a usable path"):
        parse_settings({**BASE, "source": {"root": "draw\x00ings"}}, Path("/tmp"))


def test_a_layout_or_a_manifest_can_stand_in_for_the_target():
    no_target = {k: v for k, v in BASE.items() if k != "target"}
    layout = {**no_target, "source": {"root": "x", "layout": "{drawing_area}/{drawing_set}/**"}}
    assert parse_settings(layout, Path("/tmp")).target.drawing_area is None
    listed = {**no_target, "source": {"root": "x", "manifest": "register.csv"}}
    assert parse_settings(listed, Path("/srv")).source.manifest == Path("/srv/register.csv")
    with pytest.raises(ConfigError, match="must name"):
        parse_settings({**BASE, "source": {"root": "x", "layout": "{area}/*.pdf"}}, Path("/"))
    with pytest.raises(ConfigError, match="whole folder name"):
        parse_settings({**BASE, "source": {"root": "x", "layout": "A-{drawing_set}/*"}}, Path("/"))
    with pytest.raises(ConfigError, match=r"manifest_only needs a manifest \(source\.manifest"):
        parse_settings({**BASE, "source": {"root": "x", "manifest_only": True}}, Path("/"))


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.procore.com", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("http://[::1]:8080", True),
        ("http://api.procore.com", False),
        ("http://10.0.0.5:8080", False),
    ],
)
def test_plain_http_only_to_loopback(url: str, allowed: bool):
    raw = {**BASE, "procore": {**BASE["procore"], "api_base": url}}
    if allowed:
        assert parse_settings(raw, Path("/")).procore.api_base == url
    else:
        with pytest.raises(ConfigError, match="must use https"):
            parse_settings(raw, Path("/"))


def test_relative_paths_follow_the_config_file_and_secrets_do_not_print():
    settings = parse_settings(BASE, Path("/srv/import"))
    assert settings.source.root == Path("/srv/import/x")
    assert settings.engine.journal == Path("/srv/import/bulkimport-journal.sqlite3")
    assert "hunter2" not in repr(Credentials("id", "hunter2"))


@pytest.mark.parametrize("name", ["migration.toml", "nightly.toml"])
def test_the_shipped_examples_load(name: str):
    settings = load_settings(CONFIGS / name)
    assert settings.procore.api_base.startswith("https://")


def test_the_migration_register_reads_cleanly():
    from bulkimport.source.manifest import read_manifest

    settings = load_settings(CONFIGS / "migration.toml")
    assert settings.source.manifest is not None
    manifest = read_manifest(settings.source.manifest)
    assert manifest.problems == []
    assert all(row.problem is None for row in manifest.rows.values())
    assert manifest.rows["scans/scan0001.pdf"].received_date == "2024-03-07"


def test_the_systemd_units_and_the_cron_line_run_the_nightly_config():
    service = (CONFIGS / "bulkimport-nightly.service").read_text()
    assert "run --config /etc/bulkimport/nightly.toml" in service
    assert "PROCORE_CLIENT_SECRET_FILE=" in service
    assert "OnCalendar=" in (CONFIGS / "bulkimport-nightly.timer").read_text()
    assert (
        "bulkimport run --config /etc/bulkimport/nightly.toml"
        in (CONFIGS / "nightly.toml").read_text()
    )


def fresh() -> dict[str, dict[str, Any]]:
    return {name: dict(values) for name, values in BASE.items()}


def test_every_key_of_every_section_has_a_parser():
    """A field added to a settings dataclass must be readable from the config too."""
    from bulkimport.settings import SECTIONS

    shapes = {
        "procore": ProcoreSettings,
        "source": SourceSettings,
        "target": TargetSettings,
        "engine": EngineSettings,
    }
    assert set(SECTIONS) == set(shapes)
    for name, shape in shapes.items():
        assert set(SECTIONS[name]) == {f.name for f in fields(shape)}, name


def test_a_key_left_out_takes_the_default_written_on_its_field():
    """The defaults live on the dataclasses only: a minimal config gets exactly those."""
    settings = parse_settings(BASE, Path("/srv/import"))
    assert settings.procore == ProcoreSettings(
        api_base="https://a", login_base="https://l", company_id=1, project_id=2
    )
    assert settings.source == SourceSettings(root=Path("/srv/import/x"))
    assert settings.target == TargetSettings(drawing_area="A", drawing_set="S")
    # The journal's default is relative, and so anchored at the config's folder.
    assert settings.engine == EngineSettings(journal=Path("/srv/import/bulkimport-journal.sqlite3"))
    assert EngineSettings().journal == Path("bulkimport-journal.sqlite3")


@pytest.mark.parametrize(
    ("section", "key", "choices"),
    [
        ("procore", "upload_scope", "project, company"),
        ("source", "multipage", "error, review"),
        ("target", "mode", "direct, review"),
        ("engine", "same_revision", "received-date, fail, skip"),
    ],
)
def test_a_mode_is_one_of_its_choices(section: str, key: str, choices: str):
    for choice in choices.split(", "):
        raw = fresh()
        raw.setdefault(section, {})[key] = choice
        assert getattr(getattr(parse_settings(raw, Path("/")), section), key) == choice
    raw = fresh()
    raw.setdefault(section, {})[key] = "Review"  # close is not enough: the case matters
    with pytest.raises(ConfigError, match=f"^{key} must be one of {choices}, got 'Review'$"):
        parse_settings(raw, Path("/"))


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("procore", "project_id", "²", "project_id must be a whole number, got '²'"),
        ("procore", "company_id", True, "company_id must be a whole number, got True"),
        ("procore", "max_attempts", 0, "max_attempts must be a whole number >= 1, got 0"),
        ("procore", "timeout", -1, "timeout must be a number >= 0, got -1"),
        ("engine", "batch_max_wait", "soon", "batch_max_wait must be a number >= 0, got 'soon'"),
        ("engine", "max_requests_per_hour", 0.5, "max_requests_per_hour must be a whole number"),
        ("source", "follow_links", "yes", "follow_links must be true or false, got 'yes'"),
        ("source", "include", [1], "include must be a list of glob patterns"),
        ("source", "disciplines", {"K": 1}, r"\[source.disciplines\] maps designators"),
        ("source", "layout", "", "layout must be a path pattern, got ''"),
        ("target", "drawing_set", False, "drawing_set must be a name or a numeric id"),
    ],
)
def test_each_kind_of_value_is_checked(section, key, value, message):
    raw = fresh()
    raw.setdefault(section, {})[key] = value
    with pytest.raises(ConfigError, match=message):
        parse_settings(raw, Path("/"))


def test_a_required_key_left_out_is_named():
    raw = fresh()
    del raw["procore"]["company_id"]
    with pytest.raises(ConfigError, match=r"^config is missing 'company_id'$"):
        parse_settings(raw, Path("/"))
    raw = fresh()
    raw["source"] = {"include": "*.pdf"}
    with pytest.raises(ConfigError, match=r"^config is missing 'root'$"):
        parse_settings(raw, Path("/"))


def test_values_given_are_read_as_written():
    raw = fresh()
    raw["source"] |= {
        "root": "~/drawings",
        "include": "**/*.PDF",  # one glob may be a string
        "default_revision": 3,  # a bare number in TOML is still a label
        "disciplines": {"k": "Kitchen"},
    }
    raw["engine"] = {"journal": "/var/lib/j.sqlite3", "max_requests_per_hour": 900}
    raw["target"]["drawing_area"] = 42
    settings = parse_settings(raw, Path("/srv"))
    assert settings.source.root == Path("~/drawings").expanduser().resolve()
    assert settings.source.include == ("**/*.PDF",)
    assert settings.source.default_revision == "3"
    assert settings.source.disciplines["K"] == "Kitchen"
    assert settings.source.disciplines["A"] == "Architectural"  # added to, not replaced
    assert settings.engine.journal == Path("/var/lib/j.sqlite3")
    assert settings.engine.max_requests_per_hour == 900
    assert settings.target.drawing_area == 42


def test_a_config_file_that_cannot_be_read_or_parsed(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"cannot read config .*missing\.toml"):
        load_settings(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[procore\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(broken)


def test_the_command_line_overrides_root_and_journal(tmp_path: Path):
    settings = parse_settings(BASE, Path("/srv"))
    assert settings.with_overrides(source=None, journal=None) == settings
    moved = settings.with_overrides(source=tmp_path / "a", journal=tmp_path / "j.sqlite3")
    assert (moved.source.root, moved.engine.journal) == (tmp_path / "a", tmp_path / "j.sqlite3")
    assert moved.procore == settings.procore


def test_the_journal_is_a_path_or_a_postgresql_url(tmp_path: Path):
    def journal(value: str) -> Path | JournalUrl:
        return parse_settings(BASE | {"engine": {"journal": value}}, Path("/srv")).engine.journal

    assert journal("state/j.sqlite3") == Path("/srv/state/j.sqlite3")
    url = "postgresql://importer@db.example.com:5433/drawings?sslmode=verify-full"
    assert journal(url) == JournalUrl(
        url, Path("/srv/bulkimport-journal-db.example.com-5433-drawings")
    )
    assert journal("postgres://importer@db/x") == JournalUrl(
        "postgres://importer@db/x", Path("/srv/bulkimport-journal-db-5432-x")
    )
    for other in ("mysql://importer@db/x", "http://db/x", "file:///var/j.sqlite3"):
        with pytest.raises(ConfigError, match=r"must be a file path \(SQLite\) or a postgresql://"):
            journal(other)
    for secret in (
        "postgresql://u:pw-9@db/x",
        "postgresql://u:@db/x",
        "postgresql://db/x?password=pw-9",
    ):
        with pytest.raises(ConfigError, match="password must not be in the journal URL") as refused:
            journal(secret)
        assert "pw-9" not in str(refused.value)
        assert "PGPASSWORD" in str(refused.value)
    with pytest.raises(ConfigError, match="not a usable PostgreSQL URL"):
        journal("postgresql://u@db:port/x")
    # --journal: text, checked as the config's value is; a URL's local files under the cwd.
    settings = parse_settings(BASE, Path("/srv"))
    moved = settings.with_overrides(source=None, journal="postgresql://u@db/x")
    assert moved.engine.journal == JournalUrl(
        "postgresql://u@db/x", Path.cwd() / "bulkimport-journal-db-5432-x"
    )
    assert settings.with_overrides(source=None, journal="j.sqlite3").engine.journal == (
        Path.cwd() / "j.sqlite3"
    )
    with pytest.raises(ConfigError, match="--journal must be a file path"):
        settings.with_overrides(source=None, journal="mysql://u@db/x")
