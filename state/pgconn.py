"""Connections to the shared store's server, and one write = one transaction, retried.

A write whose connection is lost (the server restarted, a network blip) is retried whole on
a new connection for ``retry_for`` seconds; only then does it fail, with a message naming
what was not written. A kept connection that fails is most likely one of many a restart
killed: all kept ones are dropped and a new connection is tried at once; only a new
connection that fails means the server is away, and waits (backoff). The first failure of
a write is logged as a warning and its eventual success as info, so an outage shows in the
daemon's log while it is being ridden out. A connection lost during COMMIT leaves it unknown
whether the write landed: every write inserts its operation id into ``agentd.applied`` in
the same transaction, so a retry that finds its id there returns the first attempt's
answer instead of writing twice.

Idle connections are kept for reuse by a small list rather than psycopg_pool: the pool's
own waiting and background reconnection would stand between the store and the server's
error (a PoolTimeout says nothing of "connection refused"), and the store already decides
when to retry and for how long.
"""

from __future__ import annotations

import getpass
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from agentd.slog import structlog
from agentd.state.base import StateError, StateUnreachable

T = TypeVar("T")
Cursor = psycopg.Cursor[Any]
IDLE_KEPT = 8  # the project threads of one sweep, its heartbeat, the daemon's reads
FIRST_DELAY, MAX_DELAY = 0.2, 5.0
# Defaults a URL may override: a dead server is noticed in seconds, not minutes.
DEFAULTS = {
    "connect_timeout": "10",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "application_name": "agentd",
}
_NOTHING: Any = object()
log = structlog.get_logger("agentd.state")


def describe(params: dict[str, Any]) -> str:
    """Where a connection goes, as libpq resolves it: host, port and database (never
    user or password)."""
    host = params.get("host") or os.environ.get("PGHOST") or "localhost"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    user = params.get("user") or os.environ.get("PGUSER") or _login()
    database = params.get("dbname") or os.environ.get("PGDATABASE") or user
    return f"PostgreSQL at {host}:{port}, database {database}"


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


def reason(exc: BaseException, secret: str | None) -> str:
    """libpq's message on one line, without the password should it ever echo one. Its
    lines are sentences without a full stop ("Connection refused", "Is the server
    running ..."): joined with "; ", not run together."""
    lines = (" ".join(line.split()) for line in str(exc).splitlines())
    text = "; ".join(line for line in lines if line) or type(exc).__name__
    return text.replace(secret, "***") if secret else text


class Connections:
    """The server of one store URL: connections for reuse, and the retried transaction."""

    def __init__(self, url: str, retry_for: float) -> None:
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            # Its message may quote the URL, password and all: only the gist is shown.
            raise StateError(
                "[state] url is not a PostgreSQL connection string (a libpq URL "
                "postgresql://... or key=value pairs)"
            ) from exc
        self._secret = str(params["password"]) if params.get("password") else None
        self.where = describe(params)
        self._conninfo = make_conninfo(
            url, **{k: v for k, v in DEFAULTS.items() if k not in params}
        )
        self.retry_for = retry_for
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._closed = False

    def open(self) -> psycopg.Connection[Any]:
        """A new connection; StateUnreachable naming the server if there is none."""
        try:
            return psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise StateUnreachable(f"cannot reach {self.where}: {self.reason(exc)}") from None

    def reason(self, exc: BaseException) -> str:
        return reason(exc, self._secret)

    def _get(self) -> tuple[psycopg.Connection[Any], bool]:
        """A connection, and whether it is a kept one (it may have died since)."""
        with self._lock:
            if self._closed:
                raise StateError(f"the store of {self.where} is closed")
            if self._idle:
                return self._idle.pop(), True
        return psycopg.connect(self._conninfo, autocommit=True), False

    def _drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def give_back(self, conn: psycopg.Connection[Any]) -> None:
        usable = not conn.closed and not conn.broken
        usable = usable and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with self._lock:
            if usable and not self._closed and len(self._idle) < IDLE_KEPT:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def transact(
        self, what: str, body: Callable[[Cursor], T], *, write: bool = True, snapshot: bool = False
    ) -> T:
        """``body`` in one transaction (REPEATABLE READ, read only, with ``snapshot``),
        retried whole while the server is unreachable; ``what`` says what is lost if it
        stays so, e.g. "task lint of project api not recorded"."""
        op = uuid.uuid4() if write else None
        pending: Any = _NOTHING  # the answer of an attempt whose COMMIT may have landed
        started = time.monotonic()
        delay = FIRST_DELAY
        attempt = 0
        while True:
            attempt += 1
            kept = False
            try:
                conn, kept = self._get()
            except psycopg.OperationalError as exc:
                failure: psycopg.Error = exc
            else:
                try:
                    with conn.transaction(), conn.cursor() as cur:
                        if snapshot:
                            cur.execute(
                                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                            )
                        if pending is not _NOTHING and _applied(cur, op):
                            result: T = pending
                        else:
                            result = body(cur)
                            if op is not None:
                                cur.execute("INSERT INTO agentd.applied (op) VALUES (%s)", (op,))
                            pending = result
                    if write and attempt > 1:
                        waited = time.monotonic() - started
                        log.info(f"{self.where} reachable again", attempts=attempt, waited_s=waited)
                    return result
                except psycopg.OperationalError as exc:
                    failure = exc
                    self._drop_idle()  # a restart killed every one of them
                except psycopg.Error as exc:
                    raise StateError(
                        f"{what}: {self.where} refused it: {self.reason(exc)}"
                    ) from None
                finally:
                    self.give_back(conn)
            if write and attempt == 1:
                log.warning(
                    f"{self.where} unreachable, retrying for {self.retry_for:g}s: "
                    f"{self.reason(failure)}",
                    pending=what,
                )
            if kept:
                continue  # a connection from before: a new one may well work, at once
            waited = time.monotonic() - started
            if waited >= self.retry_for:
                raise StateError(
                    f"{what}: {self.where} unreachable for {waited:.0f}s: {self.reason(failure)}"
                )
            time.sleep(min(delay, self.retry_for - waited))
            delay = min(delay * 2, MAX_DELAY)


def _applied(cur: Cursor, op: uuid.UUID | None) -> bool:
    if op is None:
        return False
    return cur.execute("SELECT 1 FROM agentd.applied WHERE op = %s", (op,)).fetchone() is not None
