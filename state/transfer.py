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

from agentd.slog import structlog
from agentd.state.base import StateError, StateStore
from agentd.state.claims import Holder, why_stale
from agentd.state.jsonfile import JsonFileStore

REPORT_MAX_BYTES = 64 * 1024 * 1024  # a report.json larger than this is not one of ours
log = structlog.get_logger("agentd.state")


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
    reports, skipped = _reports(directory, doc)
    counts = import_state(store, doc, reports, host or store.host, str(directory))
    return {**counts, "reports skipped": skipped} if skipped else counts


def _live_claims(doc: dict[str, Any], host: str, stale_after: float) -> list[str]:
    now = datetime.now(UTC)
    live = []
    for project, data in sorted(doc.get("claims", {}).items()):
        holder = Holder.from_dict(data)
        if why_stale(holder, now, host, stale_after) is None:
            live.append(f"project {project} by {holder.describe()}")
    return live


def _reports(directory: Path, doc: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], int]:
    """The report.json of each run in the history, where it is still on disk and usable
    (other hosts read them from the store: ``report_document``), and how many were not:
    each of those is skipped with a warning naming it, the run's history kept without it,
    rather than one bad file refusing the whole import."""
    found: dict[str, dict[str, Any]] = {}
    skipped = 0
    for summary in doc.get("runs", []):
        run_id = str(summary.get("run_id", ""))
        if not run_id or "/" in run_id or run_id.startswith("."):
            continue
        path = directory / "runs" / run_id / "report.json"
        try:
            size = path.stat().st_size
        except OSError:
            continue  # no report on disk (runs/ keeps fewer than the history): nothing lost
        why = _unusable(path, size)
        if isinstance(why, str):
            log.warning(f"{path} not imported ({why}): run {run_id} is imported without it")
            skipped += 1
        else:
            found[run_id] = why
    return found, skipped


def _unusable(path: Path, size: int) -> dict[str, Any] | str:
    """The report in ``path``, or why it cannot be stored as one."""
    if size > REPORT_MAX_BYTES:
        return f"larger than {REPORT_MAX_BYTES // 2**20} MiB"
    try:
        report = json.loads(path.read_bytes(), parse_constant=_no_constant)
        json.dumps(report)  # what storing it does: nested too deep fails here if not above
    except OSError as exc:
        return exc.strerror or str(exc)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not valid JSON: {exc}"
    except RecursionError:
        return "nested too deep"
    if not isinstance(report, dict):
        return "not a JSON object"
    return report


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
