"""When a shared worker goes round again and when it ends (workers.work_shared), on what the
journal says is left after each pass: no database, so the order of events is the test's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from bulkimport.journal import claims
from bulkimport.journal.claims import Remaining, Worker
from bulkimport.journal.store import Journal
from bulkimport.ledger import Ledger
from bulkimport.procore.client import ProcoreClient
from bulkimport.stopping import Stop
from bulkimport.workers import work_shared

pytestmark = pytest.mark.anyio


class Told:
    """A journal that answers `remaining` as the test says, after each pass in turn."""

    def __init__(self, *left: Remaining) -> None:
        self.worker = Worker("w1", "credential-x", 0.02)
        self.left = list(left)

    async def claiming(self, fn: Callable[..., Any], *args: Any) -> Any:
        if fn is claims.remaining:
            return self.left.pop(0)
        return [] if fn is claims.held_batches else None

    async def leftovers(self, root: Path) -> None:
        return None


async def passes(*left: Remaining) -> int:
    count = 0

    async def one_pass(_: object) -> None:
        nonlocal count
        count += 1

    journal = cast(Journal, Told(*left))
    client, ledger = cast(ProcoreClient, None), cast(Ledger, None)
    await work_shared(journal, client, ledger, Stop(), Path("."), one_pass)
    return count


async def test_files_freed_while_others_held_them_get_another_pass():
    """Another worker's lease ran out during the pass: what it held is free after it, which is
    news, not a pass that made no progress."""
    assert await passes(Remaining(30, 0), Remaining(0, 25), Remaining(0, 0)) == 3


async def test_a_batch_whose_lease_outlasts_its_files_is_waited_for_once():
    """The files of a dead worker's batch are free by their own leases, but the batch's runs a
    little longer: the passes right after cannot take them, the one after a wait does."""
    left = (Remaining(30, 0), Remaining(0, 25), Remaining(0, 25), Remaining(0, 0))
    assert await passes(*left) == 4


async def test_passes_that_finish_nothing_more_end_the_worker():
    assert await passes(Remaining(0, 4), Remaining(0, 4), Remaining(0, 4)) == 3
    assert await passes(Remaining(0, 4), Remaining(0, 3), Remaining(0, 3), Remaining(0, 3)) == 4
    assert await passes(Remaining(0, 0)) == 1
