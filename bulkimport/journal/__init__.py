"""The journal: every file's and batch's state in SQLite or PostgreSQL, its schema, and the
run lock."""
