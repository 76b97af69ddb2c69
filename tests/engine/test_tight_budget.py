"""Batching under a tight request budget, end to end against the emulator on 127.0.0.1: when
Procore's budget paces the files, a batch waits to be full instead of leaving half-empty at
`batch_max_wait`, so the run makes one Create Drawing Upload per `batch_size` files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bulkimport.emulator import EmulatorConfig, RateLimits, serve
from bulkimport.report import exit_code
from bulkimport.samples import write_archive

from .conftest import import_archive as run
from .test_resilience import DRAWING_UPLOADS, seed_with_drawings
from .test_run import assert_exactly_once

pytestmark = pytest.mark.anyio

FILES = 70
BATCH = 20


async def test_a_tight_budget_sends_only_full_batches(tmp_path: Path):
    """70 revisions (one Create Upload each: their drawings exist) at 15 requests a second: a
    batch of 20 takes about 1.3 s to fill, more than the 0.25 s `batch_max_wait`. Flushing at
    that age sent 8 to 11 calls where 4 do (measured before this rule, at 30 a second), each a
    request spent for nothing, since the rest of the files come anyway at the budget's pace.
    The budget is set well below what the engine sends on a loaded 2-core machine (at 30 a
    second a busy machine could fall under it, and then the uploads, not the budget, bind)."""
    paths = write_archive(tmp_path / "src", FILES, min_size=1_000, max_size=2_000)
    (tmp_path / "seed.json").write_text(json.dumps(seed_with_drawings(paths)))
    limits = RateLimits(spike_limit=15, spike_window=1.0)
    config = EmulatorConfig(
        processing_delay=0, seed_file=tmp_path / "seed.json", rate_limits=limits
    )
    async with serve(config) as emu:
        result = await run(emu, tmp_path / "src", batch_size=BATCH, batch_max_wait=0.25)
        assert exit_code(result) == 0
        state = await assert_exactly_once(emu, paths)
        calls = emu.world.ledger.requests[DRAWING_UPLOADS]
        sizes = sorted(len(du["imports"]) for du in state["drawing_uploads"])
        print(f"tight budget: {calls} Create Drawing Upload calls, batches {sizes}")  # noqa: T201
        assert calls == math.ceil(FILES / BATCH)
        assert sizes == [FILES % BATCH] + [BATCH] * (FILES // BATCH)  # the rest at the end
        assert emu.world.ledger.rate_limited == 0
