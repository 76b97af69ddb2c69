"""The journal's tables, how a journal an earlier version wrote is brought up to date, and the
refusal of one a newer version wrote. One schema and one set of migrations for SQLite and
PostgreSQL: integer columns are BIGINT and times DOUBLE PRECISION, which SQLite reads as its
INTEGER and REAL, and PostgreSQL needs (its INTEGER has 32 bits and its REAL 24: neither holds
an mtime in nanoseconds or a unix time to the millisecond)."""

from __future__ import annotations

from collections.abc import Sequence

from bulkimport.errors import JournalError
from bulkimport.journal.database import Database

# The tables as schema 5 made them: one row per file and per batch of each project the journal
# is used with. Also what the migration from 4 rebuilds the tables as, so a later schema changes
# them by a migration of its own and leaves these as they are.
FILES_5 = """files (
    project_id BIGINT NOT NULL,
    rel {key_text} NOT NULL,
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
    lease_until DOUBLE PRECISION,
    PRIMARY KEY (project_id, rel)
)"""
# A batch's token is unique across projects (a new uuid each), so it stays the key.
BATCHES_5 = """batches (
    project_id BIGINT NOT NULL,
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
)"""
# A batch's files by its token; a project's files by state (the key serves a project's paths).
INDEXES_5 = [
    "CREATE INDEX IF NOT EXISTS files_batch ON files (batch_id)",
    "CREATE INDEX IF NOT EXISTS files_state ON files (project_id, state)",
]
# The runs and workers on the journal, with their last figures, for `bulkimport status` on any
# machine (journal/runs.py): a row per run, kept bounded. Times are the database's clock, so
# that whether a run is alive does not depend on any one machine's. Added to schema 5 before it
# was released: a journal of schema 5 made without it gets it when a run next opens it (these
# statements run on every write-open), and a reader copes with its absence. A SQLite journal
# has it too (one schema for both), empty: its run keeps the record in the file beside it.
RUNS_5 = """runs (
    run_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    projects TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    exit_status INTEGER,
    figures TEXT NOT NULL
)"""
SCHEMA = [
    f"CREATE TABLE IF NOT EXISTS {FILES_5}",
    *INDEXES_5,
    f"CREATE TABLE IF NOT EXISTS {BATCHES_5}",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {RUNS_5}",
]
# The columns of schema 4's tables, which schema 5 copies under the project that opens it.
FILES_4 = (
    "rel, size, mtime_ns, sha256, held_sha256, number, title, revision, discipline, drawing_date,"
    " received_date, area, drawing_set, review, state, upload_uuid, uploaded_at, drawing_id,"
    " area_id, set_id, batch_id, drawing_upload_id, error, updated_at, owner, claimed_by,"
    " lease_until"
)
BATCHES_4 = (
    "token, area_id, set_id, review, status, drawing_upload_id, error, created_at, owner,"
    " claimed_by, lease_until"
)
SCHEMA_VERSION = "5"
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
    # One journal for several projects: each row is a project's, the files keyed by project
    # and path. A key cannot change in place (SQLite), so each table is copied aside, made
    # again and filled back, every row under {project}: the one project the journal was used
    # with, which it never recorded, as the run that opens it names it (prepare refuses a run
    # of several projects on such a journal with rows). CREATE TABLE AS copies neither key nor
    # index, so no name is taken twice (PostgreSQL's index names are per schema): the old
    # table's indexes go with it and are made again under the same names.
    "4": [
        "CREATE TABLE files_4 AS SELECT * FROM files",
        "DROP TABLE files",
        f"CREATE TABLE {FILES_5}",
        *INDEXES_5,
        f"INSERT INTO files (project_id, {FILES_4}) SELECT {{project}}, {FILES_4} FROM files_4",
        "DROP TABLE files_4",
        "CREATE TABLE batches_4 AS SELECT * FROM batches",
        "DROP TABLE batches",
        f"CREATE TABLE {BATCHES_5}",
        (
            f"INSERT INTO batches (project_id, {BATCHES_4})"
            f" SELECT {{project}}, {BATCHES_4} FROM batches_4"
        ),
        "DROP TABLE batches_4",
        "UPDATE meta SET value='5' WHERE key='schema_version'",
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


def prepare(db: Database, where: str, projects: Sequence[int]) -> None:
    """Create a new journal's tables, or bring one an earlier version wrote up to date, in one
    transaction, for a run on `projects` (at least one). A journal a newer version wrote is
    refused before anything is changed, and so is an older one with rows when the run names
    several projects: its rows are the one project's it was used with, which it never named."""
    with db.transaction():
        if db.dialect.setup_lock is not None:
            db.run(db.dialect.setup_lock)
        version = stored_version(db)
        if version is not None and version != SCHEMA_VERSION:
            if version not in MIGRATIONS:
                check_version(db, where)  # raises: written by a newer version
            if len(projects) > 1 and _has_rows(db):
                raise JournalError(_whose_rows(where, version, projects))
            while version in MIGRATIONS:  # one step after another: 1 -> 2 -> 3 -> 4 -> 5
                for statement in MIGRATIONS[version]:
                    db.run(_formatted(db, statement, projects[0]))
                version = stored_version(db)
        for statement in SCHEMA:
            db.run(_formatted(db, statement, projects[0]))
        db.run(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING",
            (SCHEMA_VERSION,),
        )
    check_version(db, where)


def _formatted(db: Database, statement: str, project: int) -> str:
    # The project goes in as a number written out: it is an int, never text from outside.
    return statement.format(key_text=db.dialect.key_text, project=int(project))


def _has_rows(db: Database) -> bool:
    return any(db.first(f"SELECT 1 FROM {table} LIMIT 1") for table in ("files", "batches"))


def _whose_rows(where: str, version: str, projects: Sequence[int]) -> str:
    named = ", ".join(str(p) for p in projects)
    return (
        f"{where} was written before journals recorded their project (journal schema "
        f"{version}), and this run names several projects ({named}): it cannot tell which "
        "one its rows are, and was left as it is. Run once with the single-project config "
        "that wrote it, which brings it up to date under that project, or name another "
        "journal (engine.journal) for this run"
    )
