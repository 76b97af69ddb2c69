"""The journal's tables, and how a journal an earlier version wrote is brought up to date."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    rel TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT,
    held_sha256 TEXT,
    number TEXT,
    title TEXT,
    revision TEXT,
    discipline TEXT,
    drawing_date TEXT,
    received_date TEXT,
    area TEXT,
    drawing_set TEXT,
    review INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    upload_uuid TEXT,
    uploaded_at REAL,
    drawing_id INTEGER,
    area_id INTEGER,
    set_id INTEGER,
    batch_id TEXT,
    drawing_upload_id INTEGER,
    error TEXT,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_batch ON files (batch_id);
CREATE INDEX IF NOT EXISTS files_state ON files (state);
CREATE TABLE IF NOT EXISTS batches (
    token TEXT PRIMARY KEY,
    area_id INTEGER NOT NULL,
    set_id INTEGER NOT NULL,
    review INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    drawing_upload_id INTEGER,
    error TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
SCHEMA_VERSION = "3"
# Columns version 2 added (many targets per run, received dates, review), for journals of 1.
MIGRATIONS = {
    "1": [
        "ALTER TABLE files ADD COLUMN received_date TEXT",
        "ALTER TABLE files ADD COLUMN area TEXT",
        "ALTER TABLE files ADD COLUMN drawing_set TEXT",
        "ALTER TABLE files ADD COLUMN review INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE files ADD COLUMN area_id INTEGER",
        "ALTER TABLE files ADD COLUMN set_id INTEGER",
        "ALTER TABLE batches ADD COLUMN review INTEGER NOT NULL DEFAULT 0",
        "UPDATE meta SET value='2' WHERE key='schema_version'",
    ],
    # The content Procore holds, apart from the content last uploaded: an upload that never
    # landed must not pass for what Procore has.
    "2": [
        "ALTER TABLE files ADD COLUMN held_sha256 TEXT",
        "UPDATE files SET held_sha256=sha256 WHERE state='verified'",
        "UPDATE meta SET value='3' WHERE key='schema_version'",
    ],
}


def migrate(db: sqlite3.Connection) -> None:
    """Bring a journal an earlier version wrote up to this schema, in one transaction."""
    has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone()
    if not has_meta:
        return  # a new journal
    found = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    version = found[0] if found else None
    if version not in MIGRATIONS:
        return
    with db:
        db.execute("BEGIN")
        while version in MIGRATIONS:  # one step after another: 1 -> 2 -> 3
            for statement in MIGRATIONS[version]:
                db.execute(statement)
            version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
