"""A real PostgreSQL server for the tests, started by them: Debian's server binaries, a fresh
cluster in a temporary folder, listening on 127.0.0.1 on a free port, stopped at the end.

PostgreSQL refuses to run as root, and the tests run as root in CI: then the cluster belongs
to an unprivileged account (`nobody`, or one made for it) and its commands run through
`runuser`. Durability is switched off (fsync, full page writes): a test's database lives for
one test, and creating one takes about 50 ms.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import psycopg

BIN = Path(os.environ.get("BULKIMPORT_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"  # the cluster's own superuser, trusted on loopback only
ACCOUNT = "bulkimport-pg"  # made when there is no `nobody` to run the server as
PASSWORD_ROLE = "importer"  # the one role that must give a password


class Unavailable(Exception):
    """No PostgreSQL server binaries here: the tests that need one cannot run."""


@dataclass(frozen=True, slots=True)
class PostgresServer:
    folder: Path
    port: int
    account: str | None  # whom the server runs as, when the tests run as root
    host: str = "127.0.0.1"

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        with self.admin() as db:
            db.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def password_role(self, database: str, password: str) -> str:
        """PASSWORD_ROLE with `password`, allowed to create tables in `database`; its URL,
        without the password."""
        with self.admin() as db:
            exists = db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_ROLE,))
            verb = "ALTER" if exists.fetchone() else "CREATE"
            # Utility statements take no parameters: the test's own password, quoted.
            quoted = password.replace("'", "''")
            db.execute(f"{verb} ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{quoted}'".encode())
        with psycopg.connect(self.url(database), autocommit=True) as db:
            db.execute(f"GRANT ALL ON SCHEMA public TO {PASSWORD_ROLE}".encode())
        return f"postgresql://{PASSWORD_ROLE}@{self.host}:{self.port}/{database}"

    def drop_database(self, name: str) -> None:
        with self.admin() as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            _as(self.account, "pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


_names = count(1)


def database_name() -> str:
    return f"test_{os.getpid()}_{next(_names)}"


def start() -> PostgresServer:
    """A new cluster, started; raises Unavailable when the binaries are not installed."""
    if not (BIN / "initdb").is_file():
        raise Unavailable(
            f"no PostgreSQL server binaries in {BIN} (Debian: apt-get install postgresql-15; "
            "or set BULKIMPORT_PG_BIN)"
        )
    account = _account() if os.geteuid() == 0 else None
    # Not under pytest's tmp_path: its folders are private to root, and the server's account
    # must reach its own.
    folder = Path(tempfile.mkdtemp(prefix="bulkimport-pg-"))
    if account is not None:
        shutil.chown(folder, account)
    data, port = folder / "data", _free_port()
    # UTF-8 (--no-locale alone would make it SQL_ASCII); no fsync for a throwaway cluster.
    options = ("-U", SUPERUSER, "-A", "trust", "--no-locale", "-E", "UTF8", "--no-sync")
    _as(account, "initdb", "-D", str(data), *options)
    _write_hba(data / "pg_hba.conf", account)
    settings = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"
    settings += " -c max_connections=200"  # tests kill clients; their sessions end a moment later
    try:
        log = str(folder / "log")
        _as(account, "pg_ctl", "-D", str(data), "-l", log, "-w", "-o", settings, "start")
    except RuntimeError as exc:
        log = (folder / "log").read_text(errors="replace") if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"{exc}\n{log}") from None
    return PostgresServer(folder, port, account)


def _write_hba(path: Path, account: str | None) -> None:
    """Every role trusted on loopback and the socket, except PASSWORD_ROLE: the tests that log
    in as it show that libpq takes the password from the environment, as bulkimport says."""
    path.write_text(
        "local all all trust\n"
        f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
        "host all all 127.0.0.1/32 trust\n",
        encoding="utf-8",
    )
    if account is not None:
        shutil.chown(path, account)


def _as(account: str | None, program: str, *arguments: str) -> None:
    """Run one of the server's programs, as `account` when there is one (tests run as root)."""
    command = [str(BIN / program), *arguments]
    full = ["runuser", "-u", account, "--", *command] if account else command
    done = subprocess.run(full, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} failed ({done.returncode}): {done.stderr}")


def _account() -> str:
    """An unprivileged account for the server: `nobody`, or one made for it."""
    for name in ("nobody", ACCOUNT):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", ACCOUNT], check=True)
    return ACCOUNT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
