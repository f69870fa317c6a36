"""A throwaway PostgreSQL server for tests: initdb + pg_ctl in a temporary directory.

The server listens on 127.0.0.1 only, on a free port, with password authentication over
TCP; its data directory belongs to the `postgres` user when the tests run as root (the
server refuses to run as root). `PgServer.stop()` (and the context manager) stops it and
removes the directory, also after a failed test.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def pg_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent  # Debian links them from /usr/lib/postgresql/N/bin
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def missing_reason() -> str | None:
    """Why a PostgreSQL server cannot be started here (None when it can)."""
    if pg_bindir() is None:
        return "PostgreSQL is not installed (no initdb; apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
        if not shutil.which("runuser"):
            return "running as root without runuser to start the server as 'postgres'"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """A running PostgreSQL server with one database; `url` is its SQLAlchemy URL."""

    def __init__(self, database: str = "gradebook") -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise RuntimeError(missing_reason() or "no PostgreSQL")
        self.bindir = bindir
        self.tmp = Path(tempfile.mkdtemp(prefix="pgserver-"))
        self.data = self.tmp / "data"
        self.port = _free_port()
        self.password = secrets.token_hex(8)
        self.database = database
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
        os.chmod(self.tmp, 0o700)
        pwfile = self.tmp / "pw"
        pwfile.write_text(self.password)
        if self._as_postgres:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--pwfile",
            str(pwfile),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        )
        pwfile.unlink()
        self.start()
        import psycopg

        with psycopg.connect(**self._params("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')

    @property
    def url(self) -> str:
        return (
            f"postgresql+psycopg://postgres:{self.password}@127.0.0.1:{self.port}/{self.database}"
        )

    def _params(self, dbname: str) -> dict:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "user": "postgres",
            "password": self.password,
            "dbname": dbname,
        }

    def _run(self, tool: str, *args: str, env: dict[str, str] | None = None) -> str:
        cmd = [str(self.bindir / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            cwd=self.tmp,
            env={**os.environ, **(env or {})},
            timeout=120,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
        return proc.stdout

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.tmp} -c fsync=off -c max_connections=40"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.tmp / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def restart(self) -> None:
        """Stop (fast: every connection is cut) and start again on the same port."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.start()

    def connections(self, database: str | None = None) -> int:
        """Client connections to `database` (default: this server's) now (pg_stat_activity)."""
        import psycopg

        with psycopg.connect(**self._params("postgres")) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                (database or self.database,),
            ).fetchone()
            return int(row[0])

    def stop(self) -> None:
        if self.data.exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass  # not running
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
