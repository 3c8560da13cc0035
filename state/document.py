"""What a state document must look like: parsed, and its shape checked, before anything uses it.

Separate from the file store so that every way of reading a state (the file, its journal's
replay, a future backend's import) refuses the same malformed documents with the same
message, naming the file and leaving it untouched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentd.state.base import STATE_VERSION, StateCorrupt
from agentd.state.journal import Op

HINT = "it is left untouched: move it aside to start with an empty state"


def parse_document(raw: bytes, path: Path) -> dict[str, Any]:
    """Parse and check the shape of a state file; StateCorrupt names what is wrong."""
    hint = HINT
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        if not raw.strip():
            raise StateCorrupt(f"{path} is empty; {hint}") from None
        raise StateCorrupt(f"{path} is not valid JSON ({exc}); {hint}") from None
    if not isinstance(doc, dict) or "version" not in doc:
        raise StateCorrupt(f'{path} is not an agentd state file (no "version" key); {hint}')
    version = doc["version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise StateCorrupt(f"{path} has an unreadable version {version!r}; {hint}")
    if version > STATE_VERSION:  # 1 (before the journal) is read as it is
        raise StateCorrupt(
            f"{path} was written by a newer agentd (state version {version}; "
            f"this one reads up to {STATE_VERSION}); {hint}"
        )
    if version < 1:
        raise StateCorrupt(f"{path} has an unknown state version {version}; {hint}")
    check_document(doc, path)
    return doc


def check_document(doc: dict[str, Any], path: Path, hint: str = HINT) -> None:
    """The shapes the code relies on, checked whenever a whole state is read; ``hint``
    ends the message: what to do about it (a file's is not a database's)."""
    for key, kind in (("projects", dict), ("claims", dict), ("runs", list), ("fires", dict)):
        value = doc.setdefault(key, kind())
        if not isinstance(value, kind):
            raise StateCorrupt(f"{path}: {key!r} should be a {kind.__name__}; {hint}")
    for name in doc["projects"]:
        _check_project(doc, name, path, hint)
    for name in doc["claims"]:
        _check_claim(doc, name, path, hint)
    for check in _CHECKS.values():
        check(doc, path, hint)


def check_touched(doc: dict[str, Any], ops: list[Op], path: Path) -> None:
    """After a journal line: the shapes of just the entries it touched (cheap, however
    large the state)."""
    for op in ops:
        where = ["runs"] if op[0] == "run" else op[1]  # a run summary goes into "runs"
        if where[0] == "projects" and len(where) == 4 and where[2] == "tasks":
            _check_task(doc, where[1], where[3], path)  # a task's record: that entry only
        elif where[0] == "projects" and len(where) > 1:
            _check_project(doc, where[1], path)
        elif where[0] == "claims" and len(where) > 1:
            _check_claim(doc, where[1], path)
        elif where[0] == "spend" and len(where) == 3:
            entry = doc.get("spend", {}).get(where[1], {}).get(where[2])
            if entry is not None and not _shaped(entry, SPEND_SHAPE):
                raise StateCorrupt(f"{path}: a 'spend' entry has the wrong shape; {HINT}")
        elif where[0] in _CHECKS:
            _CHECKS[where[0]](doc, path, HINT)
        else:
            check_document(doc, path)  # a whole section replaced: check all of it


def _check_project(doc: dict[str, Any], name: str, path: Path, hint: str = HINT) -> None:
    entry = doc.get("projects", {}).get(name)
    if entry is None:
        return
    if (
        not _shaped(entry, PROJECT_SHAPE)
        or not all(_shaped(t, TASK_SHAPE) for t in entry.get("tasks", {}).values())
        or not _shaped(entry.get("blocked", {}), BLOCKED_SHAPE)
    ):
        raise StateCorrupt(f"{path}: the entry of project {name!r} has the wrong shape; {hint}")


def _check_task(doc: dict[str, Any], name: str, task: str, path: Path, hint: str = HINT) -> None:
    entry = doc.get("projects", {}).get(name)
    if entry is None:
        return
    if not _shaped(entry, PROJECT_SHAPE) or not _shaped(
        entry.get("tasks", {}).get(task, {}), TASK_SHAPE
    ):
        raise StateCorrupt(f"{path}: the entry of project {name!r} has the wrong shape; {hint}")


def _check_claim(doc: dict[str, Any], name: str, path: Path, hint: str = HINT) -> None:
    claim = doc.get("claims", {}).get(name)
    if claim is None:
        return
    if not (_shaped(claim, CLAIM_SHAPE) and _aware(claim.get("heartbeat")) and _pid_ok(claim)):
        raise StateCorrupt(f"{path}: the claim on project {name!r} has the wrong shape; {hint}")


def _check_daemon(doc: dict[str, Any], path: Path, hint: str = HINT) -> None:
    daemon = doc.get("daemon")
    if daemon is not None and not (_shaped(daemon, DAEMON_SHAPE) and _pid_ok(daemon)):
        raise StateCorrupt(f"{path}: 'daemon' has the wrong shape; {hint}")


def _check_runs(doc: dict[str, Any], path: Path, hint: str = HINT) -> None:
    runs = doc.get("runs", [])
    if not isinstance(runs, list) or not all(_run_ok(run) for run in runs):
        raise StateCorrupt(f"{path}: an entry of 'runs' has the wrong shape; {hint}")


def _run_ok(run: Any) -> bool:
    return _shaped(run, RUN_SHAPE) and all(
        _shaped(entry, RUN_PROJECT_SHAPE) for entry in run.get("projects", {}).values()
    )


def _check_fires(doc: dict[str, Any], path: Path, hint: str = HINT) -> None:
    """``last_handled`` decides which fires are caught up: refused unless an instant. A
    skipped fire's entry only tells what was skipped (status, the history's gaps): one the
    daemon could not have written is dropped from what is read, not refused, since a bad
    line there must not stop every sweep. The file keeps it until the list is next set."""
    fires = doc.get("fires", {})
    last = fires.get("last_handled") if isinstance(fires, dict) else None
    skipped = fires.get("skipped", []) if isinstance(fires, dict) else None
    if (
        not isinstance(fires, dict)
        or (last is not None and not _aware(last))
        or not isinstance(skipped, list)
    ):
        raise StateCorrupt(f"{path}: 'fires' has the wrong shape; {hint}")
    if not all(_skip_ok(entry) for entry in skipped):
        fires["skipped"] = [entry for entry in skipped if _skip_ok(entry)]


def _skip_ok(entry: Any) -> bool:
    return _shaped(entry, SKIPPED_FIRE_SHAPE) and _aware(entry.get("fire"))


def _check_absent(doc: dict[str, Any], path: Path, hint: str = HINT) -> None:
    absent = doc.get("absent", {})
    ok = isinstance(absent, dict) and all(
        isinstance(n, int) and not isinstance(n, bool) for n in absent.values()
    )
    if not ok:
        raise StateCorrupt(f"{path}: 'absent' has the wrong shape; {hint}")


def _check_spend(doc: dict[str, Any], path: Path, hint: str = HINT) -> None:
    spend = doc.get("spend", {})
    ok = isinstance(spend, dict) and all(
        isinstance(day, dict) and all(_shaped(e, SPEND_SHAPE) for e in day.values())
        for day in spend.values()
    )
    if not ok:
        raise StateCorrupt(f"{path}: 'spend' has the wrong shape; {hint}")


def _check_reserved(doc: dict[str, Any], path: Path, hint: str = HINT) -> None:
    """Agent runs in flight: the budget counts them, so a bad entry is refused, not
    guessed at (state.base.Snapshot.reservations)."""
    reserved = doc.get("reserved", {})
    ok = isinstance(reserved, dict) and all(_shaped(e, RESERVED_SHAPE) for e in reserved.values())
    if not ok:
        raise StateCorrupt(f"{path}: 'reserved' has the wrong shape; {hint}")


_CHECKS: dict[str, Callable[[dict[str, Any], Path, str], None]] = {
    "reserved": _check_reserved,
    "daemon": _check_daemon,
    "runs": _check_runs,
    "fires": _check_fires,
    "spend": _check_spend,
    "absent": _check_absent,
}


# Keys whose types the code relies on; other keys are left alone (a newer agentd of the
# same state version may add some).
PROJECT_SHAPE: dict[str, type | tuple[type, ...]] = {
    "tasks": dict,
    "last_run": dict,
    "blocked": dict,  # since state version 2 gained it; older files have none
}
BLOCKED_SHAPE: dict[str, type | tuple[type, ...]] = {
    "by": str,
    "reason": str,
    "since": str,
    "date": str,
    "run_id": str,
    "nights": int,
}
TASK_SHAPE: dict[str, type | tuple[type, ...]] = {"status": str, "date": str}
CLAIM_SHAPE: dict[str, type | tuple[type, ...]] = {
    "run_id": str,
    "pid": int,
    "pid_start": (int, type(None)),
    "host": str,
    "started_at": str,
}
RUN_SHAPE: dict[str, type | tuple[type, ...]] = {
    "run_id": str,
    "status": (str, type(None)),
    "trigger": (str, type(None)),
    "counts": (dict, type(None)),
    "mode": (dict, type(None)),
    # Since the history of nights (state.base.RunProject); older summaries have none.
    "duration_s": (int, float, type(None)),
    "spend_usd": (int, float, type(None)),
    "projects": dict,
}
RUN_PROJECT_SHAPE: dict[str, type | tuple[type, ...]] = {
    "status": str,
    "duration_s": (int, float, type(None)),
    "spend_usd": (int, float, type(None)),
}
SKIPPED_FIRE_SHAPE: dict[str, type | tuple[type, ...]] = {
    "fire": str,
    "at": str,
    "reason": (str, type(None)),
}
DAEMON_SHAPE: dict[str, type | tuple[type, ...]] = {
    "pid": int,
    "pid_start": (int, type(None)),
    "host": str,
    "next_fire": str,
}
SPEND_SHAPE: dict[str, type | tuple[type, ...]] = {
    "project": str,
    "task": str,
    "agent": (str, type(None)),
    "known": bool,
    "cost_usd": (int, float, type(None)),
    "tokens": (int, type(None)),
}
RESERVED_SHAPE: dict[str, type | tuple[type, ...]] = {
    "project": str,
    "task": str,
    "run_id": str,
    "agent": (str, type(None)),
    "usd": (int, float, type(None)),
    "tokens": (int, float, type(None)),
}
MAX_PID = 2**31 - 1


def _shaped(value: Any, shape: dict[str, type | tuple[type, ...]]) -> bool:
    """Each key of ``shape`` absent or of its type; a float finite (JSON readers let NaN
    and Infinity through: a sum or a JSON dump of them would be one, or fail)."""
    if not isinstance(value, dict):
        return False
    return all(
        key not in value
        or (
            isinstance(value[key], kind)
            and not (isinstance(value[key], float) and not math.isfinite(value[key]))
        )
        for key, kind in shape.items()
    )


def _pid_ok(entry: dict[str, Any]) -> bool:
    pid = entry.get("pid", 1)
    return isinstance(pid, int) and 0 < pid <= MAX_PID


def _aware(stamp: Any) -> bool:
    """A timestamp with its UTC offset: comparing it with "now" must not need a guess, nor
    fail (year 1 at +14:00 is before the calendar in UTC)."""
    try:
        if not isinstance(stamp, str):
            return False
        moment = datetime.fromisoformat(stamp)
        return moment.tzinfo is not None and moment.astimezone(UTC) is not None
    except (ValueError, OverflowError):
        return False
