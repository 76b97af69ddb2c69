"""The journal: every file's and batch's state in SQLite, its schema, and the run lock."""
