"""A throwaway PostgreSQL server for the registry tests (Debian's `postgresql` package).

`start()` finds initdb/pg_ctl (PATH or /usr/lib/postgresql/*/bin), creates a cluster in
a temp dir and starts it on a free loopback port with its socket in that dir. PostgreSQL
refuses to run as root, so under root the server runs as the `postgres` system user (or
the user in $ARMLOCK_PG_USER). `unavailable()` says why it cannot start, or None.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER_ENV = "ARMLOCK_PG_USER"


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    for d in reversed(dirs):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    return None


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    return os.environ.get(USER_ENV, "postgres")


def unavailable() -> str | None:
    """Why no server can be started here (None: it can)."""
    if _bindir() is None:
        return "PostgreSQL not installed (no initdb/pg_ctl; apt-get install -y postgresql)"
    user = _run_as()
    if user is not None:
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"running as root and there is no user {user!r} to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root without runuser to drop to a PostgreSQL user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One cluster in a temp dir; `url(db)` for a database in it; `stop()` removes it."""

    def __init__(self) -> None:
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        self.bin = _bindir()
        self.user = _run_as()
        self.dir = Path(tempfile.mkdtemp(prefix="armlock-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.role = self.user or pwd.getpwuid(os.geteuid()).pw_name
        if self.user:
            shutil.chown(self.dir, self.user)
        self._cmd("initdb", "-D", str(self.data), "-A", "trust", "-U", self.role,
                  "--no-sync", "-E", "UTF8")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories="
                f"{self.dir} -c fsync=off -c max_connections=60")
        self._cmd("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", opts,
                  "-w", "-t", "60", "start")

    def _cmd(self, tool: str, *args: str) -> None:
        argv = [str(self.bin / tool), *args]
        if self.user:
            argv = ["runuser", "-u", self.user, "--", *argv]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if r.returncode:
            log = self.dir / "log"
            tail = log.read_text()[-800:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed: {r.stderr.strip()[-800:]} {tail}")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.role}@127.0.0.1:{self.port}/{db}"

    def create_db(self, name: str) -> str:
        """Create database `name`; return its URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.role} "
                             "dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def start() -> PostgresServer:
    """Start a server (RuntimeError saying why if it cannot)."""
    return PostgresServer()
