"""The report page's charts as geometry: numbers and short strings, never markup.

The templates ``_timeline.svg.j2`` and ``_history.html.j2`` draw these values, so every
name that reaches an SVG ``<title>`` is escaped there, in one place. The timeline is built
from the report's JSON form (a Report is turned into it), since a page may be made later
from a report.json alone, read as hostile as any other file. The history grid is in
nightgrid.py; ``history_view`` is named here too, so the page imports the charts from one
place.

Coordinates are SVG user units rounded to one decimal: the 300-project page carries a
thousand bars, and six digits each would be most of its weight.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from agentd.daemon.model.report import Report
from agentd.daemon.output.html.chartkit import (
    LegendItem,
    Point,
    duration_text,
    legend,
    moment_of,
    plain,
    r1,
    seconds_of,
    status_class,
)
from agentd.daemon.output.html.nightgrid import HistoryView, history_view

__all__ = ["HistoryView", "Timeline", "bounds_of", "history_view", "timeline"]

# Whole numbers where they can be: a template writes 12.0 as "12.0", on every bar.
WIDTH = 1000
GUTTER = 70  # the lanes' labels, left of the plot
RIGHT = 14
TOP = 4
LANE_H = 24
BAR_H = 16
AGENT_H = 30
AXIS_H = 22
MIN_BAR = 1.5  # a 50 ms task in an 8-hour night would otherwise be no pixel at all
MAX_TICKS = 8
# Tick spacings a reader counts in: seconds up to a day.
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)


@dataclass(frozen=True)
class Lane:
    index: int
    y: float
    height: float
    label: str
    over_bound: bool  # more projects overlapped than the bound allows: another config's run
    mid_y: float  # where its label's baseline centres
    title: str


@dataclass(frozen=True)
class Bar:
    """One task, or (``kind`` "project") the span of a project's run behind its tasks."""

    x: float
    y: float
    width: float
    height: float
    lane: int
    css: str
    title: str
    alt: bool = False  # every other project in a lane, so neighbours stay apart


@dataclass(frozen=True)
class LaneBars:
    """A lane's spans and bars, drawn in a group moved down to the lane, so a thousand
    rects need no y of their own (every span of a lane has one y, every bar another)."""

    span_y: float
    bar_y: float
    spans: list[Bar]
    bars: list[Bar]


@dataclass(frozen=True)
class Wait:
    """A project that waited for its dependencies: from where the last of them ended to
    where it started (another lane, or later in the same one)."""

    x1: float
    y1: float
    x2: float
    y2: float
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class AgentRow:
    """Agent tasks running at once, as a step line, under a line at the agent bound."""

    y: float
    height: float
    points: list[Point]
    bound_y: float | None
    label: str
    label_y: float
    title: str


@dataclass(frozen=True)
class Timeline:
    width: float
    height: float
    plot_x: float
    plot_width: float
    plot_end: float
    label_x: float  # right edge of the lanes' labels
    zone_x: float  # right edge of the zone's name, clear of the first tick's label
    lanes_bottom: float
    lanes: list[Lane]
    spans: list[Bar]
    bars: list[Bar]
    by_lane: list[LaneBars]  # the same spans and bars, as the template draws them
    waits: list[Wait]
    ticks: list[Tick]
    axis_y: float
    tick_y: float  # the bottom of a tick mark
    tick_label_y: float
    agents: AgentRow | None
    bound: int
    over_bound: int  # lanes beyond the bound
    zone_label: str
    summary: str  # the chart in words: its aria-label and <title>
    legend: list[LegendItem]


@dataclass
class _Run:
    name: str
    start: datetime
    end: datetime
    status: object
    tasks: list[tuple[Mapping[str, Any], datetime, datetime]]


