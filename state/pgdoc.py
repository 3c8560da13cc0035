"""Rows of the PostgreSQL store to and from the JSON store's document shape.

Readers (the sweep's plan, ``agentd status``, the history) all read a ``Snapshot`` of one
document; the shared store builds that same document from its tables, in one snapshot
transaction, and checks it as a state file is checked (``state.document``): what is in the
database is hostile until parsed, like any file.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from agentd.state.base import STATE_VERSION, StateError
from agentd.state.document import check_document
from agentd.state.pgconn import Cursor


def jsonb(value: Any) -> Jsonb:
    """``value`` as a jsonb parameter; NaN and Infinity are refused here, with a message,
    rather than by the server in the middle of a transaction."""
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (ValueError, TypeError) as exc:
        raise StateError(f"not stored: a value is not plain JSON ({exc})") from None
    return Jsonb(text, dumps=_already_dumped)


def _already_dumped(text: Any) -> str:
    return str(text)


def lock_project(cur: Cursor, project: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The project's (doc, claim), its row locked until the transaction ends; ({}, None)
    if it has no row."""
    row = cur.execute(
        "SELECT doc, claim FROM agentd.projects WHERE name = %s FOR UPDATE", (project,)
    ).fetchone()
    if row is None:
        return {}, None
    doc, claim = row
    return (doc if isinstance(doc, dict) else {}), (claim if isinstance(claim, dict) else None)


def touch_host(cur: Cursor, host: str, now: datetime) -> None:
    """This host is alive and using the store (``Snapshot.hosts`` "seen"; hosts seen in
    the last days are asked for projects missing here)."""
    cur.execute(
        "INSERT INTO agentd.hosts (host, seen) VALUES (%s, %s)"
        " ON CONFLICT (host) DO UPDATE SET seen = EXCLUDED.seen",
        (host, now),
    )


def build_document(cur: Cursor, host: str, where: str) -> dict[str, Any]:
    """The whole state as the JSON store's document: projects, claims, runs (every host's,
    oldest first), spend, reserved, absent; fires and daemon of ``host``; and ``hosts``."""
    projects: dict[str, Any] = {}
    claims: dict[str, Any] = {}
    absent: dict[str, int] = {}
    for name, entry, claim, count in cur.execute(
        "SELECT name, doc, claim, absent FROM agentd.projects ORDER BY name"
    ):
        if entry:
            projects[name] = entry
        if claim is not None:
            claims[name] = claim
        if count:
            absent[name] = count
    runs = []
    for run_host, summary in cur.execute(
        "SELECT host, summary FROM agentd.runs ORDER BY finished_at, run_id, host"
    ):
        runs.append({**summary, "host": run_host} if isinstance(summary, dict) else summary)
    spend: dict[str, dict[str, Any]] = {}
    for date, key, entry in cur.execute("SELECT date, key, entry FROM agentd.spend ORDER BY date"):
        spend.setdefault(date, {})[key] = entry
    reserved = dict(cur.execute("SELECT key, entry FROM agentd.reserved ORDER BY key").fetchall())
    hosts: dict[str, Any] = {}
    for name, daemon, fires, seen in cur.execute(
        "SELECT host, daemon, fires, seen FROM agentd.hosts ORDER BY host"
    ):
        # Checked as this host's own would be: status and the scheduler read them.
        part = {"fires": fires or {}, **({"daemon": daemon} if daemon is not None else {})}
        check_document(part, Path(f"{where}, host {name}"))
        stamp = seen.isoformat(timespec="seconds") if seen is not None else None
        hosts[name] = {"daemon": part.get("daemon"), "fires": part["fires"], "seen": stamp}
    mine = hosts.get(host, {})
    doc: dict[str, Any] = {
        "version": STATE_VERSION,
        "projects": projects,
        "claims": claims,
        "runs": runs,
        "fires": mine.get("fires") or {},
        "spend": spend,
        "reserved": reserved,
        "absent": absent,
        "hosts": hosts,
    }
    if mine.get("daemon") is not None:
        doc["daemon"] = mine["daemon"]
    check_document(doc, Path(where))
    return doc
