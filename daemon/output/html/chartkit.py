"""What the report page's charts share: rounding, status classes and the reading of a
report's hostile values (a value that does not parse is left out of a chart, never
raised); its figures (numbers, durations) are output/figures.py's, as report.md's views'."""

from __future__ import annotations

import math
from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC, datetime

from agentd.daemon.output.figures import duration_text, number
from agentd.daemon.output.textout import harmless

__all__ = ["duration_text", "number"]  # the page's figures, shared with report.md's views

STATUSES = frozenset({"ok", "failed", "timeout", "error", "interrupted", "skipped"})
Point = tuple[float, float]


def r1(value: float) -> float:
    """One decimal, and a whole number as an int: a template writes 12.0 as "12.0", and a
    page of a thousand bars would carry those two characters a few thousand times."""
    rounded = round(float(value), 1)
    return int(rounded) if rounded.is_integer() else rounded


def status_class(status: object) -> str:
    """A CSS class for a status word; anything else a report.json may hold is "unknown"."""
    text = str(status)
    return f"st-{text}" if text in STATUSES else "st-unknown"


def plain(value: object) -> str:
    return harmless(str(value)) if value is not None else "?"


def word(value: object) -> str:
    """A status: one a report writes as it is, anything else as ``plain`` shows it (the
    look for what would act on a terminal costs a thousand bars' titles their time)."""
    return value if type(value) is str and value in STATUSES else plain(value)


def moment_of(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if not 1 < moment.year < 9999:
        return None  # a chart's arithmetic on it (zones, tick steps) would overflow
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def money(value: float | None) -> str:
    return f"${value:.2f}" if value is not None and math.isfinite(value) else "?"


@dataclass(frozen=True)
class LegendItem:
    """A swatch under the timeline and what it means, so no colour or dash goes unexplained
    (a bar's title says its status in words too)."""

    kind: str  # what the swatch draws: "bar", "span", "wait", "agents", "bound" or "over"
    css: str  # a status class, for "bar" and "span"
    label: str


# The statuses a bar can have, in the legend's order.
LEGEND_STATUSES = ("ok", "failed", "error", "timeout", "interrupted", "skipped", "unknown")


def legend(
    bar_classes: Set[str], waits: bool, agents: bool, agent_bound: bool, over: bool
) -> list[LegendItem]:
    """What a timeline draws, named: the statuses its bars have (ok always, so a calm night
    says what green is), the projects' pale runs, and the waits, the agent row, its bound
    and lanes over the project bound when it has them."""
    present = set(bar_classes) | {"st-ok"}
    items = [
        LegendItem("bar", f"st-{status}", f"task {status}")
        for status in LEGEND_STATUSES
        if f"st-{status}" in present
    ]
    if bar_classes:
        items.append(LegendItem("span", "st-ok", "a project's run (pale, in its status's colour)"))
    if waits:
        items.append(LegendItem("wait", "", "waiting for a dependency"))
    if agents:
        items.append(LegendItem("agents", "", "agent tasks at once"))
    if agent_bound:
        items.append(LegendItem("bound", "", "agent-slot bound"))
    if over:
        items.append(LegendItem("over", "", "a lane over the bound"))
    return items
