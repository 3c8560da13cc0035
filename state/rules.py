"""The decisions every state store makes alike, as pure functions of what it has read.

The stores differ only in how they read and write (a locked file and its journal, rows in
a transaction); what a claim answers, when a record counts, how the fire bookkeeping and
the reservations change is decided here once, so the two cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import asdict
from datetime import datetime
from typing import Any

from agentd.state.base import (
    AllDone,
    Blocked,
    Busy,
    Claimed,
    ClaimLost,
    ClaimResult,
    Decide,
    ProjectRecord,
    Refused,
    Reserved,
    Snapshot,
    is_done,
)
from agentd.state.claims import Holder, why_stale

SKIPPED_FIRES_KEPT = 20
SPEND_DAYS_KEPT = 14  # the weekly budget looks back 7 days; twice that for `agentd status`


def claim_answer(
    claim: dict[str, Any] | None,
    known: dict[str, Any],
    tasks: Collection[str],
    date: str,
    force: bool,
    now: datetime,
    host: str,
    stale_after: float,
) -> ClaimResult:
    """What ``claim`` answers, given the project's current ``claim`` and its ``known``
    task records. The store then writes the new holder on Claimed, and drops the stale
    claim it replaced on AllDone when there was one."""
    replaced: Holder | None = None
    why: str | None = None
    if claim is not None:
        current = Holder.from_dict(claim)
        why = why_stale(current, now, host, stale_after)
        if why is None:
            return Busy(current)
        replaced = current
    done = frozenset() if force else frozenset(t for t in tasks if is_done(known.get(t), date))
    if tasks and len(done) == len(tasks):
        return AllDone()
    return Claimed(done, replaced, why)


def check_holder(claim: dict[str, Any] | None, project: str, run_id: str) -> None:
    """ClaimLost unless ``claim`` (the project's current one) is ``run_id``'s."""
    if claim is None or claim.get("run_id") != run_id:
        now = f"run {claim.get('run_id')}" if claim else "nobody"
        raise ClaimLost(f"run {run_id} lost its claim on project {project!r} (now held by {now})")


def outcome(record: ProjectRecord) -> dict[str, Any]:
    """What a release stores of the project's outcome: ``last_run``, and ``last_ok`` too if
    it is ok (kept through failed nights: the metrics' last success time)."""
    entry = record.to_dict()
    return {"last_run": entry, **({"last_ok": entry} if record.status == "ok" else {})}


def fires_after(
    fires: dict[str, Any], fire: str, handled: bool, reason: str | None, now: datetime
) -> dict[str, Any] | None:
    """The fire bookkeeping after ``fire`` was handled or skipped; None: unchanged."""
    if handled:
        # Never backwards: a long sweep may end after later fires were dealt with.
        current = fires.get("last_handled")
        if current and datetime.fromisoformat(current) >= datetime.fromisoformat(fire):
            return None
        return {**fires, "last_handled": fire}
    entry = {"fire": fire, "at": now.isoformat(timespec="seconds"), "reason": reason}
    return {**fires, "skipped": [*fires.get("skipped", []), entry][-SKIPPED_FIRES_KEPT:]}


def cutoff(date: str, days: int) -> str | None:
    """The date ``days`` before ``date`` (ISO dates compare as strings); None if ``date``
    is not one."""
    try:
        return (dt.date.fromisoformat(date) - dt.timedelta(days=days)).isoformat()
    except ValueError:
        return None


def expired_days(days: Collection[str], date: str) -> list[str]:
    """Ledger days before the last SPEND_DAYS_KEPT (``date`` included): no budget looks
    that far back."""
    last = cutoff(date, SPEND_DAYS_KEPT)
    return [] if last is None else [day for day in days if day <= last]


def reserve_step(
    doc: dict[str, Any],
    decide: Decide,
    key: tuple[str, str, str],
    host: str,
    now: datetime,
    stale_after: float,
) -> tuple[Reserved | Refused, dict[str, dict[str, Any]] | None]:
    """The budget decision on ``doc`` (spend, reserved and claims as they are inside the
    reservation's atomic step) for task ``key`` = (project, task, run_id): the answer, and
    the reservations to keep (None: write nothing). The rule sees only the reservations
    still in flight: one whose run no longer holds its project's claim, or whose claim is
    stale (a dead host's), has lapsed; otherwise a host that died with a reservation would
    keep every other host waiting until someone reaped its claims."""
    project, task, run_id = key
    live = in_flight(doc, now, host, stale_after)
    answer = decide(Snapshot({**doc, "reserved": live}))
    if isinstance(answer, Refused):
        return answer, None
    entry = {
        **asdict(answer),
        "project": project,
        "task": task,
        "run_id": run_id,
        "host": host,
        "at": now.isoformat(timespec="seconds"),
    }
    return Reserved(entry), {**live, f"{run_id}/{project}/{task}": entry}


def in_flight(
    doc: dict[str, Any], now: datetime, host: str, stale_after: float
) -> dict[str, dict[str, Any]]:
    """The reservations of ``doc`` whose run holds its project's claim, a live one."""
    claims = doc.get("claims", {})
    live = {}
    for key, entry in doc.get("reserved", {}).items():
        claim = claims.get(entry.get("project"))
        if claim is None or claim.get("run_id") != entry.get("run_id"):
            continue
        if why_stale(Holder.from_dict(claim), now, host, stale_after) is None:
            live[key] = entry
    return live


def blocked_entry(
    current: dict[str, Any] | None, block: Blocked, date: str, run_id: str, at: str
) -> dict[str, Any]:
    """A project's ``blocked`` entry after one more blocked sweep. ``current`` is its
    streak so far (Snapshot.blocked: None once the project has run since). The streak
    starts at its first blocked sweep and ends when the project runs again; nights are
    the distinct sweep dates it spans, so two sweeps of one night count once."""
    if current is None:
        return {
            "by": block.by,
            "reason": block.reason,
            "since": date,
            "since_at": at,
            "date": date,
            "run_id": run_id,
            "nights": 1,
        }
    nights = int(current.get("nights") or 1) + (current.get("date") != date)
    return {
        **current,
        "by": block.by,
        "reason": block.reason,
        "date": date,
        "run_id": run_id,
        "nights": nights,
    }
