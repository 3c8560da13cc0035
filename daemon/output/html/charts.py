"""The report page's charts as geometry: numbers and short strings, never markup.

The templates ``_timeline.svg.j2`` and ``_history.html.j2`` draw these values, so every
name that reaches an SVG ``<title>`` is escaped there, in one place. The timeline is built
from the report's JSON form (a Report is turned into it), since a page may be made later
from a report.json alone, read as hostile as any other file. The history grid is in
nightgrid.py, the time axis in timescale.py and the agent row in agentrow.py; the page
imports the charts from here, in one place.

Coordinates are SVG user units rounded to one decimal: the 300-project page carries a
thousand bars, and six digits each would be most of its weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from agentd.daemon.model.report import Report
from agentd.daemon.output.html.agentrow import AGENT_H, AgentRow, agent_row
from agentd.daemon.output.html.chartkit import (
    LegendItem,
    duration_text,
    legend,
    moment_of,
    number,
    plain,
    r1,
    status_class,
    word,
)
from agentd.daemon.output.html.nightgrid import HistoryView, history_view
from agentd.daemon.output.html.timescale import (
    GUTTER,
    MAX_TICKS,
    MIN_BAR,
    WIDTH,
    Scale,
    Tick,
    clock,
    ticks,
)

__all__ = [
    "AGENT_H",
    "MAX_TICKS",
    "MIN_BAR",
    "HistoryView",
    "Scale",
    "Timeline",
    "bounds_of",
    "history_view",
    "timeline",
]

TOP = 4
LANE_H = 24
BAR_H = 16
BAR_TOP = (LANE_H - BAR_H) // 2  # a bar's top within its lane
AXIS_H = 22
# The most a report.json may name as its bound: the configuration's own upper limit
# (``max_parallel_projects``, ``max_parallel_agents``). A hand-edited 10**7 must not ask
# the page for ten million lanes.
MAX_BOUND = 1024


@dataclass(frozen=True)
class Lane:
    index: int
    y: float
    height: float
    label: str
    over_bound: bool  # more projects overlapped than the bound allows: another config's run
    mid_y: float  # where its label's baseline centres
    title: str


class Bar(NamedTuple):
    """One task, or (a project's span) the run of a project behind its tasks."""

    x: float
    y: float
    width: float
    height: float
    lane: int
    css: str
    title: str
    alt: bool = False  # every other project in a lane, so neighbours stay apart


class Drawn(NamedTuple):
    """A bar as the template draws it, unpacked in its loop (a thousand of them): its lane
    group gives its y and height."""

    x: float
    width: float
    css: str  # a status class; a span's may end in " alt"
    title: str


@dataclass(frozen=True)
class LaneBars:
    """A lane's spans and bars, drawn in a group moved down to the lane, so a thousand
    rects need no y of their own (every span of a lane has one y, every bar another)."""

    span_y: float
    bar_y: float
    spans: list[Drawn]
    bars: list[Drawn]


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
    span_h: float
    bar_h: float
    waits: list[Wait]
    ticks: list[Tick]
    axis_y: float
    tick_y: float  # the bottom of a tick mark
    tick_label_y: float
    agents: AgentRow | None
    bound: int
    used: int  # lanes the projects took: the most that ran at once
    over_bound: int  # lanes beyond the bound
    # "bound 1024, 6 used" when fewer lanes are drawn than the bound has slots (no more
    # projects ran), so the bound stays in sight; else "".
    bound_note: str
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
    without the configuration (it may no longer load); at most MAX_BOUND each."""
    data = report.to_dict() if isinstance(report, Report) else report
    mode = data.get("mode")
    if not isinstance(mode, Mapping):
        mode = {}
    most = _count(mode.get("max_parallel_projects"))
    bound = most if mode.get("project_parallelism") is True else 0
    return max(bound, 1), _count(data.get("max_parallel_agents"))


def _count(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return min(value, MAX_BOUND)
    return 0


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
    projects = data.get("projects")
    for project in projects if isinstance(projects, list) else []:
        if not isinstance(project, Mapping):
            continue
        tasks = []
        listed = project.get("tasks")
        for task in listed if isinstance(listed, list) else []:
            start = moment_of(task.get("started_at")) if isinstance(task, Mapping) else None
            if start is None:
                continue  # never started: skipped, nothing to draw
            end = moment_of(task.get("finished_at"))
            took = number(task.get("duration_s"))
            if end is None:
                end = _after(start, took)
            tasks.append((task, start, max(start, end)))
        start = moment_of(project.get("started_at")) or min((t[1] for t in tasks), default=None)
        if start is None:
            continue
        end = moment_of(project.get("finished_at")) or max((t[2] for t in tasks), default=sweep_end)
        end = max(start, end or start, *(t[2] for t in tasks))
        runs.append(_Run(plain(project.get("name")), start, end, project.get("status"), tasks))
    return runs


def _after(start: datetime, seconds: float | None) -> datetime:
    """``seconds`` after ``start``; a duration past the calendar's end ends where it began."""
    try:
        return start + timedelta(seconds=seconds) if seconds is not None else start
    except OverflowError:
        return start


def timeline(
    report: Report | Mapping[str, Any],
    zone: tzinfo | None,
    bound: int,
    agent_bound: int,
    depends_on: Mapping[str, Sequence[str]] | None = None,
) -> Timeline:
    """The sweep's night: a lane per slot of ``bound`` up to the projects that ran (slots
    no project could have taken are named, not drawn), a bar per task that started, lanes
    over the bound where more projects overlapped. ``zone`` labels the axis (None: the
    offset of the report's times); ``depends_on`` (a project's dependencies, from the
    configuration) draws the waits."""
    data = report.to_dict() if isinstance(report, Report) else report
    sweep_start, sweep_end = moment_of(data.get("started_at")), moment_of(data.get("finished_at"))
    runs = _runs(data, sweep_end)
    t0, t1 = _span(runs, sweep_start, sweep_end)
    zone = zone or (sweep_start.tzinfo if sweep_start is not None else None) or UTC
    lane_of = assign_lanes([(r.start, r.end) for r in runs])
    bound, used = min(max(1, bound), MAX_BOUND), max(lane_of, default=-1) + 1
    count = max(used, min(bound, len(runs)), 1)
    scale = Scale(t0, t1)
    spans, bars = _bars(runs, lane_of, scale)
    bottom = TOP + count * LANE_H
    agents = agent_row((t for r in runs for t in r.tasks), agent_bound, scale, bottom + 6)
    axis_y = bottom + (AGENT_H + 10 if agents else 4)
    waits = _waits(runs, lane_of, scale, depends_on or {})
    zone_label = t0.astimezone(zone).tzname() or ""
    note = f"bound {bound}, {used} used" if count < bound else ""
    drawn = ({b.css for b in bars}, bool(waits), bool(agents), bool(agents) and agent_bound > 0)
    return Timeline(
        width=WIDTH,
        height=r1(axis_y + AXIS_H),
        plot_x=GUTTER,
        plot_width=r1(scale.width),
        plot_end=r1(GUTTER + scale.width),
        label_x=GUTTER - 6,
        zone_x=GUTTER - 32,
        lanes_bottom=r1(bottom),
        lanes=[_lane(k, bound) for k in range(count)],
        spans=spans,
        bars=bars,
        by_lane=_by_lane(count, spans, bars),
        span_h=LANE_H - 2,
        bar_h=BAR_H,
        waits=waits,
        ticks=ticks(t0, t1, zone, scale),
        axis_y=r1(axis_y),
        tick_y=r1(axis_y + 4),
        tick_label_y=r1(axis_y + 15),
        agents=agents,
        bound=bound,
        used=used,
        over_bound=max(0, count - bound),
        bound_note=note,
        zone_label=zone_label,
        summary=_summary(runs, count, bound, note, (t0, t1, zone, zone_label), agents),
        legend=legend(*drawn, count > bound),
    )


def _summary(
    runs: list[_Run],
    count: int,
    bound: int,
    note: str,
    axis: tuple[datetime, datetime, tzinfo, str],
    agents: AgentRow | None,
) -> str:
    """The chart in words, for its aria-label and its <title>."""
    t0, t1, zone, zone_label = axis
    over = f", {count - bound} over it" if count > bound else ""
    return (
        f"Timeline: {sum(len(r.tasks) for r in runs)} tasks of {len(runs)} projects on"
        f" {count} lanes ({note or f'bound {bound}'}{over}), {clock(t0, zone)} to"
        f" {clock(t1, zone)} {zone_label}".rstrip()
    ) + (f"; {agents.title}" if agents else "")


def _span(
    runs: list[_Run], sweep_start: datetime | None, sweep_end: datetime | None
) -> tuple[datetime, datetime]:
    """The night drawn: the sweep's start and end and every project's run within them."""
    moments = [m for r in runs for m in (r.start, r.end)]
    moments += [m for m in (sweep_start, sweep_end) if m is not None]
    t0 = min(moments, default=datetime.now(UTC))
    return t0, max(moments, default=t0)


def _lane(k: int, bound: int) -> Lane:
    y = TOP + k * LANE_H
    over = k >= bound
    title = f"slot {k + 1} of {bound}"
    if over:
        title = f"slot {k + 1}: more projects ran at once than the bound of {bound}"
        title += " (the sweep ran under another configuration)"
    label = f"slot {k + 1}" + (" !" if over else "")
    return Lane(k, r1(y), LANE_H, label, over, r1(y + LANE_H / 2 + 4), title)


def _bars(runs: list[_Run], lane_of: list[int], scale: Scale) -> tuple[list[Bar], list[Bar]]:
    spans, bars = [], []
    seen_in_lane: dict[int, int] = {}
    names: dict[object, str] = {}  # a night's tasks share a few names
    box = scale.box
    for run, lane in sorted(zip(runs, lane_of, strict=True), key=lambda p: p[0].start):
        alt = seen_in_lane.get(lane, 0) % 2 == 1
        seen_in_lane[lane] = seen_in_lane.get(lane, 0) + 1
        y = TOP + lane * LANE_H
        x, width = box(run.start, run.end)
        took = duration_text((run.end - run.start).total_seconds())
        title = f"{run.name}: {word(run.status)}, {took}"
        spans.append(Bar(x, y + 1, width, LANE_H - 2, lane, status_class(run.status), title, alt))
        top = y + BAR_TOP
        for task, start, end in run.tasks:
            x, width = box(start, end)
            seconds = number(task.get("duration_s"))
            seconds = seconds if seconds is not None else (end - start).total_seconds()
            name = task.get("name")
            shown = names.get(name) if type(name) is str else None
            if shown is None:
                shown = plain(name)
                if type(name) is str:
                    names[name] = shown
            status = task.get("status")
            title = f"{run.name} / {shown}: {word(status)}, {duration_text(seconds)}"
            bars.append(Bar(x, top, width, BAR_H, lane, status_class(status), title))
    return spans, bars


def _by_lane(count: int, spans: list[Bar], bars: list[Bar]) -> list[LaneBars]:
    lanes = [
        LaneBars(TOP + k * LANE_H + 1, TOP + k * LANE_H + BAR_TOP, [], []) for k in range(count)
    ]
    for s in spans:
        lanes[s.lane].spans.append(Drawn(s.x, s.width, s.css + (" alt" if s.alt else ""), s.title))
    for b in bars:
        lanes[b.lane].bars.append(Drawn(b.x, b.width, b.css, b.title))
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
