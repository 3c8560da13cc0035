"""What agents spent, and whether another agent task may start.

Spend lives in the state store's ledger (one entry per agent run, by calendar date in the
schedule's zone), so every sweep on this state directory, the daemon's and a manual one,
sees what the others spent. "Nightly" is the sweep's date; "weekly" is that date and the
six before it, a rolling window, so a week's budget never comes back all at once on a
Monday.

A limit is checked before an agent task starts, never while one runs: tasks already running
may take the spend past the limit (the report shows by how much), but none is killed.

Checking and starting are one atomic step of the state store (``StateStore.reserve``), so
sweeps on several hosts cannot all pass a limit at once: each agent run in flight holds a
reservation of what it may cost, its agent's dearest run in the ledger's window. A task
starts only while what is spent plus what is in flight stays under every limit; with the
spend alone at a limit it is skipped, otherwise it waits for runs in flight to settle. An
agent that has no known run yet cannot be priced: its run in flight counts as the rest
of the limit, so others wait for its first run to set the price.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentd.config.model import BudgetSection, Limits
from agentd.daemon.agents.registry import NONE, reports_cost
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
from agentd.daemon.model.clock import Clock
from agentd.daemon.model.results import BUDGET
from agentd.daemon.tasks.stop import StopToken
from agentd.state import Snapshot
from agentd.state.base import Estimate, Refused, Reserved

if TYPE_CHECKING:
    from agentd.config import Config
    from agentd.state import StateStore

__all__ = [
    "AgentSlots",
    "Pricing",
    "Rule",
    "amount_text",
    "decide",
    "describe",
    "exhausted",
    "reserve",
    "rule_for",
    "standing",
    "summary",
    "week_of",
]

SLOT_CHECK_EVERY = 0.25  # how soon an agent task waiting for a slot sees a stop request
RESERVE_AGAIN = 0.5  # how often a task waiting for room under a limit asks again
# The ledger's window (the stores keep 14 days of it): an agent's price is its dearest run
# in it, so a price follows what the agent costs now, not what it cost a month ago.
PRICE_DAYS = 14


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


# Totals of a day's ledger, by agent (None: all agents), and each agent's dearest known
# run, kept while that day's dict lives. Snapshots are never changed in place (the store
# copies what a write touches), so a day that is the same object has the same entries;
# each check then costs only tonight's day, not the whole window, however many agent runs
# the ledger holds.
@dataclass
class _DayFacts:
    totals: dict[str | None, Totals] = field(default_factory=dict)
    dearest_usd: dict[str, float] = field(default_factory=dict)
    dearest_tokens: dict[str, float] = field(default_factory=dict)


_facts_cache: dict[int, tuple[dict[str, Any], _DayFacts]] = {}
_cache_lock = threading.Lock()
_CACHE_DAYS = 64


def _day_totals(day: dict[str, Any]) -> dict[str | None, Totals]:
    return _day_facts(day).totals


def _day_facts(day: dict[str, Any]) -> _DayFacts:
    if not day:
        return _DayFacts()
    with _cache_lock:
        hit = _facts_cache.get(id(day))
        if hit is not None and hit[0] is day:
            return hit[1]
    out = _DayFacts({None: Totals()})
    for entry in day.values():
        out.totals[None].add(entry)
        agent = entry.get("agent")
        if agent is None:  # None is the key of the overall totals
            continue
        out.totals.setdefault(agent, Totals()).add(entry)
        if entry.get("known"):
            _keep_dearest(out.dearest_usd, agent, entry.get("cost_usd"))
            _keep_dearest(out.dearest_tokens, agent, entry.get("tokens"))
    with _cache_lock:
        if len(_facts_cache) >= _CACHE_DAYS:
            _facts_cache.clear()
        _facts_cache[id(day)] = (day, out)  # the reference keeps the id from being reused
    return out


def _keep_dearest(dearest: dict[str, float], agent: str, amount: Any) -> None:
    if isinstance(amount, (int, float)) and not isinstance(amount, bool):
        dearest[agent] = max(dearest.get(agent, 0.0), float(amount))


def exhausted(budget: BudgetSection, snapshot: Snapshot, date: str, agent: str) -> str | None:
    """Why no agent task of ``agent`` may start now, or None. Overall limits first."""
    for item in standing(budget, snapshot, date):
        if item.reached and item.agent in (None, agent):
            return BUDGET + item.describe()
    return None


@dataclass(frozen=True)
class Pricing:
    """What an agent's run in flight may count against limits of each unit: as its runs
    count once settled. A preset that reports no cost counts 0 USD; an agent whose usage
    is not read (``usage = "none"``) counts nothing at all."""

    usd: bool = True
    tokens: bool = True


def pricing(config: Config, agent: str) -> Pricing:
    fmt = config.usage_format(agent)
    if fmt == NONE:
        return Pricing(usd=False, tokens=False)
    return Pricing(usd=reports_cost(fmt) is not False)


@dataclass(frozen=True)
class Rule:
    """Whether an agent task of ``agent`` may start in the sweep of ``date``: the store
    calls it with the ledger as it is inside its atomic step (``StateStore.reserve``)."""

    budget: BudgetSection
    date: str
    agent: str
    pricing: Pricing = Pricing()
    global_bound: int = 0  # [run] max_parallel_agents_global; 0: none

    def __call__(self, snapshot: Snapshot) -> Estimate | Refused:
        return decide(self, snapshot)


def rule_for(config: Config, date: str, agent: str) -> Rule:
    bound = config.settings.run.max_parallel_agents_global
    return Rule(config.settings.budget, date, agent, pricing(config, agent), bound)


def decide(rule: Rule, snapshot: Snapshot) -> Estimate | Refused:
    """The run's estimate if the task may start; else skip it (a limit reached by
    what is spent, the reason as it always was) or wait (runs in flight may fill what is
    left, or the bound on agent runs across hosts is reached). Overall limits first."""
    limits = [
        s for s in standing(rule.budget, snapshot, rule.date) if s.agent in (None, rule.agent)
    ]
    for item in limits:
        if item.reached:
            return Refused(BUDGET + item.describe())
    live = list(snapshot.reservations().values())
    week = set(week_of(rule.date))
    for item in limits:
        flight = _in_flight(live, item, rule.date, week)
        if flight is not None and (flight.unknown or item.spent + flight.amount >= item.value):
            return Refused(BUDGET + _waiting(item, flight), wait=True)
    if rule.global_bound and len(live) >= rule.global_bound:
        runs = "run" if len(live) == 1 else "runs"
        return Refused(
            f"max_parallel_agents_global = {rule.global_bound} reached "
            f"({len(live)} agent {runs} in flight on all hosts)",
            wait=True,
        )
    usd, tokens = estimate(snapshot, rule.agent, rule.date, rule.pricing)
    return Estimate(rule.agent, rule.date, usd, tokens)


def estimate(
    snapshot: Snapshot, agent: str, date: str, priced: Pricing
) -> tuple[float | None, float | None]:
    """What a run of ``agent`` may cost (USD, tokens): its dearest known run in the
    ledger's window; None where it has no known run yet (its first run sets the price)."""
    day = dt.date.fromisoformat(date)
    days = [(day - dt.timedelta(days=n)).isoformat() for n in range(PRICE_DAYS)]
    facts = [_day_facts(snapshot.spend_day(d)) for d in days]
    usd = [f.dearest_usd[agent] for f in facts if agent in f.dearest_usd]
    tokens = [f.dearest_tokens[agent] for f in facts if agent in f.dearest_tokens]
    return (
        (max(usd) if usd else None) if priced.usd else 0.0,
        (max(tokens) if tokens else None) if priced.tokens else 0.0,
    )


