"""Settings: the TOML configuration file, validated into frozen values.

Secrets never live in the file: the CLI reads PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET from
the environment (or the files PROCORE_CLIENT_ID_FILE and PROCORE_CLIENT_SECRET_FILE name) and
passes them in as `Credentials`. Every URL that is not loopback must be https: the client never
turns certificate checks off, and a plain-http URL cannot sneak past them.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bulkimport.errors import ConfigError
from bulkimport.logs import pin_secret

SAME_REVISION_CHOICES = ("received-date", "fail", "skip")

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


@dataclass(frozen=True, slots=True)
class ProcoreSettings:
    api_base: str
    login_base: str
    company_id: int
    project_id: int
    upload_scope: str = "project"  # or "company"
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
    multipage: str = "error"  # or "review": through Procore's Items to Review
    max_file_size: int = 1024**3  # bytes
    follow_links: bool = False  # symlinks that lead outside the root


@dataclass(frozen=True, slots=True)
class TargetSettings:
    drawing_area: str | int | None = None  # the default when the manifest or layout has none
    drawing_set: str | int | None = None
    create_missing_set: bool = False
    mode: str = "direct"  # or "review": Procore reads number and title, sheets wait for review


@dataclass(frozen=True, slots=True)
class EngineSettings:
    journal: Path
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
    # A changed file whose revision label, set and dates Procore already has: import it with
    # today's received date ("received-date"), fail it ("fail"), or leave it ("skip").
    same_revision: str = "received-date"


@dataclass(frozen=True, slots=True)
class Settings:
    procore: ProcoreSettings
    source: SourceSettings
    target: TargetSettings
    engine: EngineSettings

    def with_overrides(self, *, source: Path | None, journal: Path | None) -> Settings:
        """The settings with the command line's `--source` and `--journal` applied."""
        updated = self
        if source is not None:
            updated = replace(updated, source=replace(updated.source, root=source.resolve()))
        if journal is not None:
            updated = replace(updated, engine=replace(updated.engine, journal=journal.resolve()))
        return updated


def load_settings(path: Path) -> Settings:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc
    return parse_settings(raw, base=path.resolve().parent)


