"""The report page's charts: the timeline's lanes, bars, waits, agent row and axis, the
history grid and its sparklines, as geometry; and their partials rendered by Jinja2, where
a hostile project name must stay text."""

from __future__ import annotations

import heapq
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest

from agentd.daemon.model.history import History, Night, NightCell, ProjectHistory
from agentd.daemon.model.report import Mode, Report
from agentd.daemon.model.results import Counts, ProjectResult, TaskResult
from agentd.daemon.model.status import ProjectStatus, SweepStatus, TaskStatus
from agentd.daemon.output.html import charts, nightgrid
from agentd.daemon.output.html.charts import AGENT_H, LANE_H, MIN_BAR, TOP, timeline
from agentd.daemon.output.html.nightgrid import SPARK_H, SPARK_W, history_view, sparkline

TEMPLATES = Path(charts.__file__).parent / "templates"
START = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
EVIL = "<img src=x onerror=alert(1)>"

# A project as a test states it: (name, start offset s, [(task, status, seconds, agent)]).
Spec = tuple[str, float, list[tuple[str, str, float, str | None]]]


def iso(offset: float, start: datetime = START) -> str:
    return (start + timedelta(seconds=offset)).isoformat(timespec="milliseconds")


def report(projects: list[Spec], start: datetime = START, end: float | None = None) -> dict:
    """report.json's shape: tasks serial within their project, from its start on."""
    out = []
    last = 0.0
    for name, offset, tasks in projects:
        at, rows = offset, []
        for task, status, seconds, agent in tasks:
            rows.append(
                {
                    "name": task,
                    "status": status,
                    "started_at": iso(at, start),
                    "finished_at": iso(at + seconds, start),
                    "duration_s": seconds,
                    "agent": agent,
                }
            )
            at += seconds
        last = max(last, at)
        status = "failed" if any(t[1] != "ok" for t in tasks) else "ok"
        out.append(
            {
                "name": name,
                "status": status,
                "started_at": iso(offset, start),
                "finished_at": iso(at, start),
                "tasks": rows,
            }
        )
    finish = last if end is None else end
    return {"started_at": iso(0, start), "finished_at": iso(finish, start), "projects": out}


def scheduled(durations: list[list[float]], bound: int) -> list[Spec]:
    """Projects run as the executor runs them: each as soon as one of ``bound`` slots is
    free, so the next start is exactly the previous finish of that slot."""
    free = [0.0] * bound
    specs: list[Spec] = []
    for i, tasks in enumerate(durations):
        start = heapq.heappop(free)
        specs.append((f"p{i:03d}", start, [(f"t{k}", "ok", s, None) for k, s in enumerate(tasks)]))
        heapq.heappush(free, start + sum(tasks))
    return specs


def lane_of(tl: charts.Timeline, project: str) -> int:
    return next(s.lane for s in tl.spans if s.title.startswith(f"{project}:"))


@pytest.mark.parametrize(
    ("spans", "lanes"),
    [
        ([(0, 10), (10, 20), (20, 30)], [0, 0, 0]),  # serial, touching: one lane
        ([(0, 10), (5, 15)], [0, 1]),  # overlapping: two
        ([(0, 10), (5, 15), (10, 20)], [0, 1, 0]),  # the first lane free again at 10
        ([(0, 30), (1, 2), (3, 4), (5, 40)], [0, 1, 1, 1]),
        ([(5, 15), (0, 10)], [1, 0]),  # in start order, whatever the input order
    ],
)
def test_lanes_by_greedy_interval_partitioning(spans: list[tuple[int, int]], lanes: list[int]):
    moments = [(START + timedelta(seconds=a), START + timedelta(seconds=b)) for a, b in spans]
    assert charts.assign_lanes(moments) == lanes


@pytest.mark.parametrize("bound", [1, 2, 3, 8])
def test_a_sweep_within_its_bound_has_one_lane_per_slot(bound: int):
    durations = [[(i * 7) % 11 + 1, (i * 3) % 5 + 1] for i in range(25)]
    tl = timeline(report(scheduled(durations, bound)), UTC, bound, 0)
    assert len(tl.lanes) == bound
    assert tl.over_bound == 0
    assert not any(lane.over_bound for lane in tl.lanes)
    assert {b.lane for b in tl.bars} == set(range(bound))
    assert len(tl.bars) == 50


