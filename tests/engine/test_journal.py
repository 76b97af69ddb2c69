"""The journal's schema: a journal an earlier version wrote is brought up to date in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bulkimport.journal.store import Journal
from bulkimport.models import FileState

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


async def test_a_version_1_journal_is_migrated_and_keeps_its_rows(tmp_path: Path):
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_1)
    journal = await Journal.open(path)
    try:
        rows = await journal.lookup(["A-1.pdf"])
        assert rows["A-1.pdf"].state == FileState.VERIFIED
        assert rows["A-1.pdf"].area is None
        assert rows["A-1.pdf"].review is False
    finally:
        await journal.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta").fetchone() == ("3",)


async def test_an_earlier_journal_learns_which_content_procore_holds(tmp_path: Path):
    """Schema 3 keeps what Procore holds apart from what was last uploaded: a verified file's
    content is held; a failed upload's is not."""
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_1)
    await (await Journal.open(path)).close()  # 1 -> 3 in one go
    with sqlite3.connect(path) as db:
        held = dict(db.execute("SELECT rel, held_sha256 FROM files"))
    assert held == {"A-1.pdf": "aa11", "A-2.pdf": None}
