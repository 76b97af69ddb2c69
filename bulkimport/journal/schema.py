"""The journal's tables, how a journal an earlier version wrote is brought up to date, and the
refusal of one a newer version wrote. One schema and one set of migrations for SQLite and
PostgreSQL: integer columns are BIGINT and times DOUBLE PRECISION, which SQLite reads as its
INTEGER and REAL, and PostgreSQL needs (its INTEGER has 32 bits and its REAL 24: neither holds
an mtime in nanoseconds or a unix time to the millisecond)."""

from __future__ import annotations

from bulkimport.errors import JournalError
from bulkimport.journal.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    rel {key_text} PRIMARY KEY,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
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
    uploaded_at DOUBLE PRECISION,
    drawing_id BIGINT,
    area_id BIGINT,
    set_id BIGINT,
    batch_id TEXT,
    drawing_upload_id BIGINT,
    error TEXT,
    updated_at DOUBLE PRECISION NOT NULL,
    owner TEXT,
    claimed_by TEXT,
    lease_until DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS files_batch ON files (batch_id);
CREATE INDEX IF NOT EXISTS files_state ON files (state);
CREATE TABLE IF NOT EXISTS batches (
    token TEXT PRIMARY KEY,
    area_id BIGINT NOT NULL,
    set_id BIGINT NOT NULL,
    review INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    drawing_upload_id BIGINT,
    error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    owner TEXT,
    claimed_by TEXT,
    lease_until DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
SCHEMA_VERSION = "4"
# Columns version 2 added (many targets per run, received dates, review), for journals of 1.
MIGRATIONS = {
    "1": [
        "ALTER TABLE files ADD COLUMN received_date TEXT",
        "ALTER TABLE files ADD COLUMN area TEXT",
        "ALTER TABLE files ADD COLUMN drawing_set TEXT",
        "ALTER TABLE files ADD COLUMN review INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE files ADD COLUMN area_id BIGINT",
        "ALTER TABLE files ADD COLUMN set_id BIGINT",
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
    # Several workers on one journal (PostgreSQL): who holds a file or a batch and until when
    # (claimed_by, lease_until), and which credential made its upload or batch (owner), since
    # an upload is usable only by the user that made it.
    "3": [
        "ALTER TABLE files ADD COLUMN owner TEXT",
        "ALTER TABLE files ADD COLUMN claimed_by TEXT",
        "ALTER TABLE files ADD COLUMN lease_until DOUBLE PRECISION",
        "ALTER TABLE batches ADD COLUMN owner TEXT",
        "ALTER TABLE batches ADD COLUMN claimed_by TEXT",
        "ALTER TABLE batches ADD COLUMN lease_until DOUBLE PRECISION",
        "UPDATE meta SET value='4' WHERE key='schema_version'",
    ],
}


def stored_version(db: Database) -> str | None:
    """The schema version the journal records; None when the database holds no journal."""
    if db.first(db.dialect.has_meta) is None:
        return None
    found = db.first("SELECT value FROM meta WHERE key='schema_version'")
    return None if found is None else str(found[0])


def check_version(db: Database, where: str) -> None:
    """Refuse a database that is not a journal of this schema, saying which it is."""
    version = stored_version(db)
    if version == SCHEMA_VERSION:
        return
    if version is not None and version not in MIGRATIONS:
        raise JournalError(
            f"{where} was written by a newer bulkimport (journal schema {version}; this version "
            f"knows {SCHEMA_VERSION} and earlier): it was left as it is; run a newer bulkimport"
        )
    raise JournalError(f"{where} is not a bulkimport journal of schema {SCHEMA_VERSION}")


def prepare(db: Database, where: str) -> None:
    """Create a new journal's tables, or bring one an earlier version wrote up to date, in one
    transaction. A journal a newer version wrote is refused before anything is changed."""
    with db.transaction():
        if db.dialect.setup_lock is not None:
            db.run(db.dialect.setup_lock)
        version = stored_version(db)
        if version is not None and version != SCHEMA_VERSION:
            if version not in MIGRATIONS:
                check_version(db, where)  # raises: written by a newer version
            while version in MIGRATIONS:  # one step after another: 1 -> 2 -> 3 -> 4
                for statement in MIGRATIONS[version]:
                    db.run(statement)
                version = stored_version(db)
        for statement in SCHEMA.format(key_text=db.dialect.key_text).split(";"):
            if statement.strip():
                db.run(statement)
        db.run(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING",
            (SCHEMA_VERSION,),
        )
    check_version(db, where)
