"""Settings: the TOML configuration file, validated into frozen values.

Secrets never live in the file: the CLI reads PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET from
the environment (or the files PROCORE_CLIENT_ID_FILE and PROCORE_CLIENT_SECRET_FILE name) and
passes them in as `Credentials`. Every URL that is not loopback must be https: the client never
turns certificate checks off, and a plain-http URL cannot sneak past them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

from bulkimport import config_values as value
from bulkimport import journal_location
from bulkimport.errors import ConfigError
from bulkimport.journal_location import JournalLocation, JournalUrl
from bulkimport.logs import pin_secret

DEFAULT_FILENAME_PATTERN = (
    r"^(?P<number>[A-Za-z]{1,3}[-_. ]?\d+(?:\.\d+)*[A-Za-z]?)"
    r"(?:[ _-]+(?P<title>.*?))??"
    r"(?:[ _-]+rev(?:ision)?[ ._-]*(?P<revision>[A-Za-z0-9]+))?$"
)

# National CAD Standard designators, longest first where two share a letter.
DEFAULT_DISCIPLINES: dict[str, str] = {
    "FP": "Fire Protection",
    "FA": "Fire Alarm",
    "A": "Architectural",
    "B": "Geotechnical",
    "C": "Civil",
    "D": "Process",
    "E": "Electrical",
    "F": "Fire Protection",
    "G": "General",
    "H": "Hazardous Materials",
    "I": "Interiors",
    "L": "Landscape",
    "M": "Mechanical",
    "P": "Plumbing",
    "Q": "Equipment",
    "R": "Resource",
    "S": "Structural",
    "T": "Telecommunications",
    "V": "Survey",
    "X": "Other Disciplines",
    "Z": "Contractor/Shop Drawings",
}


if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Section = TypeVar("_Section", bound="DataclassInstance")


@dataclass(frozen=True, slots=True)
class Credentials:
    client_id: str
    client_secret: str

    def __post_init__(self) -> None:
        # Wherever credentials come from (the CLI's environment, a caller of run_import), the
        # secret is redacted from every log line for the life of the process: pinned, so no
        # number of token renewals can push it out of the registry.
        pin_secret(self.client_secret)

    def __repr__(self) -> str:  # never print the secret, even by accident
        return f"Credentials(client_id={self.client_id!r}, client_secret='***')"


# The modes a setting can name. Each is written once, here: the type the settings carry and
# the choices the config is checked against (`typing.get_args`).
UploadScope = Literal["project", "company"]  # where uploads are created
Multipage = Literal["error", "review"]  # a PDF with several pages: refuse it, or review it
TargetMode = Literal["direct", "review"]  # drawing_id and no OCR, or Items to Review
# A changed file whose revision label, set and dates Procore already has: import it with today's
# received date, fail it, or leave it.
SameRevision = Literal["received-date", "fail", "skip"]
WorkerMode = Literal["single", "shared"]  # one run per project, or several workers on it
SAME_REVISION_CHOICES: tuple[SameRevision, ...] = get_args(SameRevision)


@dataclass(frozen=True, slots=True)
class ProcoreSettings:
    api_base: str
    login_base: str
    company_id: int
    project_id: int
    upload_scope: UploadScope = "project"
    timeout: float = 60.0  # seconds for one API call
    max_attempts: int = 5
    # No attempt of a call (or a storage POST) starts later than this after its first failure;
    # the waits Procore asks for (429, 503 throttles) do not count.
    max_retry_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class SourceSettings:
    root: Path
    include: tuple[str, ...] = ("**/*.pdf",)
    exclude: tuple[str, ...] = ()
    filename_pattern: str = DEFAULT_FILENAME_PATTERN
    default_revision: str = "0"
    disciplines: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_DISCIPLINES))
    manifest: Path | None = None  # a CSV register: path, number, title, revision, dates, ...
    manifest_only: bool = False  # import only the files the manifest lists
    layout: str | None = None  # e.g. "{drawing_area}/{drawing_set}/*.pdf"
    multipage: Multipage = "error"
    # Bytes. S3 takes at most 5 GiB in one POST, and the direct-upload flow has no multipart
    # upload: a larger file could never be sent, so it is reported before anything is asked.
    max_file_size: int = 5 * 1024**3
    follow_links: bool = False  # symlinks that lead outside the root


@dataclass(frozen=True, slots=True)
class TargetSettings:
    drawing_area: str | int | None = None  # the default when the manifest or layout has none
    drawing_set: str | int | None = None
    create_missing_set: bool = False
    mode: TargetMode = "direct"


@dataclass(frozen=True, slots=True)
class EngineSettings:
    # A SQLite file, relative to the config file's folder when the settings come from one
    # (`parse_settings`), or a PostgreSQL database (journal_location.JournalUrl).
    journal: JournalLocation = Path("bulkimport-journal.sqlite3")
    create_upload_workers: int = 4
    upload_workers: int = 8
    batch_size: int = 50
    batch_max_wait: float = 10.0
    expiry_margin: float = 120.0  # re-request a ticket this close to its expiry
    attach_deadline: float = 6 * 24 * 3600.0  # Procore deletes at 7 days; keep a day spare
    verify_interval: float = 2.0
    verify_timeout: float = 900.0
    progress_interval: float = 10.0
    max_requests_per_hour: int | None = None  # leave the rest of the budget to others
    drain_timeout: float = 120.0  # after a first Ctrl+C, how long in-flight work may finish
    same_revision: SameRevision = "received-date"
    # "shared": one of several workers on a PostgreSQL journal, each claiming files under a
    # lease of `lease` seconds that it renews while it works (workers.py).
    workers: WorkerMode = "single"
    lease: float = 120.0  # well above procore.timeout (README: "Several workers ...")


@dataclass(frozen=True, slots=True)
class ProjectTarget:
    """One `[[targets]]` entry: a project, the folder of the archive that goes to it, and
    where its drawings go there (each key absent from the entry is [target]'s)."""

    project_id: int
    folder: Path  # resolved: under source.root, or anywhere when given absolute
    target: TargetSettings
    manifest: Path | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    procore: ProcoreSettings  # with [[targets]], project_id is the first target's
    source: SourceSettings
    target: TargetSettings
    engine: EngineSettings
    # Several projects in one run, one budget (README: "Many projects in one run"); empty for
    # a config with [procore] project_id, which is its own only project.
    targets: tuple[ProjectTarget, ...] = ()

    def projects(self) -> list[Settings]:
        """The run's projects, each as the settings of a run on that project alone: its id,
        its folder as the source root, its manifest and its target."""
        if not self.targets:
            return [self]
        return [
            replace(
                self,
                procore=replace(self.procore, project_id=t.project_id),
                source=replace(self.source, root=t.folder, manifest=t.manifest),
                target=t.target,
                targets=(),
            )
            for t in self.targets
        ]

    def with_overrides(
        self, *, source: Path | None, journal: JournalLocation | str | None
    ) -> Settings:
        """The settings with the command line's `--source` and `--journal` applied; a
        `--journal` given as text is a path or a URL, checked as the config's would be."""
        updated = self
        if source is not None:
            root = source.resolve()
            moved = tuple(  # the targets' folders keep their place under the root
                replace(t, folder=root / t.folder.relative_to(self.source.root))
                if t.folder.is_relative_to(self.source.root)
                else t
                for t in self.targets
            )
            updated = replace(updated, source=replace(updated.source, root=root), targets=moved)
        if isinstance(journal, str):
            journal = journal_location.parse("--journal", journal)
        if journal is not None:
            where = (
                journal.anchored(Path.cwd())
                if isinstance(journal, JournalUrl)
                else journal.resolve()
            )
            updated = replace(updated, engine=replace(updated.engine, journal=where))
        return updated


def load_settings(path: Path) -> Settings:
    """The settings of a TOML config file; relative paths are relative to its folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc
    return parse_settings(raw, base=path.resolve().parent)


def parse_settings(raw: dict[str, Any], base: Path) -> Settings:
    """Validate a parsed config; relative paths are taken relative to `base`.

    Only the keys the config gives are read; every other value is the dataclass's default, so
    each default is written once, on its field."""
    unknown = set(raw) - {*SECTIONS, "targets"}
    if unknown:
        raise ConfigError(f"unknown config sections: {', '.join(sorted(unknown))}")
    raw, entries = _first_project(raw)
    source = _build(raw, "source", SourceSettings, base)
    target = _build(raw, "target", TargetSettings, base, required=False)
    settings = Settings(
        procore=_build(raw, "procore", ProcoreSettings, base),
        source=source,
        target=target,
        engine=_build(raw, "engine", EngineSettings, base, required=False),
        targets=tuple(_project_target(e, n, source, target, base) for n, e in entries),
    )
    ids = [t.project_id for t in settings.targets]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ConfigError(
            f"project {twice[0]} has more than one [[targets]] entry: each project's files are "
            "journalled by their path under its one folder; to send parts of a folder to "
            "several areas or sets, use source.layout or a manifest"
        )
    for project in settings.projects():
        _check_source(project.source)
        _check_destinations(project)
    return settings


def _first_project(raw: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[int, Any]]]:
    """The config with [procore] project_id filled from the first [[targets]] entry when it
    has that list (numbered from 1, for messages): one project's id has one place to be."""
    entries = raw.get("targets")
    if entries is None:
        return raw, []
    if not isinstance(entries, list) or not entries:
        raise ConfigError("targets must be a list of [[targets]] tables, each with a project_id")
    procore = raw.get("procore")
    if isinstance(procore, dict) and "project_id" in procore:
        raise ConfigError(
            "with [[targets]], each project_id goes in its [[targets]] entry, not in [procore]"
        )
    first = entries[0]
    if not isinstance(first, dict) or "project_id" not in first:
        raise ConfigError("[[targets]] entry 1 needs a project_id")
    procore = (
        {**procore, "project_id": first["project_id"]} if isinstance(procore, dict) else procore
    )
    return {**raw, "procore": procore}, list(enumerate(entries, start=1))


def _project_target(
    entry: Any, number: int, source: SourceSettings, defaults: TargetSettings, base: Path
) -> ProjectTarget:
    """One [[targets]] entry, its keys checked as [target]'s are."""
    where = f"[[targets]] entry {number}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table")
    known = {"project_id", "folder", "manifest", *SECTIONS["target"]}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in {where}; known keys: {', '.join(sorted(known))}"
        )
    if "project_id" not in entry:
        raise ConfigError(f"{where} needs a project_id")
    if source.manifest is not None:
        raise ConfigError(
            "with [[targets]], a manifest belongs to its project: give `manifest` in the "
            "[[targets]] entry, not source.manifest"
        )
    parsers = SECTIONS["target"]
    overrides = {k: parsers[k](f"targets.{k}", v) for k, v in entry.items() if k in parsers}
    folder = _anchored(source.root, value.path("targets.folder", entry.get("folder", ".")), where)
    manifest = entry.get("manifest")
    return ProjectTarget(
        project_id=value.identifier("targets.project_id", entry["project_id"]),
        folder=folder,
        target=replace(defaults, **overrides),
        manifest=None if manifest is None else _anchored(base, value.path(where, manifest), where),
    )