def test_a_serial_sweep_is_one_lane():
    tl = timeline(report(scheduled([[5, 5], [3], [8, 1, 1]], 1)), UTC, 1, 0)
    assert [lane.label for lane in tl.lanes] == ["slot 1"]
    assert {b.lane for b in tl.bars} == {0}


def test_overlapping_projects_get_different_lanes_and_idle_slots_still_show():
    specs: list[Spec] = [
        ("a", 0, [("x", "ok", 60, None)]),
        ("b", 30, [("y", "ok", 60, None)]),
        ("c", 200, [("z", "ok", 10, None)]),
    ]
    tl = timeline(report(specs), UTC, 4, 0)
    assert lane_of(tl, "a") != lane_of(tl, "b")
    # A slot the third project could have taken is part of the picture; the fourth, which
    # no project of this sweep could take, is not drawn: the bound is named instead.
    assert (len(tl.lanes), tl.used, tl.bound) == (3, 2, 4)
    assert tl.bound_note == "bound 4, 2 used"
    assert "bound 4, 2 used" in tl.summary
    assert [lane.title for lane in tl.lanes][-1] == "slot 3 of 4"
    assert "bound 4, 2 used" in parsed(render("_timeline.svg.j2", timeline=tl)).text


@pytest.mark.parametrize("bound", [1024, 10**7])
def test_a_bound_far_over_the_projects_draws_a_lane_per_project_that_could_run(bound: int):
    """A hand-edited report.json naming ten million slots (or the configuration's most,
    1024, for 6 projects) is drawn with the lanes its projects could take, and its bound
    named as a number, at most the configuration's own limit."""
    specs: list[Spec] = [(f"p{i}", 100 * i, [("x", "ok", 30, None)]) for i in range(6)]
    data = {**report(specs), "mode": {"project_parallelism": True, "max_parallel_projects": bound}}
    assert charts.bounds_of(data)[0] == min(bound, charts.MAX_BOUND)
    tl = timeline(data, UTC, *charts.bounds_of(data))
    assert len(tl.lanes) == 6
    assert tl.bound_note == "bound 1024, 1 used"
    svg = render("_timeline.svg.j2", timeline=tl)
    assert "bound 1024, 1 used" in parsed(svg).text
    assert len(svg) < 20_000
    assert len(timeline(data, UTC, bound, bound).lanes) == 6  # whoever passes the bound


def test_the_most_bound_is_the_configurations():
    """MAX_BOUND is the limit the configuration's schema holds the bounds to."""
    from agentd.config.model import RunSection

    for field in ("max_parallel_projects", "max_parallel_agents"):
        RunSection.model_validate({field: charts.MAX_BOUND})
        with pytest.raises(ValueError, match="1024"):
            RunSection.model_validate({field: charts.MAX_BOUND + 1})


def test_more_overlap_than_the_bound_adds_lanes_marked_as_over_it():
    specs: list[Spec] = [(f"p{i}", i, [("x", "ok", 100, None)]) for i in range(3)]
    tl = timeline(report(specs), UTC, 2, 0)
    assert [lane.over_bound for lane in tl.lanes] == [False, False, True]
    assert tl.over_bound == 1
    assert "1 over it" in tl.summary
    assert "bound of 2" in tl.lanes[2].title


def test_bars_are_placed_and_sized_in_proportion_to_time():
    tl = timeline(
        report([("api", 60, [("lint", "ok", 60, None), ("test", "failed", 120, None)])], end=300),
        UTC,
        1,
        0,
    )
    lint, test = tl.bars
    per_second = tl.plot_width / 300
    assert lint.x == pytest.approx(tl.plot_x + 60 * per_second, abs=0.1)
    assert test.x == pytest.approx(tl.plot_x + 120 * per_second, abs=0.1)
    assert lint.width == pytest.approx(60 * per_second, abs=0.1)
    assert test.width == pytest.approx(2 * lint.width, abs=0.2)
    assert (lint.css, test.css) == ("st-ok", "st-failed")
    assert test.title == "api / test: failed, 2m"
    assert lint.y == test.y
    assert lint.y >= TOP
    assert lint.y + lint.height <= TOP + LANE_H


def test_a_short_task_in_a_long_night_stays_visible():
    tl = timeline(report([("api", 0, [("ping", "ok", 0.01, None)])], end=8 * 3600), UTC, 1, 0)
    assert tl.bars[0].width == MIN_BAR
    assert tl.bars[0].title == "api / ping: ok, 0.0s"