def bounds_of(report: Report | Mapping[str, Any]) -> tuple[int, int]:
    """The project bound and agent bound a report says its sweep ran under, for a page made
    without the configuration (it may no longer load)."""
    data = report.to_dict() if isinstance(report, Report) else report
    mode = data.get("mode")
    if not isinstance(mode, Mapping):
        mode = {}
    most = _count(mode.get("max_parallel_projects"))
    bound = most if mode.get("project_parallelism") is True else 0
    return max(bound, 1), _count(data.get("max_parallel_agents"))


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def assign_lanes(spans: Sequence[tuple[datetime, datetime]]) -> list[int]:
    """Greedy interval partitioning: by start, each into the lowest lane free by then. It
    uses as many lanes as the most spans overlapping at once, which a sweep holds to its
    bound, since a project's slot is given up before the next one's start is taken."""
    lane_of = [0] * len(spans)
    ends: list[datetime] = []
    for i in sorted(range(len(spans)), key=lambda i: spans[i]):
        start, end = spans[i]
        lane = next((k for k, busy in enumerate(ends) if busy <= start), len(ends))
        if lane == len(ends):
            ends.append(end)
        ends[lane] = max(end, start)
        lane_of[i] = lane
    return lane_of


def _runs(data: Mapping[str, Any], sweep_end: datetime | None) -> list[_Run]:
    runs = []
    for project in data.get("projects") or []:
        if not isinstance(project, Mapping):
            continue
        tasks = []
        for task in project.get("tasks") or []:
            start = moment_of(task.get("started_at")) if isinstance(task, Mapping) else None
            if start is None:
                continue  # never started: skipped, nothing to draw
            end = moment_of(task.get("finished_at"))
            took = seconds_of(task.get("duration_s"))
            if end is None:
                end = start + timedelta(seconds=took) if took is not None else start
            tasks.append((task, start, max(start, end)))
        start = moment_of(project.get("started_at")) or min((t[1] for t in tasks), default=None)
        if start is None:
            continue
        end = moment_of(project.get("finished_at")) or max((t[2] for t in tasks), default=sweep_end)
        end = max(start, end or start, *(t[2] for t in tasks))
        runs.append(_Run(plain(project.get("name")), start, end, project.get("status"), tasks))
    return runs


def timeline(
    report: Report | Mapping[str, Any],
    zone: tzinfo | None,
    bound: int,
    agent_bound: int,
    depends_on: Mapping[str, Sequence[str]] | None = None,
) -> Timeline:
    """The sweep's night: a lane per slot of ``bound``, a bar per task that started.

    ``zone`` labels the axis (the schedule's; None: the offset the report's own times
    carry). ``depends_on`` (project name: the names it depends on, from the configuration)
    draws the waits; without it the chart has none.
    """
    data = report.to_dict() if isinstance(report, Report) else report
    sweep_start, sweep_end = moment_of(data.get("started_at")), moment_of(data.get("finished_at"))
    runs = _runs(data, sweep_end)
    moments = [m for r in runs for m in (r.start, r.end)]
    moments += [m for m in (sweep_start, sweep_end) if m is not None]
    t0 = min(moments, default=datetime.now(UTC))
    t1 = max(moments, default=t0)
    zone = zone or (sweep_start.tzinfo if sweep_start is not None else None) or UTC
    lane_of = assign_lanes([(r.start, r.end) for r in runs])
    bound = max(1, bound)
    count = max(bound, max(lane_of, default=-1) + 1)
    scale = Scale(t0, t1)
    lanes = [_lane(k, bound) for k in range(count)]
    spans, bars = _bars(runs, lane_of, scale)
    bottom = TOP + count * LANE_H
    agents = _agents(runs, agent_bound, scale, bottom + 6)
    axis_y = bottom + (AGENT_H + 10 if agents else 4)
    waits = _waits(runs, lane_of, scale, depends_on or {})
    zone_label = t0.astimezone(zone).tzname() or ""
    ticks = _ticks(t0, t1, zone, scale)
    tasks = sum(len(r.tasks) for r in runs)
    summary = (
        f"Timeline: {tasks} tasks of {len(runs)} projects on {count} lanes"
        f" (bound {bound}{f', {count - bound} over it' if count > bound else ''})"
        f", {_clock(t0, zone)} to {_clock(t1, zone)} {zone_label}".rstrip()
    )
    if agents:
        summary += f"; {agents.title}"
    return Timeline(
        width=WIDTH,
        height=r1(axis_y + AXIS_H),
        plot_x=GUTTER,
        plot_width=r1(scale.width),
        plot_end=r1(GUTTER + scale.width),
        label_x=GUTTER - 6,
        zone_x=GUTTER - 32,
        lanes_bottom=r1(bottom),
        lanes=lanes,
        spans=spans,
        bars=bars,
        by_lane=_by_lane(count, spans, bars),
        waits=waits,
        ticks=ticks,
        axis_y=r1(axis_y),
        tick_y=r1(axis_y + 4),
        tick_label_y=r1(axis_y + 15),
        agents=agents,
        bound=bound,
        over_bound=count - bound,
        zone_label=zone_label,
        summary=summary,
        legend=legend(
            {bar.css for bar in bars},
            bool(waits),
            agents is not None,
            agents is not None and agents.bound_y is not None,
            count > bound,
        ),
    )


