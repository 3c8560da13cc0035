"""A JSON state document copied into the PostgreSQL store (``agentd state import``).

Merged, never overwritten: the database may already hold newer outcomes (another host, or
this one since), so each record is taken only when it is newer than the stored one, and
runs, ledger entries and reports only when absent. Importing twice changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agentd.state.pgconn import Cursor
from agentd.state.pgdoc import finished, jsonb, lock_project
from agentd.state.rules import SKIPPED_FIRES_KEPT

if TYPE_CHECKING:
    from agentd.state.postgres import PostgresStore


def import_state(
    store: PostgresStore,
    doc: dict[str, Any],
    reports: dict[str, dict[str, Any]],
    host: str,
    source: str,
) -> dict[str, int]:
    """Merge a JSON state document (``state.transfer.import_json`` read and checked it)
    into ``store`` in one transaction; counts of what was new."""
    return store.db.transact(
        f"state of {source} not imported (nothing of it was written)",
        lambda cur: import_document(cur, doc, reports, host),
    )


def import_document(
    cur: Cursor, doc: dict[str, Any], reports: dict[str, dict[str, Any]], host: str
) -> dict[str, int]:
    """Copy ``doc`` (a checked state document) and ``reports`` (run id -> report.json) in;
    the counts of what was new: projects, runs, spend entries, reports, fires."""
    counts = {"projects": 0, "runs": 0, "spend": 0, "reports": 0, "fires": 0}
    for name, entry in sorted(doc.get("projects", {}).items()):
        counts["projects"] += _merge_project(cur, name, entry)
    for summary in doc.get("runs", []):
        run_host = str(summary.get("host") or host)
        run_id = str(summary.get("run_id", ""))
        row = cur.execute(
            "INSERT INTO agentd.runs (host, run_id, finished, summary) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            (run_host, run_id, finished(summary), jsonb(summary)),
        ).fetchone()
        counts["runs"] += row is not None
        if run_id in reports:
            row = cur.execute(
                "UPDATE agentd.runs SET report = %s"
                " WHERE host = %s AND run_id = %s AND report IS NULL RETURNING 1",
                (jsonb(reports[run_id]), run_host, run_id),
            ).fetchone()
            counts["reports"] += row is not None
    for date, day in sorted(doc.get("spend", {}).items()):
        for key, entry in sorted(day.items()):
            row = cur.execute(
                "INSERT INTO agentd.spend (date, key, entry) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                (date, key, jsonb(entry)),
            ).fetchone()
            counts["spend"] += row is not None
    counts["fires"] = _merge_fires(cur, doc.get("fires", {}), host)
    return counts


def _newer(ours: Any, theirs: Any) -> bool:
    """``ours`` (imported) is a later outcome than ``theirs`` (stored): by date, then run."""
    if not isinstance(ours, dict):
        return False
    if not isinstance(theirs, dict):
        return True
    key = ("date", "run_id")
    return tuple(str(ours.get(k) or "") for k in key) > tuple(str(theirs.get(k) or "") for k in key)


def _merge_project(cur: Cursor, name: str, entry: dict[str, Any]) -> int:
    cur.execute("INSERT INTO agentd.projects (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,))
    stored, _ = lock_project(cur, name)
    merged = dict(stored)
    tasks = dict(stored.get("tasks") or {})
    for task, record in (entry.get("tasks") or {}).items():
        if _newer(record, tasks.get(task)):
            tasks[task] = record
    if tasks:
        merged["tasks"] = tasks
    for key in ("last_run", "last_ok", "blocked"):
        if _newer(entry.get(key), stored.get(key)):
            merged[key] = entry[key]
    if merged == stored:
        return 0
    cur.execute("UPDATE agentd.projects SET doc = %s WHERE name = %s", (jsonb(merged), name))
    return 1


def _merge_fires(cur: Cursor, fires: dict[str, Any], host: str) -> int:
    """The imported host's fire bookkeeping: the later last handled fire, and the skipped
    fires of both (the newest SKIPPED_FIRES_KEPT)."""
    cur.execute("INSERT INTO agentd.hosts (host) VALUES (%s) ON CONFLICT DO NOTHING", (host,))
    row = cur.execute(
        "SELECT fires FROM agentd.hosts WHERE host = %s FOR UPDATE", (host,)
    ).fetchone()
    stored = row[0] if row and isinstance(row[0], dict) else {}
    merged = dict(stored)
    last = [f for f in (stored.get("last_handled"), fires.get("last_handled")) if f]
    if last:
        merged["last_handled"] = max(last, key=_instant)
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in [*stored.get("skipped", []), *fires.get("skipped", [])]:
        seen.setdefault((str(entry.get("fire")), str(entry.get("at"))), entry)
    if seen:
        skipped = sorted(seen.values(), key=lambda e: (str(e.get("at")), str(e.get("fire"))))
        merged["skipped"] = skipped[-SKIPPED_FIRES_KEPT:]
    if merged == stored:
        return 0
    cur.execute("UPDATE agentd.hosts SET fires = %s WHERE host = %s", (jsonb(merged), host))
    return 1


def _instant(stamp: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