def test_numbers_are_rounded_to_one_decimal():
    tl = timeline(report(scheduled([[1 / 3, 2 / 7]] * 5, 2), end=7.77), UTC, 2, 0)
    numbers = [n for b in tl.bars + tl.spans for n in (b.x, b.y, b.width)] + [t.x for t in tl.ticks]
    assert all(round(n, 1) == n for n in numbers)


@pytest.mark.parametrize(
    ("zone", "start", "hours", "labels"),
    [
        # A night in New York, its report written in UTC: labelled in the schedule's zone.
        ("America/New_York", datetime(2024, 5, 2, 3, 0, tzinfo=UTC), 2, ["23:00", "23:15"]),
        ("Asia/Kolkata", datetime(2024, 5, 1, 20, 0, tzinfo=UTC), 1, ["01:30", "01:40"]),
        # Spring forward in Berlin (02:00 CET is 03:00 CEST): the labels jump, not the spacing.
        ("Europe/Berlin", datetime(2024, 3, 30, 23, 30, tzinfo=UTC), 3, ["00:30", "01:00"]),
    ],
)
def test_axis_ticks_are_labelled_in_the_schedule_zone(
    zone: str, start: datetime, hours: float, labels: list[str]
):
    seconds = hours * 3600
    tl = timeline(
        report([("a", 0, [("x", "ok", seconds, None)])], start=start), ZoneInfo(zone), 1, 0
    )
    got = [t.label for t in tl.ticks]
    assert got[:2] == labels
    gaps = {round(b.x - a.x, 1) for a, b in zip(tl.ticks, tl.ticks[1:], strict=False)}
    assert max(gaps) - min(gaps) <= 0.2  # evenly spaced in time that passed
    assert 2 <= len(tl.ticks) <= charts.MAX_TICKS + 1
    assert all(tl.plot_x <= t.x <= tl.plot_end for t in tl.ticks)
    assert tl.zone_label == start.astimezone(ZoneInfo(zone)).tzname()


def test_ticks_across_a_daylight_saving_change_say_the_wall_clock():
    start = datetime(2024, 3, 30, 23, 30, tzinfo=UTC)  # 00:30 CET, then three hours
    tl = timeline(
        report([("a", 0, [("x", "ok", 3 * 3600, None)])], start=start),
        ZoneInfo("Europe/Berlin"),
        1,
        0,
    )
    got = [t.label for t in tl.ticks]
    assert got == ["00:30", "01:00", "01:30", "03:00", "03:30", "04:00", "04:30"]


def test_short_sweeps_tick_in_seconds():
    tl = timeline(report([("a", 0, [("x", "ok", 40, None)])]), ZoneInfo("Europe/Paris"), 1, 0)
    assert [t.label for t in tl.ticks][:2] == ["03:00:00", "03:00:05"]


def test_dependency_waits_run_from_the_last_dependency_to_the_start():
    specs: list[Spec] = [
        ("db", 0, [("x", "ok", 100, None)]),
        ("cache", 0, [("x", "ok", 40, None)]),
        ("api", 130, [("x", "ok", 50, None)]),
        ("docs", 0, [("x", "ok", 10, None)]),
    ]
    data = report(specs)
    deps = {"api": ["cache", "db", "gone"], "docs": ["not-in-this-sweep"]}
    tl = timeline(data, UTC, 3, 0, deps)
    (wait,) = tl.waits
    scale = charts.Scale(START, START + timedelta(seconds=180))
    assert wait.x1 == pytest.approx(scale.x(START + timedelta(seconds=100)), abs=0.1)
    assert wait.x2 == pytest.approx(scale.x(START + timedelta(seconds=130)), abs=0.1)
    assert wait.y1 == TOP + lane_of(tl, "db") * LANE_H + LANE_H / 2
    assert wait.y2 == TOP + lane_of(tl, "api") * LANE_H + LANE_H / 2
    assert wait.title == "api waited for db; started 30s after it ended"
    assert timeline(data, UTC, 3, 0).waits == []  # no configuration: no waits claimed


