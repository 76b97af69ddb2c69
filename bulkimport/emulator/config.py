"""The emulator's knobs: durations, limits, faults and the WAN model.

Every duration is in seconds of the emulator's one clock, so a test compresses an hour into a
second by configuring it, never by sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

HOUR = 3600.0
WEEK = 7 * 24 * HOUR
FAULT_SCOPES = frozenset({"oauth", "api", "s3"})
REFUSAL_STYLES = ("named", "batch")
RefusalStyle = Literal["named", "batch"]
RATE_LIMIT_SCOPES = ("client", "endpoint")
RateLimitScope = Literal["client", "endpoint"]


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Procore's two windows, counted per client identity (renewing a token resets nothing).

    A limit of None switches that window off; with both off no X-Rate-Limit headers are sent.
    `retry_after` off sends a 429 with the X-Rate-Limit-* headers only. `scope` "endpoint" gives
    each endpoint (method and route) of a client its own pair of windows, and the headers on an
    answer describe that endpoint's.
    """

    hourly_limit: int | None = None
    hourly_window: float = HOUR
    spike_limit: int | None = None
    spike_window: float = 10.0
    # procore-api.md section 8 and C13: the docs disagree on whether a 429 carries Retry-After;
    # rate_limiting.md says to wait for X-Rate-Limit-Reset. Both readings are rehearsable.
    retry_after: bool = True
    # procore-api.md C12: the older docs count one budget per token (per company for a service
    # account); announcements/agentic_apis.md (2026-04) speaks of "per-app, per-endpoint quotas".
    scope: RateLimitScope = "client"

    def __post_init__(self) -> None:
        if self.scope not in RATE_LIMIT_SCOPES:
            raise ValueError(f"scope must be one of {RATE_LIMIT_SCOPES}, got {self.scope!r}")
        for name in ("hourly_limit", "spike_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.hourly_window <= 0 or self.spike_window <= 0:
            raise ValueError("rate-limit windows must be positive")

    @property
    def enabled(self) -> bool:
        return self.hourly_limit is not None or self.spike_limit is not None


@dataclass(frozen=True, slots=True)
class Faults:
    """Seeded misbehaviour, drawn per request from one random generator.

    `error_rate` answers 500 or 503 (half each, 503 with `Retry-After: retry_after_503`);
    `drop_rate` closes the connection without an answer; `slow_rate` delays a request by
    `slow_seconds`; `apply_drop_rate` lets Create Drawing Upload take effect and then drops the
    response.
    """

    error_rate: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    apply_drop_rate: float = 0.0
    scope: frozenset[str] = frozenset({"api", "s3"})
    seed: int = 0
    # procore-api.md section 8: heavy-load throttling is a 503 with Retry-After (seconds).
    retry_after_503: float = 1.0

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate", "slow_rate", "apply_drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.error_rate + self.drop_rate > 1.0:
            raise ValueError("error_rate + drop_rate must not exceed 1")
        if self.slow_seconds < 0:
            raise ValueError("slow_seconds must not be negative")
        if self.retry_after_503 < 0:
            raise ValueError("retry_after_503 must not be negative")
        unknown = self.scope - FAULT_SCOPES
        if unknown:
            raise ValueError(f"unknown fault scope {sorted(unknown)}; use {sorted(FAULT_SCOPES)}")


@dataclass(frozen=True, slots=True)
class Wan:
    """What a real network adds: latency per call and a bandwidth cap per S3 connection."""

    api_latency: float = 0.0
    s3_latency: float = 0.0
    s3_bandwidth: float | None = None  # bytes per second per connection; None = unlimited

    def __post_init__(self) -> None:
        if self.api_latency < 0 or self.s3_latency < 0:
            raise ValueError("latencies must not be negative")
        if self.s3_bandwidth is not None and self.s3_bandwidth <= 0:
            raise ValueError("s3_bandwidth must be positive")


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0
    s3_port: int = 0
    upload_ttl: float = HOUR
    token_ttl: float = 5400.0
    attach_deadline: float = WEEK
    processing_delay: float = 1.0
    issue_refresh_tokens: bool = False
    default_per_page: int = 100
    max_per_page: int = 1000
    max_imports_per_upload: int | None = None
    max_upload_bytes: int = 5 * 1024**3
    missing_company_status: int = 400
    # Readings of the reference where it is silent or sources disagree (procore-api.md 13);
    # each default is the documented or more lenient reading, the other is opt-in.
    require_project_id: bool = False  # C2: project_id listed on area-scoped drawing calls
    revisions_access: bool = True  # C8: off = a service account without the permission
    strict_dates: bool = False  # C5: refuse a plain YYYY-MM-DD where date-time is documented
    project_utc_offset: float = 0.0  # hours; the project's zone that turns a time into a day
    refusal_style: RefusalStyle = "named"  # C4: "batch" = one 400 that names no entry
    review_rate: float = 0.0  # C7: chance a direct import still needs manual review
    v10_uploads: bool = True  # C10: off = deprecated v1.0 Create Upload has been sunset
    rate_limits: RateLimits = field(default_factory=RateLimits)
    faults: Faults = field(default_factory=Faults)
    wan: Wan = field(default_factory=Wan)
    storage_dir: Path | None = None  # None: a temporary folder removed at shutdown
    seed_file: Path | None = None
    # Processed drawing uploads the first project already has, as an old project does: the
    # List of drawing uploads has no filter, so they are what reading it costs.
    earlier_drawing_uploads: int = 0
    # Projects in the first company: the first project's copies (same areas and sets) are
    # added up to this many, for runs that feed several projects ([[targets]]).
    projects: int = 1
    log_requests: bool = False

    def __post_init__(self) -> None:
        for name in ("upload_ttl", "token_ttl", "attach_deadline"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.processing_delay < 0:
            raise ValueError("processing_delay must not be negative")
        if self.default_per_page < 1 or self.max_per_page < 1:
            raise ValueError("page sizes must be at least 1")
        if self.projects < 1:
            raise ValueError("projects must be at least 1")
        if self.earlier_drawing_uploads < 0:
            raise ValueError("earlier_drawing_uploads must not be negative")
        if self.max_imports_per_upload is not None and self.max_imports_per_upload < 1:
            raise ValueError("max_imports_per_upload must be at least 1")
        if self.missing_company_status not in (400, 403):
            raise ValueError("missing_company_status must be 400 or 403")
        if not -12.0 <= self.project_utc_offset <= 14.0:
            raise ValueError("project_utc_offset must be between -12 and +14 hours")
        if self.refusal_style not in REFUSAL_STYLES:
            raise ValueError(f"refusal_style must be one of {REFUSAL_STYLES}")
        if not 0.0 <= self.review_rate <= 1.0:
            raise ValueError(f"review_rate must be between 0 and 1, got {self.review_rate}")
