"""Rows of the PostgreSQL store to and from the JSON store's document shape.

Readers (the sweep's plan, ``agentd status``, the history) all read a ``Snapshot`` of one
document; the shared store builds that same document from its tables, in one snapshot
transaction, and checks it as a state file is checked (``state.document``): what is in the
database is hostile until parsed, like any file.
"""

from __future__ import annotations

import datetime as dt
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from agentd.state.base import STATE_VERSION, StateError
from agentd.state.document import check_document
from agentd.state.pgconn import Cursor
from agentd.state.pgschema import PRESENCE_LOCK

# What to do about a damaged row (a state file's advice is to move the file aside).
ROW_HINT = "it is left untouched: delete or fix that row, or restore the database"

NUL = "\u0000"
NUL_ESCAPED = json.dumps(NUL)[1:-1]  # how json.dumps writes it: \u0000
REPLACEMENT = "\ufffd"  # what a NUL is stored as


def jsonb(value: Any) -> Jsonb:
    """``value`` as a jsonb parameter; NaN and Infinity are refused here, with a message,
    rather than by the server in the middle of a transaction. jsonb cannot hold U+0000,
    which a task's output (in a report) may well contain: it is stored as U+FFFD, the
    replacement character, in strings and keys alike."""
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
        if NUL_ESCAPED in text:  # rare: only then is the whole value walked
            text = json.dumps(_without_nul(value), allow_nan=False, separators=(",", ":"))
    except (ValueError, TypeError, RecursionError) as exc:
        raise StateError(f"not stored: a value is not plain JSON ({exc})") from None
    return Jsonb(text, dumps=_already_dumped)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT)
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


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
    # Hostile until parsed, as a state file's entries: a claim with an unreadable pid or
    # heartbeat would otherwise fail deep in the claim logic.
    part = {"projects": {project: doc}, "claims": {} if claim is None else {project: claim}}
    check_document(part, Path(f"agentd.projects, row {project!r}"), ROW_HINT)
    return doc, claim


def _check_row(part: dict[str, Any], where: str, table: str, key: Any) -> None:
    """One row, read as the part of a state document it is; damaged, StateCorrupt names
    the server, the table and the row's key, and what to do (not a file's advice)."""
    check_document(part, Path(f"{where}, table agentd.{table}, row {key!r}"), ROW_HINT)


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
        part = {"projects": {name: entry}, "claims": {} if claim is None else {name: claim}}
        _check_row({**part, "absent": {name: count}}, where, "projects", name)
        if entry:
            projects[name] = entry
        if claim is not None:
            claims[name] = claim
        if count:
            absent[name] = count
    runs = []
    for run_host, run_id, summary in cur.execute(
        "SELECT host, run_id, summary FROM agentd.runs ORDER BY finished NULLS FIRST, run_id, host"
    ):
        _check_row({"runs": [summary]}, where, "runs", (run_host, run_id))
        runs.append({**summary, "host": run_host} if isinstance(summary, dict) else summary)
    spend = _spend(cur, where)
    reserved = _reserved(cur, where)
    hosts: dict[str, Any] = {}
    for name, daemon, fires, seen in cur.execute(
        "SELECT host, daemon, fires, seen FROM agentd.hosts ORDER BY host"
    ):
        # Checked as this host's own would be: status and the scheduler read them.
        part = {"fires": fires or {}, **({"daemon": daemon} if daemon is not None else {})}
        _check_row(part, where, "hosts", name)
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
    return doc  # every part of it checked, row by row


def _spend(cur: Cursor, where: str) -> dict[str, dict[str, Any]]:
    spend: dict[str, dict[str, Any]] = {}
    for date, key, entry in cur.execute("SELECT date, key, entry FROM agentd.spend ORDER BY date"):
        _check_row({"spend": {date: {key: entry}}}, where, "spend", (date, key))
        spend.setdefault(date, {})[key] = entry
    return spend


def _reserved(cur: Cursor, where: str) -> dict[str, Any]:
    reserved = dict(cur.execute("SELECT key, entry FROM agentd.reserved ORDER BY key").fetchall())
    for key, entry in reserved.items():
        _check_row({"reserved": {key: entry}}, where, "reserved", key)
    return reserved


def ledger(cur: Cursor, where: str) -> dict[str, Any]:
    """What a budget rule reads inside the reservation's step: the ledger (spend is kept
    SPEND_DAYS_KEPT days), the reservations and the claims."""
    claims = dict(
        cur.execute("SELECT name, claim FROM agentd.projects WHERE claim IS NOT NULL").fetchall()
    )
    for name, claim in claims.items():
        _check_row({"claims": {name: claim}}, where, "projects", name)
    return {"spend": _spend(cur, where), "reserved": _reserved(cur, where), "claims": claims}


def others_having(
    cur: Cursor, host: str, date: str, names: list[str], since: datetime
) -> dict[str, list[str]]:
    """Record ``names`` as missing on ``host`` for the night of ``date``; for each, the
    other hosts seen since ``since`` that have not said it is missing there.

    One host at a time per night (an advisory lock): each inserts what it lacks, then
    reads what the others lack; two at once would each miss the other's rows and leave
    the project to each other."""
    cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (PRESENCE_LOCK, date))
    cur.execute(
        "INSERT INTO agentd.missing (host, date, project)"
        " SELECT %s, %s, unnest(%s::text[]) ON CONFLICT DO NOTHING",
        (host, date, names),
    )
    known = [
        name
        for (name,) in cur.execute(
            "SELECT host FROM agentd.hosts WHERE host <> %s AND seen >= %s ORDER BY host",
            (host, since),
        )
    ]
    lacking: dict[str, set[str]] = {}
    for name, project in cur.execute(
        "SELECT host, project FROM agentd.missing WHERE date = %s AND project = ANY(%s)",
        (date, names),
    ):
        lacking.setdefault(project, set()).add(name)
    return {p: [h for h in known if h not in lacking.get(p, ())] for p in names}


def set_claim(cur: Cursor, project: str, claim: dict[str, Any] | None) -> None:
    value = None if claim is None else jsonb(claim)
    cur.execute("UPDATE agentd.projects SET claim = %s WHERE name = %s", (value, project))


def set_doc(cur: Cursor, project: str, doc: dict[str, Any]) -> None:
    cur.execute("UPDATE agentd.projects SET doc = %s WHERE name = %s", (jsonb(doc), project))


def finished(summary: dict[str, Any]) -> datetime | None:
    """When a run finished, as an instant (the history's order: stamps carry the offset of
    their day, which differs across a DST change or between hosts); None if unknown."""
    try:
        moment = datetime.fromisoformat(str(summary.get("finished_at")))
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        return None


def mark_nowhere(cur: Cursor, date: str, project: str, host: str) -> bool:
    """True for the first host of the night to find ``project`` on no host."""
    row = cur.execute(
        "INSERT INTO agentd.nowhere (date, project, host) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        (date, project, host),
    ).fetchone()
    return row is not None