def _build(
    raw: dict[str, Any], name: str, shape: type[_Section], base: Path, required: bool = True
) -> _Section:
    """One section's dataclass from the keys the config gives, each checked by its parser."""
    section = _section(raw, name, shape, required)
    parsers = SECTIONS[name]
    values = {key: parsers[key](key, value) for key, value in section.items()}
    for f in fields(shape):
        if f.name not in values and f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"config is missing {f.name!r}")
        value = values.get(f.name, f.default)
        if isinstance(value, Path):  # a given path, or a default one: anchored at the config
            values[f.name] = _anchored(base, value, f"{name}.{f.name}")
        elif isinstance(value, JournalUrl):  # what this machine keeps for it, likewise
            values[f.name] = value.anchored(base)
    return shape(**values)


def _anchored(base: Path, path: Path, key: str) -> Path:
    try:
        return (base / path).resolve()
    except (OSError, ValueError) as exc:  # a NUL byte, a loop of links
        raise ConfigError(f"{key} is not a usable path ({exc}): {str(path)!r}") from exc


def _check_source(source: SourceSettings) -> None:
    value.check_pattern(source.filename_pattern)
    if source.manifest_only and source.manifest is None:
        raise ConfigError(
            "source.manifest_only needs a manifest (source.manifest, or each "
            "[[targets]] entry's manifest)"
        )


