"""The boundaries the README draws, as the interpreter sees them at run time (the static ones
are import-linter's contracts in pyproject.toml, run by .ci/run)."""

from __future__ import annotations

import subprocess
import sys


def imported_by(statement: str) -> list[str]:
    """Every module `python -X importtime` reports loading for one statement."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]


def test_the_cli_loads_no_emulator_module_until_asked():
    modules = imported_by("import bulkimport.cli")
    assert "bulkimport.cli.commands" in modules  # the measurement saw the CLI itself
    assert [m for m in modules if m.startswith("bulkimport.emulator")] == []


def test_a_run_on_sqlite_loads_no_postgresql_driver():
    """psycopg and libpq add about 10 MB to every run's memory; only a PostgreSQL journal needs
    them."""
    modules = imported_by("import bulkimport.pipeline, bulkimport.cli.commands")
    assert "bulkimport.journal.store" in modules
    assert [m for m in modules if m.startswith("psycopg")] == []
