"""Spend and budget limits as values: what the sweep computes and every view shows.

A limit is a span (tonight, or the rolling week) and a unit (dollars, or tokens); the
configuration spells it ``nightly_usd`` and so do report.json and ``agentd status --json``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

WEEK_DAYS = 7


def week_of(date: str) -> list[str]:
    """The calendar dates of the rolling week that ends with ``date`` (ISO), oldest first:
    what "weekly" means for budgets, the report, ``agentd status`` and the metrics."""
    day = dt.date.fromisoformat(date)
    return [(day - dt.timedelta(days=n)).isoformat() for n in range(WEEK_DAYS - 1, -1, -1)]


class Span(StrEnum):
    NIGHTLY = "nightly"
    WEEKLY = "weekly"


class Unit(StrEnum):
    USD = "usd"
    TOKENS = "tokens"


@dataclass(frozen=True)
class Limit:
    span: Span
    unit: Unit

    @classmethod
    def parse(cls, key: str) -> Limit:
        """``nightly_usd`` -> Limit(NIGHTLY, USD); ValueError for anything else."""
        span, _, unit = key.partition("_")
        return cls(Span(span), Unit(unit))

    @property
    def key(self) -> str:
        return f"{self.span}_{self.unit}"


def amount_text(value: float, unit: Unit | str) -> str:
    if unit == Unit.USD:
        return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.4f}"
    return f"{int(value):,} tokens"


def limit_text(key: str, value: float) -> str:
    """``nightly $5.00``: a configured limit in words."""
    limit = Limit.parse(key)
    return f"{limit.span} {amount_text(value, limit.unit)}"


@dataclass
class Totals:
    usd: float = 0.0
    tokens: int = 0
    runs: int = 0
    unknown: int = 0  # runs whose usage could not be read: their spend is not counted

    def merge(self, other: Totals) -> None:
        self.usd += other.usd
        self.tokens += other.tokens
        self.runs += other.runs
        self.unknown += other.unknown

    def add(self, entry: dict[str, Any]) -> None:
        """One entry of the state store's spend ledger."""
        self.runs += 1
        if not entry.get("known"):
            self.unknown += 1
        self.usd += float(entry.get("cost_usd") or 0.0)
        self.tokens += int(entry.get("tokens") or 0)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["usd"] = round(self.usd, 6)
        return data


@dataclass
class Period:
    total: Totals
    by_project: dict[str, Totals] = field(default_factory=dict)
    by_agent: dict[str, Totals] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total.to_dict(),
            "by_project": {k: v.to_dict() for k, v in self.by_project.items()},
            "by_agent": {k: v.to_dict() for k, v in self.by_agent.items()},
        }


@dataclass
class Spend:
    """Today's and this week's spend, per project and per agent (and one sweep's)."""

    date: str
    week_from: str
    today: Period
    week: Period
    sweep: Totals | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "date": self.date,
            "week_from": self.week_from,
            "today": self.today.to_dict(),
            "week": self.week.to_dict(),
        }
        if self.sweep is not None:
            out["sweep"] = self.sweep.to_dict()
        return out


@dataclass(frozen=True)
class Standing:
    """One configured limit and what has been spent against it."""

    agent: str | None  # None: the overall limit
    limit: Limit
    value: float
    spent: float
    since: str
    reached: bool
    unknown_runs: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "limit": self.limit.key,
            "value": self.value,
            "spent": self.spent,
            "since": self.since,
            "reached": self.reached,
            "unknown_runs": self.unknown_runs,
        }

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> Standing:
        """As report.json and ``agentd status --json`` hold it."""
        return cls(
            item["agent"],
            Limit.parse(item["limit"]),
            item["value"],
            item["spent"],
            item["since"],
            item["reached"],
            int(item.get("unknown_runs") or 0),
        )

    def describe(self) -> str:
        span, unit = self.limit.span, self.limit.unit
        scope = f"{self.agent}'s " if self.agent else ""
        since = f"on {self.since}" if span is Span.NIGHTLY else f"since {self.since}"
        state = "reached" if self.reached else "not reached"
        text = (
            f"{scope}{span} limit of {amount_text(self.value, unit)} {state} "
            f"({amount_text(self.spent, unit)} spent {since})"
        )
        if self.unknown_runs:  # the budget cannot fail safe on what it cannot see: say so
            runs = "run" if self.unknown_runs == 1 else "runs"
            text += f"; {self.unknown_runs} agent {runs} with usage unknown not counted"
        return text


def describe(item: Standing | dict[str, Any]) -> str:
    """A limit's standing in words, from the value or from a report read back."""
    standing = item if isinstance(item, Standing) else Standing.from_dict(item)
    return standing.describe()