def _lane(k: int, bound: int) -> Lane:
    y = TOP + k * LANE_H
    over = k >= bound
    title = f"slot {k + 1} of {bound}"
    if over:
        title = f"slot {k + 1}: more projects ran at once than the bound of {bound}"
        title += " (the sweep ran under another configuration)"
    label = f"slot {k + 1}" + (" !" if over else "")
    return Lane(k, r1(y), LANE_H, label, over, r1(y + LANE_H / 2 + 4), title)


class Scale:
    """Time to x across the plot; a sweep of no length still gets a width to draw in."""

    def __init__(self, t0: datetime, t1: datetime) -> None:
        self.t0 = t0
        self.width = WIDTH - GUTTER - RIGHT
        self.per_second = self.width / max((t1 - t0).total_seconds(), 1.0)

    def x(self, moment: datetime) -> float:
        return GUTTER + (moment - self.t0).total_seconds() * self.per_second

    def box(self, start: datetime, end: datetime) -> tuple[float, float]:
        """x and width, at least MIN_BAR wide and kept inside the plot."""
        width = max(MIN_BAR, (end - start).total_seconds() * self.per_second)
        x = min(self.x(start), GUTTER + self.width - width)
        return r1(x), r1(width)


def _bars(runs: list[_Run], lane_of: list[int], scale: Scale) -> tuple[list[Bar], list[Bar]]:
    spans, bars = [], []
    seen_in_lane: dict[int, int] = {}
    for run, lane in sorted(zip(runs, lane_of, strict=True), key=lambda p: p[0].start):
        alt = seen_in_lane.get(lane, 0) % 2 == 1
        seen_in_lane[lane] = seen_in_lane.get(lane, 0) + 1
        y = TOP + lane * LANE_H
        x, width = scale.box(run.start, run.end)
        took = duration_text((run.end - run.start).total_seconds())
        title = f"{run.name}: {plain(run.status)}, {took}"
        spans.append(
            Bar(x, r1(y + 1), width, LANE_H - 2, lane, status_class(run.status), title, alt)
        )
        for task, start, end in run.tasks:
            x, width = scale.box(start, end)
            seconds = seconds_of(task.get("duration_s"))
            seconds = seconds if seconds is not None else (end - start).total_seconds()
            title = f"{run.name} / {plain(task.get('name'))}: {plain(task.get('status'))}"
            title += f", {duration_text(seconds)}"
            top = r1(y + (LANE_H - BAR_H) / 2)
            bars.append(Bar(x, top, width, BAR_H, lane, status_class(task.get("status")), title))
    return spans, bars


