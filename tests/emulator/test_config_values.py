"""The emulator's settings refuse values that would make it lie about Procore: each with a
message naming the setting (the CLI turns them into a usage error, exit 2)."""

from __future__ import annotations

from typing import Any

import pytest

from bulkimport.emulator import EmulatorConfig, Faults, RateLimits, Wan


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RateLimits(hourly_limit=0), "hourly_limit must be at least 1, got 0"),
        (lambda: RateLimits(spike_limit=-3), "spike_limit must be at least 1, got -3"),
        (lambda: RateLimits(spike_window=0), "rate-limit windows must be positive"),
        (lambda: Faults(drop_rate=1.5), "drop_rate must be between 0 and 1, got 1.5"),
        (lambda: Faults(error_rate=0.6, drop_rate=0.6), r"error_rate \+ drop_rate must not"),
        (lambda: Faults(slow_seconds=-1), "slow_seconds must not be negative"),
        (lambda: Faults(retry_after_503=-1), "retry_after_503 must not be negative"),
        (lambda: Wan(api_latency=-0.1), "latencies must not be negative"),
        (lambda: Wan(s3_bandwidth=0), "s3_bandwidth must be positive"),
        (lambda: EmulatorConfig(upload_ttl=0), "upload_ttl must be positive"),
        (lambda: EmulatorConfig(processing_delay=-1), "processing_delay must not be negative"),
        (lambda: EmulatorConfig(max_per_page=0), "page sizes must be at least 1"),
        (lambda: EmulatorConfig(max_imports_per_upload=0), "max_imports_per_upload must be at"),
        (lambda: EmulatorConfig(missing_company_status=401), "must be 400 or 403"),
        (lambda: EmulatorConfig(project_utc_offset=15), "between -12 and \\+14 hours"),
        (lambda: EmulatorConfig(refusal_style="silent"), "refusal_style must be one of"),  # type: ignore[arg-type]
        (lambda: EmulatorConfig(review_rate=2), "review_rate must be between 0 and 1, got 2"),
    ],
)
def test_a_value_out_of_range_is_refused_with_its_name(make: Any, message: str):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_edges_of_each_range_are_accepted():
    assert RateLimits(hourly_limit=1, spike_limit=1).enabled
    assert not RateLimits().enabled
    Faults(error_rate=0.5, drop_rate=0.5, slow_seconds=0, retry_after_503=0)
    Wan(api_latency=0, s3_latency=0, s3_bandwidth=1)
    EmulatorConfig(project_utc_offset=-12, review_rate=1, missing_company_status=403)
    EmulatorConfig(project_utc_offset=14, refusal_style="batch", max_imports_per_upload=1)
