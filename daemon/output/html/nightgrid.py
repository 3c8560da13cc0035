"""The nights compared (the page's history section) as plain values: a grid of projects
x nights, each row's duration and spend as sparklines, each night's wall time and spend as
small bars. Numbers and short strings only; ``_history.html.j2`` draws them.

The rows that need someone come first: failing last night (newly failing ahead), then
recovered, then those that failed on some earlier night, then those ok every night. On a
night of many projects the last two groups are folded away under a line that counts
them, so 300 projects of which 30 changed are 30 rows to read, not 300."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from agentd.daemon.model.history import History, Night, NightCell, ProjectHistory, changes
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
SPARK_W, SPARK_H = 80, 18
SPARK_PAD = 2  # the last value's dot (radius 2), so the top and bottom values are not clipped
NIGHT_BAR_W, NIGHT_BAR_H = 10, 20
# More rows than this, and those that were ok last night are folded away (counted).
FOLD_OVER = 24
# The grid's least width in CSS px (below it, it scrolls sideways in its card, newest
# nights in sight first): the name, each sparkline with its figure, and the nights.
NAME_W, FIGURE_W, NIGHT_MIN_W = 160, 130, 28
MARKS = {"ok": "✓", "failed": "✗", "error": "✗", "interrupted": "!", "skipped": "–"}


class Cell(NamedTuple):
    """A tuple, so the template unpacks a row's cells in its loop (4200 of them on a page
    of 300 projects) instead of looking up three attributes of each."""

    css: str
    mark: str  # the status without its colour
    title: str  # "" but for what the column and the mark do not say: a gap's kind


_CELLS = {status: Cell(status_class(status), mark, "") for status, mark in MARKS.items()}


class Spark(NamedTuple):
    """Points in a SPARK_W x SPARK_H box, one per night with a value, at that night's x:
    the line runs on over nights without one (the grid beside it shows those), and ends
    in a dot on the last value, which ``value`` says in words. A tuple, which the template
    unpacks (600 sparklines on a page of 300 projects)."""

    title: str
    path: str  # the points as one SVG path's data ("M2 8 23 2 78 12"), "" under two points
    last: Point | None  # the last value's dot; None: no value at all
    value: str  # the last value ("1m5s", "$0.03"), "" when none
    points: list[Point]


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
    change: str = ""  # "new" (newly failing) or "recovered", beside the name; else ""
    tier: int = 0  # its place in the order: see ``TIERS``


# Row groups, in the order shown; the first three are always open.
TIERS = (
    "newly failing",
    "not ok last night",
    "recovered",
    "ok last night, not every night before",
    "ok every night they ran",
)
FOLDED_TIERS = (3, 4)


@dataclass(frozen=True)
class Fold:
    """Rows folded away under a ``<details>``, its summary counting them."""

    summary: str
    rows: list[HistoryRow]


@dataclass(frozen=True)
class HistoryView:
    nights: list[NightColumn]
    rows: list[HistoryRow]  # shown open, those that need someone first
    folds: list[Fold]  # the rest, on a night of many projects
    spark_width: int
    spark_height: int
    bar_width: float
    bar_height: float
    summary: str
    spend: bool  # any spend in these nights: without it, no spend sparklines at all
    min_width: int  # the table's least width, CSS px
    calm: str  # when no row is open: what the folds hold, in a sentence; else ""

    @property
    def all_rows(self) -> list[HistoryRow]:
        return [*self.rows, *(row for fold in self.folds for row in fold.rows)]


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
    sparkline from its minimum would draw it as one. A night without a value is skipped,
    not a break: broken at every gap, a week of nights drew as a few dashes. Its title
    gives every night's value (the grid's cells carry none: a hover reads the row here)."""
    # 0 <= v < inf: neither negative, nor infinite, nor NaN (which compares false).
    known = [(i, v) for i, v in enumerate(values) if v is not None and 0 <= v < math.inf]
    if not known:
        return Spark(f"{what}: none", "", None, "", [])
    n = len(values)
    top = max([v for _, v in known])
    inner_w, inner_h = SPARK_W - 2 * SPARK_PAD, SPARK_H - 2 * SPARK_PAD
    shown = ["–"] * n
    points: list[Point] = []
    for i, v in known:
        shown[i] = show(v)
        x = SPARK_W / 2 if n == 1 else SPARK_PAD + i * inner_w / (n - 1)
        points.append((round(x), round(SPARK_H - SPARK_PAD - (v / top * inner_h if top else 0))))
    # ``M`` then the points: after a moveto, further pairs are implicit linetos.
    path = "M" + " ".join([f"{x} {y}" for x, y in points]) if len(points) > 1 else ""
    return Spark(f"{what}: {' '.join(shown)}", path, points[-1], shown[known[-1][0]], points)


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


