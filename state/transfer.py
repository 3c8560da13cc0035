"""Moving a single host's JSON state into the shared store: ``agentd state import DIR``.

A user going from one host to several keeps the skip guard (today's finished tasks are not
run again), the run history, the spend ledger (budgets keep counting) and the fire
bookkeeping (no catch-up sweep for fires already handled).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentd.state.base import StateError, StateStore
from agentd.state.claims import Holder, why_stale
from agentd.state.jsonfile import JsonFileStore

REPORT_MAX_BYTES = 64 * 1024 * 1024  # a report.json larger than this is not one of ours


def import_json(directory: Path, store: StateStore, host: str | None = None) -> dict[str, int]:
    """Copy the JSON state in ``directory`` into ``store`` (a shared one); runs without a
    host are taken as ``host`` (default: the store's). Importing again adds nothing.
    Refused while a sweep runs there: its outcomes would land in the file afterwards."""
    from agentd.state.pgimport import import_state
    from agentd.state.postgres import PostgresStore

    if not isinstance(store, PostgresStore):
        raise StateError(
            'state import copies into a shared store: set [state] backend = "postgres"'
        )
    if not (directory / "state.json").is_file():
        raise StateError(f"{directory} holds no state.json: nothing to import")
    source = JsonFileStore(directory, stale_after=store.stale_after)
    doc = source.read().doc
    live = _live_claims(doc, source.host, store.stale_after)
    if live:
        raise StateError(
            f"{directory / 'state.json'} has live claims ({'; '.join(live)}): a sweep is "
            "running on that state; import once it has finished (or stop it first)"
        )
    reports = _reports(directory, doc)
    return import_state(store, doc, reports, host or store.host, str(directory))


def _live_claims(doc: dict[str, Any], host: str, stale_after: float) -> list[str]:
    now = datetime.now(UTC)
    live = []
    for project, data in sorted(doc.get("claims", {}).items()):
        holder = Holder.from_dict(data)
        if why_stale(holder, now, host, stale_after) is None:
            live.append(f"project {project} by {holder.describe()}")
    return live


def _reports(directory: Path, doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The report.json of each run in the history, where it is still on disk and parses:
    other hosts read them from the store (``report_document``)."""
    found: dict[str, dict[str, Any]] = {}
    for summary in doc.get("runs", []):
        run_id = str(summary.get("run_id", ""))
        path = directory / "runs" / run_id / "report.json"
        if not run_id or "/" in run_id or run_id.startswith("."):
            continue
        try:
            if path.stat().st_size > REPORT_MAX_BYTES:
                continue
            report = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue  # no report on disk (kept fewer than runs), or damaged: history only
        if isinstance(report, dict):
            found[run_id] = report
    return found
