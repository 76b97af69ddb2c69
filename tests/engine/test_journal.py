"""The journal's schema: a journal an earlier version wrote is brought up to date in place, one
a newer version wrote is refused untouched; the run's lock; on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bulkimport.errors import JournalBusy, JournalError
from bulkimport.journal.store import Journal
from bulkimport.models import FileState, Target
from tests.journals import JournalPlace

from .test_transitions import drawing

pytestmark = pytest.mark.anyio

VERSION_1 = """
CREATE TABLE files (rel TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha256 TEXT, number TEXT, title TEXT, revision TEXT, discipline TEXT, drawing_date TEXT,
    state TEXT NOT NULL, upload_uuid TEXT, uploaded_at REAL, drawing_id INTEGER, batch_id TEXT,
    drawing_upload_id INTEGER, error TEXT, updated_at REAL NOT NULL);
CREATE TABLE batches (token TEXT PRIMARY KEY, area_id INTEGER NOT NULL, set_id INTEGER NOT NULL,
    status TEXT NOT NULL, drawing_upload_id INTEGER, error TEXT, created_at REAL NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO files (rel, size, mtime_ns, sha256, number, revision, state, drawing_upload_id,
    updated_at) VALUES ('A-1.pdf', 10, 1, 'aa11', 'A-1', '0', 'verified', 7, 0);
INSERT INTO files (rel, size, mtime_ns, sha256, number, revision, state, updated_at)
    VALUES ('A-2.pdf', 10, 1, 'bb22', 'A-2', '0', 'failed', 0);
"""


@pytest.mark.sqlite_only("journals of schema 1 and 2 were SQLite files: PostgreSQL came with 3")
async def test_a_version_1_journal_is_migrated_and_keeps_its_rows(tmp_path: Path):
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_1)
    journal = await Journal.open(path, projects=(7,))
    try:
        rows = await journal.lookup(["A-1.pdf"])
        assert rows["A-1.pdf"].state == FileState.VERIFIED
        assert rows["A-1.pdf"].area is None
        assert rows["A-1.pdf"].review is False
    finally:
        await journal.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta").fetchone() == ("5",)
        # Schema 4's claims (several workers): nobody holds the file; schema 5's project: the
        # one the run that opened it named.
        claims = "SELECT claimed_by, lease_until, owner, project_id FROM files"
        assert db.execute(claims).fetchall() == [(None, None, None, 7), (None, None, None, 7)]


@pytest.mark.sqlite_only("journals of schema 1 and 2 were SQLite files: PostgreSQL came with 3")
async def test_an_earlier_journal_learns_which_content_procore_holds(tmp_path: Path):
    """Schema 3 keeps what Procore holds apart from what was last uploaded: a verified file's
    content is held; a failed upload's is not."""
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_1)
    await (await Journal.open(path, projects=(7,))).close()  # 1 -> 5 in one go
    with sqlite3.connect(path) as db:
        held = dict(db.execute("SELECT rel, held_sha256 FROM files"))
    assert held == {"A-1.pdf": "aa11", "A-2.pdf": None}


# Both backends ------------------------------------------------------------------------------


async def test_a_journal_written_by_a_newer_version_is_refused_and_left_as_it_is(
    journal_location: JournalPlace,
):
    await (await Journal.open(journal_location.location, projects=(7,))).close()
    journal_location.rows("UPDATE meta SET value='6' WHERE key='schema_version'")
    journal_location.rows("DROP INDEX files_state")  # what schema 6 might have done
    with pytest.raises(JournalError, match=r"newer bulkimport \(journal schema 6; this"):
        await Journal.open(journal_location.location, projects=(7,))
    with pytest.raises(JournalError, match="newer bulkimport"):
        await Journal.open(journal_location.location, readonly=True)
    # Not altered: the index a version 5 journal has was not made again, the version stays.
    assert journal_location.rows("SELECT value FROM meta") == [("6",)]
    assert not journal_location.index_exists("files_state")


async def test_a_second_run_on_the_journal_is_refused_while_readers_are_not(
    journal_location: JournalPlace,
):
    first = await Journal.open(journal_location.location, projects=(7,))
    try:
        with pytest.raises(JournalBusy, match="this run was not started"):
            await Journal.open(journal_location.location, projects=(7,))
        reader = await Journal.open(journal_location.location, readonly=True)
        assert await reader.counts() == {}
        await reader.close()
    finally:
        await first.close()
    # Released with the run: the next one starts.
    await (await Journal.open(journal_location.location, projects=(7,))).close()


async def test_paths_keep_python_order_and_large_values_keep_their_size(
    journal_location: JournalPlace,
):
    """Paths are paged in code-point order on both (PostgreSQL's collation could order them
    otherwise); mtimes in nanoseconds and drawing ids need 64 bits, times a double."""
    journal = await Journal.open(journal_location.location, projects=(7,))
    try:
        names = ["b.pdf", "B.pdf", "a b.pdf", "a-b.pdf", "ä.pdf", "Z.pdf", "_.pdf"]
        for name in names:
            await journal.reject(name, 2**40, 1_800_000_000_123_456_789, "x")
        await journal.plan([drawing(1)])
        await journal.uploading(drawing(1).rel, 2**40 + 1, Target(2**33, 2**34), None)
        await journal.uploaded(drawing(1).rel, "u", 1_800_000_000.125, "s")
        paged = [rel async for rows in journal.states(chunk=2) for rel, _ in rows]
        assert paged == sorted([*names, drawing(1).rel])
        row = (await journal.lookup([drawing(1).rel]))[drawing(1).rel]
        assert (row.drawing_id, row.area_id, row.uploaded_at) == (2**40 + 1, 2**33, 1.8e9 + 0.125)
        assert (await journal.lookup(["b.pdf"]))["b.pdf"].mtime_ns == 1_800_000_000_123_456_789
    finally:
        await journal.close()
