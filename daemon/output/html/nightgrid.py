"""The nights compared (the page's history section) as plain values: a grid of projects
x nights, each row's duration and spend as sparklines, each night's wall time and spend as
small bars. Numbers and short strings only; ``_history.html.j2`` draws them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from agentd.daemon.model.history import History, Night, NightCell
from agentd.daemon.output.html.chartkit import (
    Point,
    duration_text,
    money,
    plain,
    r1,
    status_class,
)

SPARK_W, SPARK_H = 60.0, 16.0
NIGHT_BAR_W, NIGHT_BAR_H = 10.0, 20.0
MARKS = {"ok": "✓", "failed": "✗", "error": "✗", "interrupted": "!", "skipped": "–"}


@dataclass(frozen=True)
class Cell:
    css: str
    mark: str  # the status without its colour
    title: str


@dataclass(frozen=True)
class Spark:
    """Points in a SPARK_W x SPARK_H box; a night without a value breaks the line, and a
    value with no neighbour is a dot."""

    lines: list[list[Point]]
    dots: list[Point]
    title: str


@dataclass(frozen=True)
class MiniBar:
    y: float
    height: float
    title: str


@dataclass(frozen=True)
class NightColumn:
    date: str
    label: str
    css: str
    title: str
    wall: MiniBar
    spend: MiniBar


@dataclass(frozen=True)
class HistoryRow:
    name: str
    cells: list[Cell]
    duration: Spark
    spend: Spark


@dataclass(frozen=True)
class HistoryView:
    nights: list[NightColumn]
    rows: list[HistoryRow]
    spark_width: float
    spark_height: float
    bar_width: float
    bar_height: float
    summary: str


def gap_class(gap: str | None) -> str:
    if gap == "missed":
        return "gap gap-missed"
    if gap == "none due":
        return "gap gap-none-due"
    if gap is not None and gap.startswith("skipped"):
        return "gap gap-skipped"
    return "gap gap-none"


def sparkline(values: Sequence[float | None], what: str, show: Any = duration_text) -> Spark:
    """Scaled from zero, not from the smallest value: 60 s against 62 s is no trend, and a
    sparkline from its minimum would draw it as one."""
    known = [v for v in values if v is not None and math.isfinite(v) and v >= 0]
    top = max(known, default=0.0)
    n = len(values)
    lines: list[list[Point]] = []
    current: list[Point] = []
    for i, value in enumerate(values):
        if value is None or not math.isfinite(value) or value < 0:
            current = []
            continue
        x = SPARK_W / 2 if n == 1 else 1 + i * (SPARK_W - 2) / (n - 1)
        y = SPARK_H - 1 - (value / top * (SPARK_H - 2) if top > 0 else 0)
        if not current:
            lines.append(current)
        current.append((r1(x), r1(y)))
    dots = [line[0] for line in lines if len(line) == 1]
    last = next((v for v in reversed(values) if v is not None), None)
    title = f"{what}: last {show(last)}, most {show(top)}" if known else f"{what}: none"
    return Spark([line for line in lines if len(line) > 1], dots, title)


def _cell(night: Night, cell: NightCell) -> Cell:
    if night.sweeps == 0:
        return Cell(gap_class(night.gap), "·", f"{night.date}: {night.gap or 'no sweep'}")
    if cell.status is None:
        return Cell("st-none", "", f"{night.date}: did not run")
    parts = [plain(cell.status)]
    if cell.duration_s is not None:
        parts.append(duration_text(cell.duration_s))
    if cell.spend_usd is not None:
        parts.append(money(cell.spend_usd))
    mark = MARKS.get(str(cell.status), "?")
    return Cell(status_class(cell.status), mark, f"{night.date}: {', '.join(parts)}")


def _label(day: str) -> str:
    try:
        return date.fromisoformat(day).strftime("%a %d")
    except ValueError:
        return day[-5:]


def _column(night: Night, most_wall: float, most_spend: float) -> NightColumn:
    def bar(value: float | None, top: float, text: str) -> MiniBar:
        height = r1(value / top * NIGHT_BAR_H) if value and top > 0 else 0.0
        return MiniBar(r1(NIGHT_BAR_H - height), height, f"{night.date}: {text}")

    wall_text = f"wall time {duration_text(night.wall_s)}"
    spend_text = f"spend {money(night.spend_usd)}"
    wall = bar(night.wall_s, most_wall, wall_text)
    spend = bar(night.spend_usd, most_spend, spend_text)
    if night.sweeps == 0:
        css, title = gap_class(night.gap), f"{night.date}: {night.gap or 'no sweep'}"
    else:
        sweeps = f"{night.sweeps} sweep{'s' if night.sweeps != 1 else ''}"
        css = status_class(night.status)
        title = f"{night.date}: {sweeps}, {plain(night.status)}, {wall_text}, {spend_text}"
    return NightColumn(night.date, _label(night.date), css, title, wall, spend)


def history_view(history: History) -> HistoryView:
    """Projects x nights, each row with its duration and spend over those nights."""
    nights = list(history.nights)
    walls = [n.wall_s for n in nights if n.wall_s is not None]
    spends = [n.spend_usd for n in nights if n.spend_usd is not None]
    columns = [_column(n, max(walls, default=0.0), max(spends, default=0.0)) for n in nights]
    rows = []
    for project in history.projects:
        cells = list(project.nights)[: len(nights)]
        grid = [_cell(night, cell) for night, cell in zip(nights, cells, strict=False)]
        # A row shorter than the nights (never from build_history) keeps the columns.
        grid += [Cell("st-none", "", f"{n.date}: no record") for n in nights[len(grid) :]]
        rows.append(
            HistoryRow(
                plain(project.name),
                grid,
                sparkline([c.duration_s for c in cells], "duration"),
                sparkline([c.spend_usd for c in cells], "spend", money),
            )
        )
    gaps = sum(n.sweeps == 0 for n in nights)
    span = f", {nights[0].date} to {nights[-1].date}" if nights else ""
    summary = f"History: {len(rows)} projects over {len(nights)} nights{span}"
    summary += f", {gaps} without a sweep" if gaps else ""
    return HistoryView(columns, rows, SPARK_W, SPARK_H, NIGHT_BAR_W, NIGHT_BAR_H, summary)