def _by_lane(count: int, spans: list[Bar], bars: list[Bar]) -> list[LaneBars]:
    lanes = [
        LaneBars(r1(TOP + k * LANE_H + 1), r1(TOP + k * LANE_H + (LANE_H - BAR_H) / 2), [], [])
        for k in range(count)
    ]
    for span in spans:
        lanes[span.lane].spans.append(span)
    for bar in bars:
        lanes[bar.lane].bars.append(bar)
    return [lane for lane in lanes if lane.spans]


def _waits(
    runs: list[_Run], lane_of: list[int], scale: Scale, depends_on: Mapping[str, Sequence[str]]
) -> list[Wait]:
    where = {run.name: (run, lane) for run, lane in zip(runs, lane_of, strict=True)}
    waits = []
    for run, lane in zip(runs, lane_of, strict=True):
        deps = [where[d] for d in depends_on.get(run.name, ()) if d in where]
        if not deps:
            continue  # none of its dependencies ran in this sweep: it waited for nothing
        last, dep_lane = max(deps, key=lambda d: d[0].end)
        later = duration_text(max(0.0, (run.start - last.end).total_seconds()))
        middle = LANE_H / 2
        waits.append(
            Wait(
                r1(scale.x(last.end)),
                r1(TOP + dep_lane * LANE_H + middle),
                r1(scale.x(run.start)),
                r1(TOP + lane * LANE_H + middle),
                f"{run.name} waited for {last.name}; started {later} after it ended",
            )
        )
    return waits


def _agents(runs: list[_Run], agent_bound: int, scale: Scale, y: float) -> AgentRow | None:
    """Agent tasks at once over the night: shown when there is a bound or an agent ran."""
    events = [
        (moment, step)
        for run in runs
        for task, start, end in run.tasks
        if task.get("agent")
        for moment, step in ((start, 1), (end, -1))
    ]
    if not events and agent_bound <= 0:
        return None
    events.sort()  # at one moment an end (-1) comes before a start: no false peak
    top = max(agent_bound, 1, *_running(events))
    base = y + AGENT_H

    def level(n: int) -> float:
        return r1(base - n * (AGENT_H - 4) / top)

    points: list[Point] = [(GUTTER, base)]
    running = 0
    for moment, step in events:
        x = r1(scale.x(moment))
        points.append((x, level(running)))
        running += step
        points.append((x, level(running)))
    points.append((r1(GUTTER + scale.width), level(running)))
    peak = max(_running(events), default=0)
    bounded = f"bound {agent_bound}" if agent_bound > 0 else "no bound"
    title = f"agent tasks at once: peak {peak}, {bounded}"
    bound_y = level(agent_bound) if agent_bound > 0 else None
    label = f"agents ≤{agent_bound}" if agent_bound > 0 else "agents"
    return AgentRow(r1(y), AGENT_H, points, bound_y, label, r1(y + AGENT_H / 2 + 4), title)


def _running(events: Iterable[tuple[datetime, int]]) -> list[int]:
    out, running = [], 0
    for _, step in events:
        running += step
        out.append(running)
    return out


def _clock(moment: datetime, zone: tzinfo, seconds: bool = False) -> str:
    return moment.astimezone(zone).strftime("%H:%M:%S" if seconds else "%H:%M")


def _ticks(t0: datetime, t1: datetime, zone: tzinfo, scale: Scale) -> list[Tick]:
    """Ticks a whole number of steps after local midnight, then a step apart in real time:
    across a change to or from daylight-saving time the labels say the wall clock (01:45,
    03:00) while the spacing stays true to the time that passed."""
    span = (t1 - t0).total_seconds()
    step = next((s for s in STEPS if span / s <= MAX_TICKS), 86400 * math.ceil(span / 86400 / 8))
    local = t0.astimezone(zone)
    since_midnight = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    moment = t0 + timedelta(seconds=-since_midnight % step)
    ticks = []
    while moment <= t1:
        label = _clock(moment, zone, seconds=step < 60)
        ticks.append(Tick(r1(scale.x(moment)), label))
        moment += timedelta(seconds=step)
    return ticks
