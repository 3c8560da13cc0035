"""A throwaway PostgreSQL cluster for the tests: one per pytest(-xdist) worker.

It lives under a temporary directory (data and Unix socket, no TCP port, so workers never
collide), runs with fsync off (nothing here needs to survive a crash of the machine), and
trusts every local connection. PostgreSQL refuses to run as root, so when the tests run as
root the server runs as an unprivileged account (``postgres``, else ``nobody``) owning that
directory. The server is stopped at the end of the session, whatever the tests did.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

SUPERUSER = "agentd_test"
PORT = 5432  # names the socket file only (.s.PGSQL.5432 in the socket directory)
# fsync off: nothing here must survive a crash of the machine. But synchronous_commit stays
# on: the tests stop the server as a crash would (pg_ctl -m immediate) and a committed write
# must still be there after it, as on a real server.
SERVER_OPTIONS = (
    "-c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=200"
)


class NoServer(Exception):
    """No PostgreSQL server binaries on this machine; the message says what is missing."""


def find_bindir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl (Debian's
    layout), else the directory of initdb on PATH."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda d: _version(d.parent.name),
    )
    candidates = [*reversed(found)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise NoServer(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) under "
        "/usr/lib/postgresql/*/bin or on PATH: install Debian's postgresql package"
    )


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as: None (this one) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise NoServer("running as root, and neither a postgres nor a nobody account exists")


@dataclass
class Cluster:
    bindir: Path
    base: Path  # the temporary directory holding everything below
    account: pwd.struct_passwd | None

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "sock"

    @property
    def log(self) -> Path:
        return self.base / "server.log"

    @property
    def psql(self) -> Path:
        return self.bindir / "psql"

    def conninfo(self, dbname: str = "postgres", **extra: str) -> str:
        """A libpq key/value string reaching ``dbname`` on this cluster's socket."""
        return make_conninfo(
            host=str(self.socket_dir), port=PORT, dbname=dbname, user=SUPERUSER, **extra
        )

    def _as_server(self, argv: list[str]) -> list[str]:
        if self.account is None:
            return argv
        name = self.account.pw_name
        return [
            "setpriv",
            f"--reuid={name}",
            f"--regid={self.account.pw_gid}",
            "--init-groups",
            *argv,
        ]

    def _ctl(self, *args: str) -> None:
        argv = self._as_server([str(self.bindir / "pg_ctl"), "-D", str(self.data), *args])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"pg_ctl {' '.join(args)} failed ({done.returncode}): "
                f"{done.stdout}{done.stderr}\nserver log:\n{tail}"
            )

    def init(self) -> None:
        self.socket_dir.mkdir()
        if self.account is not None:
            for path in (self.base, self.socket_dir):
                os.chown(path, self.account.pw_uid, self.account.pw_gid)
        argv = self._as_server(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}): {done.stdout}{done.stderr}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections (pg_ctl -w)."""
        options = f"{SERVER_OPTIONS} -k {self.socket_dir} -p {PORT}"
        self._ctl("-l", str(self.log), "-o", options, "-w", "-t", "120", "start")

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server; ``immediate`` drops every connection at once, as a crash would."""
        self._ctl("-m", mode, "-w", "-t", "120", "stop")

    def running(self) -> bool:
        argv = self._as_server([str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"])
        return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0

    def restart(self, mode: str = "immediate") -> None:
        self.stop(mode)
        self.start()

    def sql(self, statement: str, dbname: str = "postgres") -> list[tuple[object, ...]]:
        """Run one statement (autocommit, so CREATE DATABASE works); its rows, if any."""
        with psycopg.connect(self.conninfo(dbname), autocommit=True) as conn:
            cur = conn.execute(statement.encode())
            return cur.fetchall() if cur.description else []

    def new_database(self) -> str:
        """A fresh empty database (from template0: nothing a test left in template1)."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            )
        return name

    def destroy(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def start_cluster() -> Cluster:
    """Create and start a cluster under a new temporary directory (NoServer if this machine
    has no server binaries)."""
    bindir = find_bindir()
    account = _server_account()
    # Not under pytest's tmp_path: that is root's 0700 directory, closed to the server's
    # account; and a short path keeps the socket's name within the 107 bytes allowed.
    base = Path(tempfile.mkdtemp(prefix="agentd-pg-"))
    cluster = Cluster(bindir, base, account)
    try:
        cluster.init()
        cluster.start()
    except BaseException:
        cluster.destroy()
        raise
    return cluster


def pg_restart(cluster: Cluster, mode: str = "immediate") -> None:
    """Restart the server (every connection dropped) and wait until it accepts again."""
    cluster.restart(mode)