def test_the_agent_row_shows_agents_at_once_under_the_agent_bound():
    specs: list[Spec] = [
        ("a", 0, [("fix", "ok", 100, "claude")]),
        ("b", 10, [("fix", "ok", 50, "codex"), ("lint", "ok", 100, None)]),
        ("c", 70, [("fix", "ok", 10, "claude")]),
    ]
    tl = timeline(report(specs), UTC, 3, 4)
    row = tl.agents
    assert row is not None
    assert row.title == "agent tasks at once: peak 2, bound 4"
    base = row.y + AGENT_H
    step = (AGENT_H - 4) / 4
    assert row.bound_y == pytest.approx(base - 4 * step, abs=0.1)
    assert min(y for _, y in row.points) == pytest.approx(base - 2 * step, abs=0.1)
    assert row.points[-1][1] == pytest.approx(base, abs=0.1)  # none left running
    assert tl.axis_y > row.y + row.height
    assert "peak 2, bound 4" in tl.summary


def test_the_agent_row_only_when_there_is_a_bound_or_an_agent():
    plain = report([("a", 0, [("x", "ok", 10, None)])])
    assert timeline(plain, UTC, 1, 0).agents is None
    bounded = timeline(plain, UTC, 1, 2).agents
    assert bounded is not None
    assert bounded.title == "agent tasks at once: peak 0, bound 2"
    agent = report([("a", 0, [("x", "ok", 10, "claude")])])
    unbounded = timeline(agent, UTC, 1, 0).agents
    assert unbounded is not None
    assert unbounded.bound_y is None
    assert "no bound" in unbounded.title


def test_300_projects_of_3_tasks_stay_in_the_bound_lanes():
    durations = [[(i * 13) % 97 + 5, (i * 7) % 41 + 1, (i * 5) % 300 + 30] for i in range(300)]
    tl = timeline(report(scheduled(durations, 8)), ZoneInfo("Europe/Berlin"), 8, 4)
    assert len(tl.lanes) == 8
    assert len(tl.bars) == 900
    assert all(b.y >= TOP and b.y + b.height <= TOP + 8 * LANE_H for b in tl.bars)
    assert all(tl.plot_x <= b.x and b.x + b.width <= tl.plot_end + 0.1 for b in tl.bars)
    svg = render("_timeline.svg.j2", timeline=tl)
    assert len(svg.encode()) < 250_000, len(svg.encode())
    assert tl.height < 300  # lanes, not 300 rows


def test_a_report_object_draws_as_its_json_does():
    task = TaskResult("lint", TaskStatus.OK, 0, "", iso(5), iso(65), 60.0)
    project = ProjectResult("api", ProjectStatus.OK, "", iso(0), iso(70), [task])
    sweep = Report(
        "r1", "manual", "2024-05-01", iso(0), iso(80), 80.0, SweepStatus.OK, Mode(True, 2),
        None, None, [project], [], Counts(), None, False, "c.toml", "host", 1, "0",
    )  # fmt: skip
    assert timeline(sweep, UTC, 2, 0) == timeline(sweep.to_dict(), UTC, 2, 0)
    assert charts.bounds_of(sweep) == (2, 0)


@pytest.mark.parametrize(
    ("data", "bounds"),
    [
        ({"mode": {"project_parallelism": True, "max_parallel_projects": 6}}, (6, 0)),
        ({"mode": {"project_parallelism": False, "max_parallel_projects": 6}}, (1, 0)),
        ({"mode": "junk", "max_parallel_agents": 3}, (1, 3)),
        ({"max_parallel_agents": True}, (1, 0)),
    ],
)
def test_bounds_of_a_report(data: dict[str, Any], bounds: tuple[int, int]):
    assert charts.bounds_of(data) == bounds


def test_a_hostile_report_json_draws_what_parses():
    data: dict[str, Any] = report([("ok", 0, [("x", "ok", 10, None)])])
    data["projects"] += [
        "junk",
        {"name": "bad", "started_at": "yesterday", "tasks": [{"started_at": 5}]},
        {"name": "old", "started_at": "0001-01-01T00:00:00+14:00", "tasks": "xyz"},
        {"name": "half", "tasks": [{"name": "t", "started_at": iso(2), "duration_s": "big"}]},
    ]
    tl = timeline(data, ZoneInfo("Asia/Tokyo"), 1, 0)
    assert [b.title.split(":")[0] for b in tl.bars] == ["ok / x", "half / t"]
    empty = timeline({"projects": None}, None, 2, 0)
    assert (empty.bars, len(empty.lanes), empty.bound_note) == ([], 1, "bound 2, 0 used")
    assert "no task ran" in render("_timeline.svg.j2", timeline=empty)


# ---- history ----------------------------------------------------------------------------