def tier(cells: Sequence[NightCell], newly: bool, recovered: bool) -> int:
    """A row's group (an index of TIERS): what last night says first, then the nights
    before it; a night it did not run says nothing."""
    last = cells[-1].status if cells else None
    if newly:
        return 0
    if last is not None and last != "ok":
        return 1
    if recovered:
        return 2
    return 3 if any(c.status not in (None, "ok") for c in cells) else 4


def _row(
    project: ProjectHistory, nights: list[Night], newly: set[str], recovered: set[str], start: int
) -> HistoryRow:
    cells = list(project.nights)[: len(nights)]
    grid = [_cell(night, cell) for night, cell in zip(nights, cells, strict=False)]
    # A row shorter than the nights (never from build_history) keeps the columns.
    grid += [Cell("st-none", "", "no record") for _ in nights[len(grid) :]]
    is_new, is_back = project.name in newly, project.name in recovered
    return HistoryRow(
        plain(project.name),
        grid,
        sparkline([c.duration_s for c in cells[start:]], "duration"),
        sparkline([c.spend_usd for c in cells[start:]], "spend", money),
        "new" if is_new else "recovered" if is_back else "",
        tier(cells + [NightCell(None, None, None)] * (len(nights) - len(cells)), is_new, is_back),
    )


def _first_figure(history: History) -> int:
    """The first night any project has a figure on: the sparklines begin there, so a new
    install's week of nights gets their whole width (the same night at the same x in
    every row, as the grid has it)."""
    for i in range(len(history.nights)):
        for project in history.projects:
            if len(project.nights) > i:
                cell = project.nights[i]
                if cell.duration_s is not None or cell.spend_usd is not None:
                    return i
    return 0


def _folds(rows: list[HistoryRow]) -> tuple[list[HistoryRow], list[Fold]]:
    """Every row open on a night of few; else the ok-last-night ones folded, by group."""
    if len(rows) <= FOLD_OVER:
        return rows, []
    shown = [row for row in rows if row.tier not in FOLDED_TIERS]
    folds = []
    for k in FOLDED_TIERS:
        group = [row for row in rows if row.tier == k]
        if group:
            count = f"{len(group)} project{'' if len(group) == 1 else 's'}"
            folds.append(Fold(f"{count} {TIERS[k]}", group))
    return shown, folds


def history_view(history: History) -> HistoryView:
    """Projects x nights, each row with its duration and spend over those nights; the
    rows in the order of TIERS (within one, the history's: the configuration's)."""
    nights = list(history.nights)
    walls = [n.wall_s for n in nights if n.wall_s is not None]
    spends = [n.spend_usd for n in nights if n.spend_usd is not None]
    columns = [_column(n, max(walls, default=0.0), max(spends, default=0.0)) for n in nights]
    changed = changes(history)
    newly, recovered = set(changed.newly_failing), set(changed.recovered)
    start = _first_figure(history)
    rows = [_row(p, nights, newly, recovered, start) for p in history.projects]
    rows.sort(key=lambda row: row.tier)  # stable: the configuration's order within a group
    shown, folds = _folds(rows)
    gaps = sum(n.sweeps == 0 for n in nights)
    span = f", {nights[0].date} to {nights[-1].date}" if nights else ""
    summary = f"History: {len(rows)} projects over {len(nights)} nights{span}"
    summary += f", {gaps} without a sweep" if gaps else ""
    spend = bool(spends) or any(row.spend.last for row in rows)
    figures = 2 if spend else 1
    calm = ""
    if folds and not shown:
        calm = "No project failed last night or changed since the night before."
    return HistoryView(
        nights=columns,
        rows=shown,
        folds=folds,
        spark_width=SPARK_W,
        spark_height=SPARK_H,
        bar_width=NIGHT_BAR_W,
        bar_height=NIGHT_BAR_H,
        summary=summary,
        spend=spend,
        min_width=NAME_W + figures * FIGURE_W + len(nights) * NIGHT_MIN_W,
        calm=calm,
    )
