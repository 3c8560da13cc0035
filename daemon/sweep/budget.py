"""What agents spent, and whether another agent task may start.

Spend lives in the state store's ledger (one entry per agent run, by calendar date in the
schedule's zone), so every sweep on this state directory, the daemon's and a manual one,
sees what the others spent. "Nightly" is the sweep's date; "weekly" is that date and the
six before it, a rolling window, so a week's budget never comes back all at once on a
Monday.

A limit is checked before an agent task starts, never while one runs: tasks already running
may take the spend past the limit (the report shows by how much), but none is killed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from agentd.config.model import BudgetSection, Limits
from agentd.daemon.model.budget import (
    Limit,
    Period,
    Span,
    Spend,
    Standing,
    Totals,
    Unit,
    amount_text,
    describe,
    week_of,
)
from agentd.daemon.model.results import BUDGET
from agentd.daemon.tasks.stop import StopToken
from agentd.state import Snapshot

__all__ = [
    "AgentSlots",
    "amount_text",
    "describe",
    "exhausted",
    "standing",
    "summary",
    "week_of",
]

SLOT_CHECK_EVERY = 0.25  # how soon an agent task waiting for a slot sees a stop request


def total(entries: Iterable[dict[str, Any]]) -> Totals:
    out = Totals()
    for entry in entries:
        out.add(entry)
    return out


def by(entries: Iterable[dict[str, Any]], key: str) -> dict[str, Totals]:
    out: dict[str, Totals] = {}
    for entry in entries:
        out.setdefault(str(entry.get(key)), Totals()).add(entry)
    return dict(sorted(out.items()))


def period(entries: list[dict[str, Any]]) -> Period:
    return Period(total(entries), by(entries, "project"), by(entries, "agent"))


def summary(snapshot: Snapshot, date: str, run_id: str | None = None) -> Spend:
    """Today's and this week's spend, per project and per agent (and this sweep's)."""
    week = snapshot.spend(week_of(date))
    return Spend(
        date=date,
        week_from=week_of(date)[0],
        today=period([e for e in week if e["date"] == date]),
        week=period(week),
        sweep=None if run_id is None else total(e for e in week if e.get("run_id") == run_id),
    )


def standing(budget: BudgetSection, snapshot: Snapshot, date: str) -> list[Standing]:
    """Every configured limit with what has been spent against it, overall limits first."""
    scopes: list[tuple[str | None, Limits]] = [(None, budget), *budget.agents.items()]
    week = week_of(date)
    out = []
    for agent, limits in scopes:
        for key, value in limits.items():
            limit = Limit.parse(key)
            nightly = limit.span is Span.NIGHTLY
            spent = Totals()
            for day in [date] if nightly else week:
                spent.merge(_day_totals(snapshot.spend_day(day)).get(agent) or Totals())
            amount = spent.usd if limit.unit is Unit.USD else spent.tokens
            out.append(
                Standing(
                    agent=agent,
                    limit=limit,
                    value=value,
                    spent=round(amount, 6),
                    since=date if nightly else week[0],
                    reached=amount >= value,
                    unknown_runs=spent.unknown,
                )
            )
    return out


# Totals of a day's ledger, by agent (None: all agents), kept while that day's dict lives.
# Snapshots are never changed in place (the store copies what a write touches), so a day
# that is the same object has the same entries; each check then costs only tonight's day,
# not the whole week, however many agent runs the ledger holds.
_totals_cache: dict[int, tuple[dict[str, Any], dict[str | None, Totals]]] = {}
_cache_lock = threading.Lock()
_CACHE_DAYS = 64


def _day_totals(day: dict[str, Any]) -> dict[str | None, Totals]:
    if not day:
        return {}
    with _cache_lock:
        hit = _totals_cache.get(id(day))
        if hit is not None and hit[0] is day:
            return hit[1]
    out: dict[str | None, Totals] = {None: Totals()}
    for entry in day.values():
        out[None].add(entry)
        if entry.get("agent") is not None:  # None is the key of the overall totals
            out.setdefault(entry["agent"], Totals()).add(entry)
    with _cache_lock:
        if len(_totals_cache) >= _CACHE_DAYS:
            _totals_cache.clear()
        _totals_cache[id(day)] = (day, out)  # the reference keeps the id from being reused
    return out


def exhausted(budget: BudgetSection, snapshot: Snapshot, date: str, agent: str) -> str | None:
    """Why no agent task of ``agent`` may start now, or None. Overall limits first."""
    for item in standing(budget, snapshot, date):
        if item.reached and item.agent in (None, agent):
            return BUDGET + item.describe()
    return None


class AgentSlots:
    """The bound on agent tasks running at once across a sweep (``max_parallel_agents``),
    separate from the project bound: providers rate-limit per account, not per project."""

    def __init__(self, bound: int, stop: StopToken) -> None:
        self._slots = threading.BoundedSemaphore(bound) if bound > 0 else None
        self._stop = stop

    def acquire(self) -> bool:
        """Wait for a slot; False if the sweep is stopped meanwhile (no slot taken)."""
        if self._slots is None:
            return True
        while not self._slots.acquire(timeout=SLOT_CHECK_EVERY):
            if self._stop.requested:
                return False
        if self._stop.requested:  # the slot was freed by the stop itself: do not start
            self._slots.release()
            return False
        return True

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release()
