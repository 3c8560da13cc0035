"""The nights compared (the page's history section) as plain values: a grid of projects
x nights, each row's duration and spend as sparklines, each night's wall time and spend as
small bars. Numbers and short strings only; ``_history.html.j2`` draws them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from agentd.daemon.model.history import History, Night, NightCell
from agentd.daemon.output.html.chartkit import (
    Point,
    duration_text,
    money,
    plain,
    r1,
    status_class,
)

# A sparkline's box in CSS pixels, its points rounded to whole ones: fine enough for a
# trend, and a point is "20 8" rather than "20.3 8.0", 4200 times on a page of 300 rows.
# The box is the SVG's size, not a viewBox: one attribute fewer on every sparkline.
SPARK_W, SPARK_H = 60, 16
SPARK_PAD = 1  # the line's half-width, so the top and bottom values are not clipped
NIGHT_BAR_W, NIGHT_BAR_H = 10, 20
MARKS = {"ok": "✓", "failed": "✗", "error": "✗", "interrupted": "!", "skipped": "–"}


class Cell(NamedTuple):
    """A tuple, so the template unpacks a row's cells in its loop (4200 of them on a page
    of 300 projects) instead of looking up three attributes of each."""

    css: str
    mark: str  # the status without its colour
    title: str  # "" but for what the column and the mark do not say: a gap's kind


_CELLS = {status: Cell(status_class(status), mark, "") for status, mark in MARKS.items()}


@dataclass(frozen=True)
class Spark:
    """Points in a SPARK_W x SPARK_H box; a night without a value breaks the line, and a
    value with no neighbour is a dot."""

    lines: list[list[Point]]
    dots: list[Point]
    title: str
    path: str  # the lines as one SVG path's data ("M1 8 20.3 1M50 9 59 2"), "" when none


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
    spark_width: int
    spark_height: int
    bar_width: float
    bar_height: float
    summary: str
    spend: bool  # any spend in these nights: without it, no spend sparklines at all


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
    sparkline from its minimum would draw it as one. Its title gives every night's value
    (the grid's cells carry none: a hover, where there is one, reads the whole row here)."""
    known = [v for v in values if v is not None and math.isfinite(v) and v >= 0]
    top = max(known, default=0.0)
    n = len(values)
    inner_w, inner_h = SPARK_W - 2 * SPARK_PAD, SPARK_H - 2 * SPARK_PAD
    lines: list[list[Point]] = []
    current: list[Point] = []
    shown = []
    for i, value in enumerate(values):
        if value is None or not math.isfinite(value) or value < 0:
            current = []
            shown.append("–")
            continue
        shown.append(show(value))
        x = SPARK_W / 2 if n == 1 else SPARK_PAD + i * inner_w / (n - 1)
        y = SPARK_H - SPARK_PAD - (value / top * inner_h if top > 0 else 0)
        if not current:
            lines.append(current)
        current.append((round(x), round(y)))
    dots = [line[0] for line in lines if len(line) == 1]
    lines = [line for line in lines if len(line) > 1]
    title = f"{what}: {' '.join(shown)}" if known else f"{what}: none"
    return Spark(lines, dots, title, "".join(_path(line) for line in lines))


def _path(line: list[Point]) -> str:
    """``M`` then the points: after a moveto, further pairs are implicit linetos."""
    return "M" + " ".join(f"{x} {y}" for x, y in line)


def _cell(night: Night, cell: NightCell) -> Cell:
    """The column says the night, the mark and colour the status, the row's sparklines
    the durations and spend: a title only for a gap's kind or a night it did not run."""
    if night.sweeps == 0:
        return Cell(gap_class(night.gap), "·", night.gap or "no sweep")
    if cell.status is None:
        return Cell("st-none", "", "did not run")
    return _CELLS.get(cell.status) or Cell(status_class(cell.status), "?", plain(cell.status))


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
        grid += [Cell("st-none", "", "no record") for _ in nights[len(grid) :]]
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
    spend = bool(spends) or any(row.spend.path or row.spend.dots for row in rows)
    return HistoryView(columns, rows, SPARK_W, SPARK_H, NIGHT_BAR_W, NIGHT_BAR_H, summary, spend)