@dataclass(frozen=True)
class _Flight:
    runs: int
    amount: float  # the known estimates' sum
    unknown: int  # runs with no estimate: each may take the rest of the limit


def _in_flight(
    live: list[dict[str, Any]], item: Standing, date: str, week: set[str]
) -> _Flight | None:
    """The reservations in ``item``'s scope (its agent, its night or week), None if none."""
    key = "usd" if item.limit.unit is Unit.USD else "tokens"
    nightly = item.limit.span is Span.NIGHTLY
    amounts = [
        entry.get(key)
        for entry in live
        if (item.agent is None or entry.get("agent") == item.agent)
        # A reservation without a date (not one of ours) counts wherever it might.
        and (entry.get("date") is None or entry.get("date") in ({date} if nightly else week))
    ]
    if not amounts:
        return None
    known = [float(a) for a in amounts if isinstance(a, (int, float)) and not isinstance(a, bool)]
    return _Flight(len(amounts), sum(known), len(amounts) - len(known))


def _waiting(item: Standing, flight: _Flight) -> str:
    unit = item.limit.unit
    scope = f"{item.agent}'s " if item.agent else ""
    since = f"on {item.since}" if item.limit.span is Span.NIGHTLY else f"since {item.since}"
    runs = "run" if flight.runs == 1 else "runs"
    held = amount_text(flight.amount, unit)
    if flight.unknown:
        held += " and the rest of the limit for a run of unknown cost"
    return (
        f"{scope}{item.limit.span} limit of {amount_text(item.value, unit)} may be reached "
        f"by {flight.runs} agent {runs} in flight ({amount_text(item.spent, unit)} spent "
        f"{since}, {held} reserved)"
    )


def reserve(
    store: StateStore,
    key: tuple[str, str, str],
    rule: Rule,
    stop: StopToken,
    clock: Clock,
    log: Any,
) -> tuple[Reserved | Refused | None, int]:
    """Reserve the agent run ``key`` (project, task, run id), asking again while the rule
    says wait; returns the answer (None: a stop request ended the wait) and how many
    times it waited. StateError if the store cannot be asked."""
    project, task, run_id = key
    waits = 0
    said = None
    while True:
        answer = store.reserve(project, task, run_id, rule, clock.now())
        if isinstance(answer, Reserved) or not answer.wait:
            return answer, waits
        if answer.reason != said:  # once per reason, not every half second
            log.info("task.waiting", reason=answer.reason, waited=waits)
            said = answer.reason
        waits += 1
        if stop.wait(RESERVE_AGAIN):
            return None, waits


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
