"""Several Procore projects in one journal (schema 5): each project's rows are its own, the same
path in two projects is two files; a schema-4 journal, which never recorded its project, is
migrated under the one project a run names and refused to a run of several; on SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulkimport.cli import status_command
from bulkimport.errors import JournalBusy, JournalError
from bulkimport.journal import claims
from bulkimport.journal.claims import Worker
from bulkimport.journal.store import Journal
from bulkimport.models import Batch, FileState
from tests.journals import JournalPlace

from .test_transitions import ROOT, TARGET, drawing, up_to_uploaded, uploaded

pytestmark = pytest.mark.anyio

# Schema 4 as the version before projects wrote it (TEXT keys: no order is read from it).
VERSION_4 = [
    """CREATE TABLE files (rel TEXT PRIMARY KEY, size BIGINT NOT NULL, mtime_ns BIGINT NOT NULL,
    sha256 TEXT, held_sha256 TEXT, number TEXT, title TEXT, revision TEXT, discipline TEXT,
    drawing_date TEXT, received_date TEXT, area TEXT, drawing_set TEXT,
    review INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, upload_uuid TEXT,
    uploaded_at DOUBLE PRECISION, drawing_id BIGINT, area_id BIGINT, set_id BIGINT,
    batch_id TEXT, drawing_upload_id BIGINT, error TEXT, updated_at DOUBLE PRECISION NOT NULL,
    owner TEXT, claimed_by TEXT, lease_until DOUBLE PRECISION)""",
    "CREATE INDEX files_batch ON files (batch_id)",
    "CREATE INDEX files_state ON files (state)",
    """CREATE TABLE batches (token TEXT PRIMARY KEY, area_id BIGINT NOT NULL,
    set_id BIGINT NOT NULL, review INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,
    drawing_upload_id BIGINT, error TEXT, created_at DOUBLE PRECISION NOT NULL, owner TEXT,
    claimed_by TEXT, lease_until DOUBLE PRECISION)""",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO meta VALUES ('schema_version', '4')",
]
ROWS_4 = [
    (
        "INSERT INTO files (rel, size, mtime_ns, sha256, held_sha256, number, revision, state,"
        " drawing_upload_id, updated_at) VALUES ('A-1.pdf', 10, 1, 'aa', 'aa', 'A-1', '0',"
        " 'verified', 900, 0)"
    ),
    (
        "INSERT INTO files (rel, size, mtime_ns, number, revision, drawing_date, state,"
        " upload_uuid, drawing_id, area_id, set_id, batch_id, updated_at) VALUES ('A-2.pdf',"
        " 10, 1, 'A-2', '0', '2026-03-17', 'batched', 'u-2', 12, 5, 3, 't-1', 0)"
    ),
    (
        "INSERT INTO batches (token, area_id, set_id, status, created_at)"
        " VALUES ('t-1', 5, 3, 'pending', 1)"
    ),
]


# A schema-5 journal's indexes, as a new one has them.
INDEXES = {
    "sqlite": {
        "files_batch",
        "files_state",
        "sqlite_autoindex_files_1",
        "sqlite_autoindex_batches_1",
    },
    "postgresql": {"files_batch", "files_state", "files_pkey", "batches_pkey"},
}


def indexes(place: JournalPlace) -> set[str]:
    """The indexes of the tables schema 4 had (files, batches), which the migration rebuilds."""
    tables = "('files', 'batches')"
    if place.backend == "sqlite":
        sql = f"SELECT name FROM sqlite_master WHERE type='index' AND tbl_name IN {tables}"
    else:
        sql = f"SELECT indexname FROM pg_indexes WHERE tablename IN {tables}"
    return {str(name) for (name,) in place.rows(sql)}


def version_4(place: JournalPlace, rows: bool = True) -> None:
    for statement in VERSION_4 + (ROWS_4 if rows else []):
        place.rows(statement)


def everything(place: JournalPlace) -> list[Any]:
    """What a schema-4 journal holds, to tell it was left as it was."""
    return [
        place.rows("SELECT * FROM meta ORDER BY key"),
        place.rows("SELECT * FROM files ORDER BY rel"),
        place.rows("SELECT * FROM batches ORDER BY token"),
    ]


async def open_two(place: JournalPlace) -> tuple[Journal, Journal]:
    """A run on projects 7 and 8: the journal as 7's, and its sibling 8's."""
    seven = await Journal.open(place.location, projects=(7, 8))
    return seven, seven.for_project(8)


# Two projects, one journal ------------------------------------------------------------------


async def test_the_same_path_in_two_projects_is_two_files(journal_location: JournalPlace):
    seven, eight = await open_two(journal_location)
    try:
        rel = drawing(1).rel
        await up_to_uploaded(seven, 1)
        await eight.plan([drawing(1, revision="B")])
        assert (await seven.lookup([rel]))[rel].state == FileState.UPLOADED
        row = (await eight.lookup([rel]))[rel]
        assert (row.project_id, row.state, row.revision, row.upload_uuid) == (
            8,
            FileState.PLANNED,
            "B",
            None,
        )
        # A transition of one project's file leaves the other's as it was.
        await eight.failed([rel], "refused")
        await eight.reject("only-8.pdf", 1, 1, "not a PDF")
        assert (await seven.lookup([rel]))[rel].state == FileState.UPLOADED
        assert await seven.lookup(["only-8.pdf"]) == {}
        # Planning again in one project forgets only that project's progress.
        await eight.plan([drawing(1)])
        assert (await seven.lookup([rel]))[rel].upload_uuid == "uuid-1"
        assert await seven.counts() == {"uploaded": 1}
        assert await eight.counts() == {"planned": 1, "failed": 1}
        assert [p async for rows in seven.states() for p in rows] == [(rel, FileState.UPLOADED)]
        left = await eight.leftovers(ROOT)
        assert (left.uploads, left.batches, left.unverified) == ({}, (), {})
        assert list((await seven.leftovers(ROOT)).uploads) == [rel]
        assert await seven.projects() == [7, 8]
    finally:
        await eight.close()
        await seven.close()


async def test_a_projects_batches_are_its_own(journal_location: JournalPlace):
    seven, eight = await open_two(journal_location)
    try:
        await up_to_uploaded(seven, 1, 2)
        await up_to_uploaded(eight, 1, 2)
        await seven.batch_created(Batch("t-7", TARGET, (uploaded(1), uploaded(2))))
        await eight.batch_created(Batch("t-8", TARGET, (uploaded(1),)))
        (pending,) = await seven.pending_batches()
        assert (pending.token, pending.project_id) == ("t-7", 7)
        assert {r.project_id for r in pending.rows} == {7}
        assert [b.token for b in await eight.pending_batches()] == ["t-8"]
        # Another project's token is nothing to this one: its batch stays as it was.
        await eight.batch_closed("t-7", "not 8's")
        await eight.batch_sent("t-7", 900)
        assert [b.token for b in await seven.pending_batches()] == ["t-7"]
        assert await seven.counts() == {"batched": 2}
        await seven.batch_sent("t-7", 900)
        assert await seven.unverified() == {900: 2}
        assert await eight.unverified() == {}
        await eight.outcome(900, "processing failed")  # 8 has no file in drawing upload 900
        assert await seven.counts() == {"imported": 2}
        assert await eight.counts() == {"batched": 1, "uploaded": 1}
    finally:
        await seven.close()


async def test_a_reader_over_every_project_reads_them_all_and_writes_none(
    journal_location: JournalPlace,
):
    seven, eight = await open_two(journal_location)
    try:
        await seven.plan([drawing(1), drawing(2)])
        await eight.plan([drawing(1)])
    finally:
        await seven.close()
    reader = await Journal.open(journal_location.location, readonly=True)
    try:
        assert reader.project is None
        assert await reader.counts() == {"planned": 3}
        paged = [(r.project_id, r.rel) async for rows in reader.stream(chunk=1) for r in rows]
        assert paged == [(7, drawing(1).rel), (7, drawing(2).rel), (8, drawing(1).rel)]
        assert await reader.projects() == [7, 8]
        assert await reader.for_project(8).counts() == {"planned": 1}
        assert await reader.for_project(9).counts() == {}  # a reader may look at any
        with pytest.raises(JournalError, match="opened to read every project"):
            await reader.lookup([drawing(1).rel])
        with pytest.raises(JournalError, match="opened to read every project"):
            await reader.plan([drawing(3)])
    finally:
        await reader.close()
    scoped = await Journal.open_if_present(journal_location.location, projects=(8,))
    assert scoped is not None
    try:
        assert (scoped.project, await scoped.counts()) == (8, {"planned": 1})
    finally:
        await scoped.close()
    snapshot, _ = await status_command.read(journal_location.location)
    assert snapshot.by_project == {7: {"planned": 2}, 8: {"planned": 1}}


async def test_a_siblings_close_leaves_the_database_open(journal_location: JournalPlace):
    seven, eight = await open_two(journal_location)
    try:
        await eight.close()
        await eight.close()  # as often as it likes
        await eight.plan([drawing(1)])  # the connection is still there, for both
        assert await seven.for_project(8).counts() == {"planned": 1}
        with pytest.raises(ValueError, match="project 9 is not one the journal"):
            seven.for_project(9)  # its run holds no lock on 9
    finally:
        await seven.close()
    # Closed by its opener: the run's lock went with it.
    await (await Journal.open(journal_location.location, projects=(8,))).close()


async def test_a_run_names_its_projects(journal_location: JournalPlace):
    with pytest.raises(ValueError, match="needs the project"):
        await Journal.open(journal_location.location)
    assert not journal_location.exists()
    await (await Journal.open(journal_location.location, projects=(7,))).close()
    assert indexes(journal_location) == INDEXES[journal_location.backend]


# Schema 4 ------------------------------------------------------------------------------------


async def test_a_schema_4_journal_is_the_single_project_of_the_run_that_opens_it(
    journal_location: JournalPlace,
):
    version_4(journal_location)
    journal = await Journal.open(journal_location.location, projects=(7,))
    try:
        rows = await journal.lookup(["A-1.pdf", "A-2.pdf"])
        assert {rel: (r.project_id, r.state) for rel, r in rows.items()} == {
            "A-1.pdf": (7, FileState.VERIFIED),
            "A-2.pdf": (7, FileState.BATCHED),
        }
        (pending,) = await journal.pending_batches()
        assert (pending.token, pending.project_id, [r.rel for r in pending.rows]) == (
            "t-1",
            7,
            ["A-2.pdf"],
        )
        assert await journal.projects() == [7]
    finally:
        await journal.close()
    assert journal_location.rows("SELECT value FROM meta") == [("5",)]
    assert journal_location.rows("SELECT DISTINCT project_id FROM batches") == [(7,)]
    # The tables were rebuilt under their names, their indexes with them (the keys' named as
    # a new journal's), nothing left aside.
    assert indexes(journal_location) == INDEXES[journal_location.backend]
    for aside in ("files_4", "batches_4"):  # tables, found by the same look-up
        assert not journal_location.index_exists(aside)
    # Keyed by project and path: the same path may be planned in another project.
    other = await Journal.open(journal_location.location, projects=(8,))
    try:
        await other.plan([drawing(1, rel="A-1.pdf")])
        assert (await other.lookup(["A-1.pdf"]))["A-1.pdf"].state == FileState.PLANNED
    finally:
        await other.close()
    assert journal_location.rows("SELECT COUNT(*) FROM files") == [(3,)]


async def test_a_schema_4_journal_with_rows_is_refused_to_a_run_of_several_projects(
    journal_location: JournalPlace,
):
    version_4(journal_location)
    before = everything(journal_location)
    with pytest.raises(JournalError, match="single-project config that wrote it") as refused:
        await Journal.open(journal_location.location, projects=(7, 8))
    assert "journal schema 4" in str(refused.value)
    assert "names several projects (7, 8)" in str(refused.value)
    assert everything(journal_location) == before  # still schema 4, the same rows
    # The single-project run it asks for: then the other project joins it.
    await (await Journal.open(journal_location.location, projects=(7,))).close()
    await (await Journal.open(journal_location.location, projects=(7, 8))).close()


async def test_a_schema_4_journal_without_rows_is_migrated_whatever_the_projects(
    journal_location: JournalPlace,
):
    version_4(journal_location, rows=False)
    journal = await Journal.open(journal_location.location, projects=(7, 8))
    try:
        await journal.for_project(8).plan([drawing(1)])
        assert await journal.projects() == [8]
    finally:
        await journal.close()
    assert journal_location.rows("SELECT value FROM meta") == [("5",)]


# PostgreSQL: a lock per project, and claims within one ------------------------------------


async def test_a_run_of_two_projects_holds_both_locks(postgres_url: str, tmp_path: Path):
    location = JournalPlace("postgresql", postgres_url, tmp_path).location
    running = await Journal.open(location, projects=(8, 7))
    try:
        with pytest.raises(JournalBusy, match="holds the lock on project 8 in the journal"):
            await Journal.open(location, projects=(8,))
        with pytest.raises(JournalBusy, match="holds the lock on project 7 in the journal"):
            await Journal.open(location, projects=(9, 7))
        await (await Journal.open(location, projects=(9,))).close()
    finally:
        await running.close()
    await (await Journal.open(location, projects=(7, 8))).close()  # both let go


async def test_a_workers_claims_on_a_project_leave_the_others_rows(
    postgres_url: str, tmp_path: Path
):
    place = JournalPlace("postgresql", postgres_url, tmp_path)
    # What a run on project 8 left: an upload never batched, a batch never answered.
    earlier = await Journal.open(place.location, projects=(8,))
    try:
        await up_to_uploaded(earlier, 1, 2, 3)
        await earlier.batch_created(Batch("t-8", TARGET, (uploaded(2), uploaded(3))))
    finally:
        await earlier.close()
    worker = Worker("w1", "credential-x", 60.0)
    journal = await Journal.open(place.location, projects=(7,), worker=worker)
    try:
        found = [(drawing(n).rel, 1000 + n, n) for n in (1, 2)]
        held, rows = await journal.claim(found)
        assert (held, rows) == ({drawing(1).rel, drawing(2).rel}, {})  # new in project 7
        await journal.claiming(claims.claim_leftovers)  # project 7 has left nothing
        assert await journal.claiming(claims.held_batches, True) == []
        assert await journal.claiming(claims.held_uploads) == []
        left = await journal.claiming(claims.remaining)
        assert (left.held_elsewhere, left.free) == (0, 0)  # 8's unfinished rows are not 7's
        holders = place.rows("SELECT project_id, rel, claimed_by FROM files ORDER BY 1, 2")
        assert holders == [
            (7, drawing(1).rel, "w1"),
            (7, drawing(2).rel, "w1"),
            (8, drawing(1).rel, None),
            (8, drawing(2).rel, None),
            (8, drawing(3).rel, None),
        ]
        assert place.rows("SELECT claimed_by FROM batches") == [(None,)]
    finally:
        await journal.claiming(claims.release)
        await journal.close()
    assert place.rows("SELECT state FROM files WHERE project_id=8 ORDER BY rel") == [
        ("uploaded",),
        ("batched",),
        ("batched",),
    ]


async def test_a_worker_lets_go_of_one_projects_claims_only(postgres_url: str, tmp_path: Path):
    """A run over several projects has a worker loop per project; one that ends its pass
    releases its own project's claims, not the files another project is working on."""
    place = JournalPlace("postgresql", postgres_url, tmp_path)
    worker = Worker("w1", "credential-x", 60.0)
    journal = await Journal.open(place.location, projects=(7, 8), worker=worker)
    try:
        eight = journal.for_project(8)
        for scope in (journal, eight):
            held, _ = await scope.claim([(drawing(1).rel, 1001, 1)])
            assert held == {drawing(1).rel}
        before = place.rows("SELECT lease_until FROM files WHERE project_id=8")
        await journal.claiming(claims.renew)
        assert place.rows("SELECT lease_until FROM files WHERE project_id=8") == before
        await journal.claiming(claims.release)
        assert place.rows("SELECT project_id, claimed_by FROM files ORDER BY 1") == [
            (7, None),
            (8, "w1"),
        ]
    finally:
        await journal.close()