def night(day: int, sweeps: int = 1, gap: str | None = None, **kw: Any) -> Night:
    fields = {"status": "ok", "wall_s": 600.0, "spend_usd": 1.0} if sweeps else {}
    fields.update(kw)
    return Night(
        f"2024-05-{day:02d}",
        sweeps,
        fields.get("status"),
        fields.get("wall_s"),
        fields.get("spend_usd"),
        gap,
    )


def cell(status: str | None, seconds: float | None = None, spend: float | None = None) -> NightCell:
    return NightCell(status, seconds, spend)


def sample_history(name: str = "api") -> History:
    nights = [
        night(1, wall_s=300.0, spend_usd=2.0),
        night(2, 0, "missed"),
        night(3, 0, "skipped: the daemon was paused"),
        night(4, 0, "none due"),
        night(5, 2, status="failed", wall_s=600.0, spend_usd=0.5),
        night(6, 0, None),
    ]
    empty = cell(None)
    return History(
        nights,
        [
            ProjectHistory(
                name, [cell("ok", 60, 0.4), empty, empty, empty, cell("failed", 90, None), empty]
            ),
            ProjectHistory("docs", [empty, empty, empty, empty, cell("ok", 5), empty]),
        ],
    )


def test_the_grid_is_aligned_and_says_which_kind_of_gap():
    view = history_view(sample_history())
    assert [n.date for n in view.nights] == [f"2024-05-{d:02d}" for d in range(1, 7)]
    assert all(len(row.cells) == len(view.nights) for row in view.rows)
    api, docs = view.rows
    gaps = ["gap gap-missed", "gap gap-skipped", "gap gap-none-due"]
    assert [c.css for c in api.cells] == ["st-ok", *gaps, "st-failed", "gap gap-none"]
    assert docs.cells[0].css == "st-none"
    # A title only for what the column (the date) and the mark do not say: the kind of
    # gap, a night it did not run. Durations and spend are the row's sparklines' titles.
    assert docs.cells[0].title == "did not run"
    assert (api.cells[0].title, api.cells[4].title) == ("", "")
    assert api.cells[1].title == "missed"
    assert api.cells[2].title == "skipped: the daemon was paused"
    assert (api.cells[0].mark, api.cells[4].mark) == ("✓", "✗")
    assert [n.css for n in view.nights][:3] == ["st-ok", "gap gap-missed", "gap gap-skipped"]
    assert view.nights[4].title == "2024-05-05: 2 sweeps, failed, wall time 10m, spend $0.50"
    assert view.nights[0].label == "Wed 01"
    assert (
        view.summary
        == "History: 2 projects over 6 nights, 2024-05-01 to 2024-05-06, 4 without a sweep"
    )


def test_a_row_shorter_than_the_nights_keeps_the_columns():
    history = History([night(1), night(2)], [ProjectHistory("a", [cell("ok", 1)])])
    (row,) = history_view(history).rows
    assert [c.css for c in row.cells] == ["st-ok", "st-none"]


def test_the_nights_bars_scale_to_the_longest_and_dearest_night():
    view = history_view(sample_history())
    walls = [n.wall.height for n in view.nights]
    assert walls[4] == nightgrid.NIGHT_BAR_H
    assert walls[0] == nightgrid.NIGHT_BAR_H / 2
    assert walls[1] == 0.0
    assert view.nights[0].spend.height == nightgrid.NIGHT_BAR_H
    assert all(n.wall.y + n.wall.height == nightgrid.NIGHT_BAR_H for n in view.nights)