def parse_settings(raw: dict[str, Any], base: Path) -> Settings:
    """Validate a parsed config; relative paths are taken relative to `base`."""
    known = {"procore", "source", "target", "engine"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown config sections: {', '.join(sorted(unknown))}")
    procore = _section(raw, "procore", ProcoreSettings)
    source = _section(raw, "source", SourceSettings)
    target = _section(raw, "target", TargetSettings, required=False)
    engine = _section(raw, "engine", EngineSettings, required=False)
    try:
        settings = Settings(
            procore=_procore(procore),
            source=SourceSettings(
                root=_path(source, "root", base),
                include=_strings(source, "include", ("**/*.pdf",)),
                exclude=_strings(source, "exclude", ()),
                filename_pattern=str(source.get("filename_pattern", DEFAULT_FILENAME_PATTERN)),
                default_revision=str(source.get("default_revision", "0")),
                disciplines=_disciplines(source.get("disciplines", {})),
                manifest=_path(source, "manifest", base) if "manifest" in source else None,
                manifest_only=_flag(source, "manifest_only"),
                layout=_layout(source.get("layout")),
                multipage=_choice(source, "multipage", ("error", "review"), "error"),
                max_file_size=_positive(source, "max_file_size", 1024**3),
                follow_links=_flag(source, "follow_links"),
            ),
            target=TargetSettings(
                drawing_area=_name_or_id(target, "drawing_area"),
                drawing_set=_name_or_id(target, "drawing_set"),
                create_missing_set=_flag(target, "create_missing_set"),
                mode=_choice(target, "mode", ("direct", "review"), "direct"),
            ),
            engine=EngineSettings(
                journal=_path(engine, "journal", base, default="bulkimport-journal.sqlite3"),
                create_upload_workers=_positive(engine, "create_upload_workers", 4),
                upload_workers=_positive(engine, "upload_workers", 8),
                batch_size=_positive(engine, "batch_size", 50),
                batch_max_wait=_number(engine, "batch_max_wait", 10.0),
                expiry_margin=_number(engine, "expiry_margin", 120.0),
                attach_deadline=_number(engine, "attach_deadline", 6 * 24 * 3600.0),
                verify_interval=_number(engine, "verify_interval", 2.0),
                verify_timeout=_number(engine, "verify_timeout", 900.0),
                progress_interval=_number(engine, "progress_interval", 10.0),
                max_requests_per_hour=(
                    _positive(engine, "max_requests_per_hour", 1)
                    if "max_requests_per_hour" in engine
                    else None
                ),
                drain_timeout=_number(engine, "drain_timeout", 120.0),
                same_revision=_choice(
                    engine, "same_revision", SAME_REVISION_CHOICES, "received-date"
                ),
            ),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
    _check_pattern(settings.source.filename_pattern)
    _check_places(settings)
    return settings


def _procore(procore: dict[str, Any]) -> ProcoreSettings:
    return ProcoreSettings(
        api_base=_url(procore, "api_base"),
        login_base=_url(procore, "login_base"),
        company_id=_int(procore, "company_id"),
        project_id=_int(procore, "project_id"),
        upload_scope=_choice(procore, "upload_scope", ("project", "company"), "project"),
        timeout=_number(procore, "timeout", 60.0),
        max_attempts=int(_number(procore, "max_attempts", 5)),
        max_retry_seconds=_number(procore, "max_retry_seconds", 600.0),
    )


def _check_places(settings: Settings) -> None:
    """Every file must have somewhere to go: the manifest, the layout or [target] says where."""
    if settings.source.manifest_only and settings.source.manifest is None:
        raise ConfigError("source.manifest_only needs source.manifest")
    if settings.source.manifest is None:
        for key in LAYOUT_FIELDS:
            in_layout = "{" + key + "}" in (settings.source.layout or "")
            if getattr(settings.target, key) is None and not in_layout:
                raise ConfigError(
                    f"where do drawings go? set target.{key}, or name {{{key}}} in "
                    "source.layout, or give a manifest with that column"
                )


def _section(raw: dict[str, Any], name: str, shape: type, required: bool = True) -> dict[str, Any]:
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


def _need(section: dict[str, Any], key: str) -> Any:
    if key not in section:
        raise ConfigError(f"config is missing {key!r}")
    return section[key]


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plain_http_allowed(url: str) -> bool:
    """https everywhere; plain http only to this machine (the emulator, a local proxy)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))


def _url(section: dict[str, Any], key: str) -> str:
    value = str(_need(section, key)).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{key} must be an http(s) URL, got {value!r}")
    if not plain_http_allowed(value):
        raise ConfigError(
            f"{key} must use https: plain http is allowed only to loopback addresses, got {value!r}"
        )
    return value


def _flag(section: dict[str, Any], key: str) -> bool:
    value = section.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    return value


LAYOUT_FIELDS = ("drawing_area", "drawing_set")


def _layout(value: Any) -> str | None:
    """A folder layout: path segments, some of them `{drawing_area}` or `{drawing_set}`."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"layout must be a path pattern, got {value!r}")
    names = re.findall(r"{([^}]*)}", value)
    unknown = [n for n in names if n not in LAYOUT_FIELDS]
    if unknown or not names:
        raise ConfigError(
            f"layout {value!r} must name {{drawing_area}} and/or {{drawing_set}} folders"
            + (f", not {{{unknown[0]}}}" if unknown else "")
        )
    if any(not re.fullmatch(r"{[a-z_]+}|[^{}]*", part) for part in value.split("/")):
        raise ConfigError(f"layout {value!r}: a placeholder must be a whole folder name")
    return value


def _int(section: dict[str, Any], key: str) -> int:
    value = _need(section, key)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ConfigError(f"{key} must be a whole number, got {value!r}")
    return int(value)


def _number(section: dict[str, Any], key: str, default: float) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{key} must be a number >= 0, got {value!r}")
    return float(value)


def _positive(section: dict[str, Any], key: str, default: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a whole number >= 1, got {value!r}")
    return value


def _choice(section: dict[str, Any], key: str, options: tuple[str, ...], default: str) -> str:
    value = section.get(key, default)
    if value not in options:
        raise ConfigError(f"{key} must be one of {', '.join(options)}, got {value!r}")
    return str(value)


def _strings(section: dict[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = section.get(key, list(default))
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of glob patterns")
    return tuple(value)


def _path(section: dict[str, Any], key: str, base: Path, default: str | None = None) -> Path:
    value = section.get(key, default) if default is not None else _need(section, key)
    path = Path(str(value)).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _name_or_id(section: dict[str, Any], key: str) -> str | int | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        raise ConfigError(f"{key} must be a name or a numeric id, got {value!r}")
    return value


def _disciplines(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError("[source.disciplines] maps designators to discipline names")
    merged = dict(DEFAULT_DISCIPLINES)
    merged.update({str(k).upper(): v for k, v in value.items()})
    return merged


def _check_pattern(pattern: str) -> None:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"filename_pattern is not a valid regular expression: {exc}") from exc
    if "number" not in compiled.groupindex:
        raise ConfigError("filename_pattern needs a named group (?P<number>...)")