def _check_destinations(settings: Settings) -> None:
    """Every file needs an area and a set: from the target, the layout or the manifest."""
    if settings.source.manifest is not None:
        return
    for key in value.LAYOUT_FIELDS:
        in_layout = "{" + key + "}" in (settings.source.layout or "")
        if getattr(settings.target, key) is None and not in_layout:
            raise ConfigError(
                f"where do drawings go? set target.{key}, or name {{{key}}} in "
                "source.layout, or give a manifest with that column"
            )


def _section(raw: dict[str, Any], name: str, shape: type, required: bool) -> dict[str, Any]:
    """A section whose keys are all known: a misspelt key must not be ignored quietly."""
    value = raw.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"config needs a [{name}] section")
    known = {f.name for f in fields(shape)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in [{name}]; known keys: {', '.join(sorted(known))}"
        )
    return value


def _disciplines(key: str, given: Any) -> dict[str, str]:
    """The config's designators over the defaults."""
    return DEFAULT_DISCIPLINES | value.disciplines(key, given)


SECTIONS: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "procore": {
        "api_base": value.url,
        "login_base": value.url,
        "company_id": value.identifier,
        "project_id": value.identifier,
        "upload_scope": value.choice(get_args(UploadScope)),
        "timeout": value.number,
        "max_attempts": value.positive,  # 0 attempts would fail every call
        "max_retry_seconds": value.number,
    },
    "source": {
        "root": value.path,
        "include": value.globs,
        "exclude": value.globs,
        "filename_pattern": value.text,
        "default_revision": value.text,
        "disciplines": _disciplines,
        "manifest": value.path,
        "manifest_only": value.flag,
        "layout": value.layout,
        "multipage": value.choice(get_args(Multipage)),
        "max_file_size": value.positive,
        "follow_links": value.flag,
    },
    "target": {
        "drawing_area": value.name_or_id,
        "drawing_set": value.name_or_id,
        "create_missing_set": value.flag,
        "mode": value.choice(get_args(TargetMode)),
    },
    "engine": {
        "journal": journal_location.parse,
        "create_upload_workers": value.positive,
        "upload_workers": value.positive,
        "batch_size": value.positive,
        "batch_max_wait": value.number,
        "expiry_margin": value.number,
        "attach_deadline": value.number,
        "verify_interval": value.number,
        "verify_timeout": value.number,
        "progress_interval": value.number,
        "max_requests_per_hour": value.positive,
        "drain_timeout": value.number,
        "same_revision": value.choice(SAME_REVISION_CHOICES),
        "workers": value.choice(get_args(WorkerMode)),
        "lease": value.number,
    },
}
