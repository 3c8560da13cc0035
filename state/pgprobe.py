"""``agentd doctor``'s look at the shared store: reachable, and which schema version, with
nothing created or changed (opening the store would create the schema in an empty
database)."""

from __future__ import annotations

import psycopg

from agentd.state.base import StateError
from agentd.state.pgconn import Connections
from agentd.state.pgschema import SCHEMA_VERSION, current_version

__all__ = ["SCHEMA_VERSION", "schema_version"]


def schema_version(url: str) -> tuple[str, int | None]:
    """Where the database is ("PostgreSQL at db1:5432, database agentd") and its agentd
    schema version, None when it has none yet; StateUnreachable (a StateError) naming the
    server when it cannot be reached, StateError when the schema cannot be read."""
    db = Connections(url, retry_for=0)
    conn = db.open()
    try:
        return db.where, current_version(conn, db.where)
    except psycopg.Error as exc:
        raise StateError(f"{db.where}: the schema cannot be read: {db.reason(exc)}") from None
    finally:
        conn.close()
