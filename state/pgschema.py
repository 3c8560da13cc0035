"""The PostgreSQL store's tables, in the schema ``agentd``, and their version.

The version lives in ``agentd.meta``. An empty database gets the current schema on first
use; a database of an older version is left alone until ``agentd state migrate`` (several
hosts share it, and one upgraded host must not change it under the others unasked); one of
a newer version is refused: this program would not know what its rows mean.
"""

from __future__ import annotations

from typing import Any, LiteralString

import psycopg

from agentd.state.base import StateCorrupt, StateError
from agentd.state.pgconn import Connections

SCHEMA_VERSION = 1

# pg_advisory_xact_lock keys: one for schema changes, one for the spend ledger (reserve).
SCHEMA_LOCK = 0x61676E_7464_01
LEDGER_LOCK = 0x61676E_7464_02
# pg_advisory_xact_lock(PRESENCE_LOCK, hashtext(date)): the hosts publishing the projects
# they lack for one night, one at a time (the two-key form: its own space of keys).
PRESENCE_LOCK = 0x61676E74

# The statements that bring a database from version N-1 to N, for N = 1 .. SCHEMA_VERSION.
STEPS: dict[int, list[LiteralString]] = {
    1: [
        "CREATE SCHEMA IF NOT EXISTS agentd",
        "CREATE TABLE agentd.meta (key text PRIMARY KEY, value text NOT NULL)",
        # doc: {tasks, last_run, last_ok, blocked} as in state.json's projects; a row whose
        # doc is empty exists only for its claim (the row lock is the claim's lock).
        """CREATE TABLE agentd.projects (
            name text PRIMARY KEY,
            doc jsonb NOT NULL DEFAULT '{}',
            claim jsonb,
            absent integer NOT NULL DEFAULT 0)""",
        "CREATE INDEX projects_claim_run ON agentd.projects ((claim->>'run_id'))"
        " WHERE claim IS NOT NULL",
        """CREATE TABLE agentd.runs (
            host text NOT NULL,
            run_id text NOT NULL,
            finished timestamptz,  -- the history's order; NULL (unknown) first
            summary jsonb NOT NULL,
            report jsonb,
            PRIMARY KEY (host, run_id))""",
        "CREATE INDEX runs_run_id ON agentd.runs (run_id)",
        """CREATE TABLE agentd.spend (
            date text NOT NULL,
            key text NOT NULL,
            entry jsonb NOT NULL,
            PRIMARY KEY (date, key))""",
        "CREATE TABLE agentd.reserved (key text PRIMARY KEY, entry jsonb NOT NULL)",
        """CREATE TABLE agentd.hosts (
            host text PRIMARY KEY,
            daemon jsonb,
            fires jsonb NOT NULL DEFAULT '{}',
            seen timestamptz)""",
        # publish_presence: the configured projects whose directory a host lacks, per night.
        """CREATE TABLE agentd.missing (
            host text NOT NULL,
            date text NOT NULL,
            project text NOT NULL,
            PRIMARY KEY (date, project, host))""",
        # claim_nowhere: the one sweep of the night that fails a project no host has.
        """CREATE TABLE agentd.nowhere (
            date text NOT NULL,
            project text NOT NULL,
            host text NOT NULL,
            PRIMARY KEY (date, project))""",
        # Writes already committed, by operation id: a write retried after its connection
        # broke during COMMIT finds its id here and is not applied twice.
        """CREATE TABLE agentd.applied (
            op uuid PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now())""",
    ],
}


def current_version(conn: psycopg.Connection[Any], where: str = "the database") -> int | None:
    """The schema version of this database (``where`` names it in messages); None if it
    has no agentd schema at all."""
    # A scan of the catalog, not to_regclass: after waiting for the schema lock, only a
    # query's own snapshot sees the tables the lock's previous holder has just created.
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables"
        " WHERE schemaname = 'agentd' AND tablename = 'meta')"
    ).fetchone()
    if row is None or not row[0]:
        return None
    found = conn.execute("SELECT value FROM agentd.meta WHERE key = 'schema_version'").fetchone()
    if found is None:
        raise StateCorrupt(
            f"{where}: the agentd schema has no schema_version in agentd.meta; "
            "restore the database (or put the row back)"
        )
    try:
        return int(str(found[0]))
    except ValueError:
        raise StateCorrupt(
            f"{where}: agentd.meta has an unreadable schema_version {found[0]!r}; "
            "fix that row, or restore the database"
        ) from None


def migrate(conn: psycopg.Connection[Any], where: str = "the database") -> tuple[int, int]:
    """Bring the schema to SCHEMA_VERSION in one transaction; (from, to), from 0 when there
    was none. Concurrent callers (hosts starting together) wait for each other's lock."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        found = current_version(conn, where)
        start = 0 if found is None else found
        refuse_newer(start, where)
        for version in range(start + 1, SCHEMA_VERSION + 1):
            for statement in STEPS[version]:
                conn.execute(statement)
        if start < SCHEMA_VERSION:
            conn.execute(
                "INSERT INTO agentd.meta (key, value) VALUES ('schema_version', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (str(SCHEMA_VERSION),),
            )
    return start, SCHEMA_VERSION


def ensure(conn: psycopg.Connection[Any], where: str) -> None:
    """At open: create the schema in an empty database; refuse any other version."""
    found = current_version(conn, where)
    if found is None:
        migrate(conn, where)
        return
    refuse_newer(found, where)
    if found < SCHEMA_VERSION:
        raise StateError(
            f"{where} has agentd schema version {found}, this agentd needs {SCHEMA_VERSION}: "
            "run `agentd state migrate` (once, from any host) after upgrading every host"
        )


def refuse_newer(found: int, where: str = "the database") -> None:
    if found > SCHEMA_VERSION:
        raise StateCorrupt(
            f"{where} has agentd schema version {found}, this agentd knows only "
            f"{SCHEMA_VERSION}: upgrade agentd (a newer one has used this database)"
        )


def migrate_database(url: str) -> tuple[int, int]:
    """``agentd state migrate``: bring the database's schema to this agentd's version;
    (from, to), from 0 when it had none. StateCorrupt if the database is newer."""
    db = Connections(url, retry_for=0)
    conn = db.open()
    try:
        return migrate(conn, db.where)
    except psycopg.Error as exc:
        raise StateError(f"{db.where}: the schema was not migrated: {db.reason(exc)}") from None
    finally:
        conn.close()