@pytest.mark.parametrize(
    ("values", "path", "last", "value"),
    [
        # In whole pixels of an 80 x 18 box, 2 from its edges: x 2, 27, 53, 78; y 16 is
        # zero and 2 the row's largest value. A night without a value is passed over: the
        # line runs on to the next (a week of gaps drew as dashes when it broke there).
        ([10.0, 20.0, None, 5.0], "M2 9 27 2 78 12", (78, 12), "5.0s"),
        ([7.0], "", (SPARK_W // 2, 2), "7.0s"),  # one value: its dot, at the top of its scale
        ([None, None], "", None, ""),
        ([0.0, 0.0], f"M2 {SPARK_H - 2} 78 {SPARK_H - 2}", (78, SPARK_H - 2), "0.0s"),
        ([1, 2, None, 3, 4], "M2 12 21 9 59 6 78 2", (78, 2), "4.0s"),
        ([60, None, None], "", (2, 2), "1m"),  # the last value, not the last night's
    ],
)
def test_sparklines_scale_from_zero_run_over_missing_nights_and_end_in_a_dot(
    values: list[float | None], path: str, last: tuple[int, int] | None, value: str
):
    spark = sparkline(values, "duration")
    assert (spark.path, spark.last, spark.value) == (path, last, value)


def test_sparklines_begin_on_the_first_night_with_a_figure():
    """A new install's week of nights over the whole width, at the same x in every row."""
    nights = [night(1, 0, "none due"), night(2, 0, "none due"), night(3), night(4)]
    rows = [
        ProjectHistory("a", [cell(None), cell(None), cell("ok", 5), cell("ok", 10)]),
        ProjectHistory("b", [cell(None), cell(None), cell(None), cell("ok", 10)]),
    ]
    a, b = history_view(History(nights, rows)).rows
    assert a.duration.path == "M2 9 78 2"
    assert a.duration.title == "duration: 5.0s 10s"
    assert b.duration.path == ""  # its one value, a dot at the last night's x
    assert b.duration.last == (78, 2)


def history_of(rows: dict[str, list[str | None]]) -> History:
    nights = [night(d) for d in range(1, len(next(iter(rows.values()))) + 1)]
    return History(
        nights, [ProjectHistory(name, [cell(s, 10) for s in line]) for name, line in rows.items()]
    )


# A project for each group, listed in no helpful order; the last night decides first.
GROUPS = {
    "calm": ["ok", "ok", "ok"],
    "flaky": ["failed", "ok", "ok"],
    "mending": ["failed", "failed", "ok"],
    "stuck": ["failed", "failed", "failed"],
    "paused": ["ok", "ok", "skipped"],
    "slipping": ["ok", "ok", "failed"],
    "new-quiet": [None, None, "ok"],
}


def test_rows_that_need_someone_come_first():
    view = history_view(history_of(GROUPS))
    assert not view.folds  # few projects: every row open
    assert [r.name for r in view.rows] == [
        "slipping",  # newly failing
        "stuck",  # not ok last night
        "paused",
        "mending",  # recovered
        "flaky",  # ok last night, not every night before
        "calm",  # ok every night it ran
        "new-quiet",
    ]
    changes = {r.name: r.change for r in view.rows if r.change}
    assert changes == {"slipping": "new", "mending": "recovered"}


def test_on_a_night_of_many_projects_those_ok_last_night_are_folded_and_counted():
    many = {**GROUPS, **{f"steady-{i:02d}": ["ok", "ok", "ok"] for i in range(30)}}
    view = history_view(history_of(many))
    assert [r.name for r in view.rows] == ["slipping", "stuck", "paused", "mending"]
    assert [(f.summary, len(f.rows)) for f in view.folds] == [
        ("1 project ok last night, not every night before", 1),
        ("32 projects ok every night they ran", 32),
    ]
    assert sorted(r.name for r in view.all_rows) == sorted(many)
    page = render("_history.html.j2", history_view=view)
    tags = parsed(page)
    assert tags.tags.count("details") == 2
    assert tags.tags.count("table") == 3  # the open grid and one per fold, same columns
    assert "open" not in page.split("<details", 1)[1].split(">", 1)[0]
    assert all(f.summary in tags.text for f in view.folds)
    # Every project once, as a row of its own.
    assert tags.tags.count("tr") - 1 - 2 - 2 * 1 == len(many)  # heads: 1+2 open, 1 a fold


def test_a_calm_night_of_many_says_so_above_its_folds():
    view = history_view(history_of({f"steady-{i:02d}": ["ok", "ok"] for i in range(30)}))
    assert (view.rows, len(view.folds)) == ([], 1)
    assert view.calm in render("_history.html.j2", history_view=view)


def test_a_sparkline_title_says_every_nights_value():
    assert sparkline([60, 120, None], "duration").title == "duration: 1m 2m –"
    assert sparkline([None], "spend", nightgrid.money).title == "spend: none"


# ---- the partials -----------------------------------------------------------------------


def render(name: str, autoescape: bool = True, **values: Any) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(name).render(**values)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [value or "" for _, value in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(markup: str) -> Tags:
    parser = Tags()
    parser.feed(markup)
    parser.close()
    return parser


@pytest.mark.parametrize("autoescape", [True, False])
def test_a_hostile_project_name_stays_text_in_the_timeline(autoescape: bool):
    specs: list[Spec] = [
        (EVIL, 0, [("</title><script>alert(1)</script>", "ok", 30, "claude")]),
        ("b", 30, [("x", "failed", 30, None)]),
    ]
    tl = timeline(report(specs), ZoneInfo("Europe/Berlin"), 2, 2, {"b": [EVIL]})
    page = parsed(render("_timeline.svg.j2", autoescape, timeline=tl))
    assert "img" not in page.tags
    assert "script" not in page.tags
    text = "".join(page.text)
    assert f"{EVIL} / </title><script>alert(1)</script>: ok, 30s" in text
    assert f"b waited for {EVIL}" in text
    assert page.tags.count("rect") >= len(tl.bars) + len(tl.spans) + len(tl.lanes)
    assert "svg" in page.tags
    assert tl.summary in page.attrs


@pytest.mark.parametrize("autoescape", [True, False])
def test_a_hostile_project_name_stays_text_in_the_history(autoescape: bool):
    view = history_view(sample_history(EVIL))
    page = parsed(render("_history.html.j2", autoescape, history_view=view))
    assert "img" not in page.tags
    assert EVIL in page.text
    assert EVIL in page.attrs
    assert page.tags.count("td") >= 2 * 6
    # Two sparklines a row but docs' spend (it has none), two bars a night.
    assert page.tags.count("svg") == 2 * 2 - 1 + 2 * 6
    assert page.tags.count("circle") == 3  # each sparkline's last value


def test_without_spend_the_grid_has_no_spend_column():
    nights = [night(1, spend_usd=None), night(2, 0, "missed")]
    rows = [ProjectHistory("api", [cell("ok", 60), cell(None)])]
    view = history_view(History(nights, rows))
    assert not view.spend
    page = parsed(render("_history.html.j2", history_view=view))
    assert "spend" not in " ".join(page.text)
    assert page.tags.count("svg") == 1 + 2  # the duration sparkline, a wall time bar a night
    assert history_view(sample_history()).spend


def test_a_project_name_is_a_title_only_where_it_may_be_cut():
    names = ["api", "a-project-name-far-too-long-for-its-column"]
    rows = [ProjectHistory(name, [cell("ok", 60)]) for name in names]
    page = parsed(render("_history.html.j2", history_view=history_view(History([night(1)], rows))))
    assert names[1] in page.attrs
    assert names[0] not in page.attrs


def test_the_legend_names_what_the_chart_draws():
    specs: list[Spec] = [
        ("db", 0, [("migrate", "ok", 30, None)]),
        ("api", 40, [("test", "failed", 20, None), ("fix", "timeout", 10, "claude")]),
    ]
    tl = timeline(report(specs), UTC, 2, 1, {"api": ["db"]})
    labels = [item.label for item in tl.legend]
    assert labels[:3] == ["task ok", "task failed", "task timeout"]
    assert "waiting for a dependency" in labels
    assert labels[-2:] == ["agent tasks at once", "agent-slot bound"]
    page = parsed(render("_timeline.svg.j2", timeline=tl))
    assert all(label in page.text for label in labels)
    calm = timeline(report(scheduled([[5]], 1)), UTC, 1, 0)
    assert [(i.kind, i.label) for i in calm.legend] == [
        ("bar", "task ok"),
        ("span", "a project's run (pale, in its status's colour)"),
    ]


def test_the_partials_say_what_they_show():
    tl = timeline(report(scheduled([[5, 5]] * 4, 2)), UTC, 2, 0)
    svg = parsed(render("_timeline.svg.j2", timeline=tl))
    assert svg.tags.count("title") == 1 + len(tl.lanes) + len(tl.spans) + len(tl.bars)
    assert "img" in svg.attrs  # role="img", with the summary as aria-label
    labels = [t.label for t in tl.ticks]
    assert all(label in svg.text for label in labels)


def test_an_agent_task_ending_as_the_next_starts_is_not_two_at_once():
    tl = timeline(report(scheduled([[30], [30], [30]], 1)), UTC, 1, 1)
    # Listed latest first, so the report's order alone would put a start before an end.
    serial = report([(f"p{i}", 30 * i, [("fix", "ok", 30, "claude")]) for i in (2, 1, 0)])
    row = timeline(serial, UTC, 1, 1).agents
    assert row is not None
    assert row.title == "agent tasks at once: peak 1, bound 1"
    assert tl.agents is not None
    assert tl.agents.title == "agent tasks at once: peak 0, bound 1"
