"""The nights compared, as tables: run summaries as the store keeps them in, the grid,
the gaps and the changes out. Pure: no store, no clock."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agentd.config.cron import parse_cron
from agentd.daemon.model.history import Changes, History, build_history, changes
from agentd.state import Snapshot

BERLIN = ZoneInfo("Europe/Berlin")
DAILY = (parse_cron("30 2 * * *"), BERLIN)
WEEKDAYS = (parse_cron("30 2 * * 1-5"), BERLIN)
COUNTS = {"tasks_ok": 1, "tasks_failed": 0, "tasks_interrupted": 0}
NOOP = {"tasks_ok": 0, "tasks_failed": 0, "tasks_interrupted": 0}


Cells = dict[str, tuple[str, float | None, float | None]]


def _run(
    date: str,
    seq: int,
    projects: Cells | None,
    status: str = "ok",
    counts: dict[str, int] | None = None,
    wall: float | None = 10.0,
) -> dict[str, Any]:
    """A run summary as record_run stores it; ``projects`` None: one stored before the
    history of nights (no per-project part, no wall time)."""
    run: dict[str, Any] = {
        "run_id": f"{date.replace('-', '')}T0{seq}3000Z-abcd",
        "trigger": "schedule",
        "date": date,
        "started_at": f"{date}T02:30:00+01:00",
        "finished_at": f"{date}T02:31:00+01:00",
        "status": status,
        "counts": counts or COUNTS,
        "mode": {"project_parallelism": True, "max_parallel_projects": 4},
    }
    if projects is not None:
        run["duration_s"] = wall
        run["spend_usd"] = None
        run["projects"] = {
            name: {"status": s, "duration_s": d, "spend_usd": c}
            for name, (s, d, c) in projects.items()
        }
    return run


def _snap(runs: list[dict[str, Any]], skipped: list[dict[str, Any]] | None = None) -> Snapshot:
    return Snapshot({"runs": runs, "fires": {"skipped": skipped or []}})


def _statuses(history: History) -> dict[str, list[str | None]]:
    return {p.name: [c.status for c in p.nights] for p in history.projects}


def test_nights_are_consecutive_dates_ending_with_the_end_date() -> None:
    history = build_history(_snap([]), None, "2026-03-02", nights=4, schedule=DAILY)
    assert [n.date for n in history.nights] == [
        "2026-02-27",
        "2026-02-28",
        "2026-03-01",
        "2026-03-02",
    ]
    assert history.projects == []
    assert history.to_dict()["nights"][-1] == "2026-03-02"


def test_several_sweeps_in_a_night_last_run_wins_and_time_and_spend_add_up() -> None:
    runs = [
        _run("2026-03-01", 1, {"a": ("failed", 5.0, 0.25), "b": ("ok", 2.0, None)}),
        # A manual sweep later that night: a fixed, b only skipped (done today).
        _run("2026-03-01", 2, {"a": ("ok", 3.0, 0.5), "b": ("skipped", None, None)}),
        _run("2026-03-02", 1, {"b": ("skipped", None, None)}),
    ]
    history = build_history(_snap(runs), None, "2026-03-02", nights=2, schedule=DAILY)
    a, b = history.projects
    assert (a.name, b.name) == ("a", "b")  # without a configuration: by name
    assert a.nights[0].status == "ok"
    assert (a.nights[0].duration_s, a.nights[0].spend_usd) == (8.0, 0.75)
    assert b.nights[0].status == "ok"  # a later skip does not hide what ran
    assert (b.nights[0].duration_s, b.nights[0].spend_usd) == (2.0, None)
    assert b.nights[1].status == "skipped"  # skipped all night: shown as such
    assert a.nights[1].status is None  # not in that night's sweep: did not run
    night = history.nights[0]
    assert (night.sweeps, night.wall_s, night.gap) == (2, 20.0, None)


@pytest.mark.parametrize(
    ("sweeps", "expected"),
    [
        ([("failed", COUNTS)], "failed"),
        # A manual sweep that ran nothing does not clear the night's failure.
        ([("failed", COUNTS), ("ok", NOOP)], "failed"),
        ([("failed", COUNTS), ("ok", COUNTS)], "ok"),
        ([("ok", NOOP)], "ok"),
        # A later interrupted sweep does not hide how the night ended.
        ([("failed", COUNTS), ("interrupted", COUNTS)], "failed"),
        ([("ok", COUNTS), ("interrupted", COUNTS)], "ok"),
        ([("interrupted", COUNTS)], "interrupted"),
        ([("interrupted", COUNTS), ("ok", NOOP)], "interrupted"),
    ],
)
def test_a_nights_status_is_its_last_sweep_that_ran_something(
    sweeps: list[tuple[str, dict[str, int]]], expected: str
) -> None:
    runs = [
        _run("2026-03-01", i, {}, status=status, counts=counts)
        for i, (status, counts) in enumerate(sweeps, 1)
    ]
    (night,) = build_history(_snap(runs), None, "2026-03-01", nights=1).nights
    assert night.status == expected


@pytest.mark.parametrize(
    ("schedule", "skipped", "now", "gaps"),
    [
        # A daily cron, no sweep on the 3rd and 4th: both missed.
        (DAILY, [], None, {"2026-03-03": "missed", "2026-03-04": "missed"}),
        # Monday to Friday: the 7th and 8th (Saturday, Sunday) had none due.
        (WEEKDAYS, [], None, {"2026-03-03": "missed", "2026-03-07": "none due"}),
        # The fires bookkeeping says why the 4th did not run; its stamp is in Berlin time.
        (
            DAILY,
            [{"fire": "2026-03-04T02:30:00+01:00", "at": "x", "reason": "a sweep was running"}],
            None,
            {"2026-03-03": "missed", "2026-03-04": "skipped: a sweep was running"},
        ),
        # A stamp in UTC still lands on the night of the schedule's zone (23:30 UTC on
        # the 3rd is 00:30 on the 4th in Berlin).
        (
            DAILY,
            [{"fire": "2026-03-03T23:30:00+00:00", "at": "x", "reason": "late"}],
            None,
            {"2026-03-03": "missed", "2026-03-04": "skipped: late"},
        ),
        # At 01:00 on the 8th, its 02:30 fire has not come yet.
        (
            DAILY,
            [],
            datetime(2026, 3, 8, 1, 0, tzinfo=BERLIN),
            {"2026-03-07": "missed", "2026-03-08": "none due"},
        ),
        # No schedule to go by (a broken file): a gap is just a gap, unless skipped.
        (None, [], None, {"2026-03-03": None, "2026-03-04": None}),
    ],
)
def test_a_night_without_a_sweep_says_why(
    schedule: Any, skipped: list[dict[str, Any]], now: datetime | None, gaps: dict[str, str | None]
) -> None:
    runs = [
        _run(d, 1, {"a": ("ok", 1.0, None)}) for d in ("2026-03-02", "2026-03-05", "2026-03-06")
    ]
    history = build_history(
        _snap(runs, skipped), None, "2026-03-08", nights=8, now=now, schedule=schedule
    )
    by_date = {n.date: n for n in history.nights}
    for date, gap in gaps.items():
        assert (by_date[date].sweeps, by_date[date].gap) == (0, gap), date
    # Before the oldest sweep the store keeps, nothing is known: it may have been forgotten.
    assert by_date["2026-03-01"].gap is None
    assert (by_date["2026-03-02"].sweeps, by_date["2026-03-02"].gap) == (1, None)


def test_summaries_from_before_the_history_load_as_unknown() -> None:
    runs = [_run("2026-03-01", 1, None), _run("2026-03-02", 1, {"a": ("failed", 1.0, None)})]
    history = build_history(_snap(runs), None, "2026-03-02", nights=2, schedule=DAILY)
    assert _statuses(history) == {"a": [None, "failed"]}
    old = history.nights[0]
    assert (old.sweeps, old.status, old.wall_s) == (1, "ok", 60.0)  # from its start and end
    # Nothing to compare with: not called newly failing (an upgrade, not a change).
    assert changes(history) == Changes([], [])


@pytest.mark.parametrize(
    ("row", "newly", "recovered"),
    [
        (["ok", "failed"], True, False),
        (["ok", "error"], True, False),
        (["failed", "failed"], False, False),
        (["failed", "ok"], False, True),
        (["error", "ok"], False, True),
        (["ok", "ok"], False, False),
        # Skipped, interrupted and absent nights are passed over, either way.
        (["ok", "skipped", None, "interrupted", "failed"], True, False),
        (["failed", None, "skipped", "ok"], False, True),
        (["failed", "interrupted", "failed"], False, False),
        # The last night decides: no run, or no verdict, is no change.
        (["ok", "failed", None], False, False),
        (["failed", "ok", "interrupted"], False, False),
        (["failed", "skipped"], False, False),
        # First run ever, while other projects have history: a new project.
        ([None, None, "failed"], True, False),
        ([None, None, "ok"], False, False),
    ],
)
def test_changes_compare_the_last_night_with_the_previous_one_the_project_ran(
    row: list[str | None], newly: bool, recovered: bool
) -> None:
    dates = [f"2026-03-0{i}" for i in range(1, len(row) + 1)]
    steady: Cells = {"steady": ("ok", 1.0, None)}
    runs = [
        _run(d, 1, steady | ({"p": (s, 1.0, None)} if s else {}))
        for d, s in zip(dates, row, strict=True)
    ]
    history = build_history(_snap(runs), None, dates[-1], nights=len(row), schedule=DAILY)
    assert _statuses(history)["p"] == row
    assert changes(history) == Changes(["p"] if newly else [], ["p"] if recovered else [])


def test_without_a_configuration_projects_come_by_name() -> None:
    runs = [
        _run("2026-02-01", 1, {"forgotten": ("ok", 1.0, None)}),  # before the nights shown
        _run("2026-03-01", 1, {"gone": ("failed", 1.0, None), "b": ("ok", 1.0, None)}),
        _run("2026-03-02", 1, {"b": ("ok", 1.0, None), "a": ("ok", 1.0, None)}),
    ]
    history = build_history(_snap(runs), None, "2026-03-02", nights=2)
    assert [p.name for p in history.projects] == ["a", "b", "gone"]


def test_the_json_form_is_aligned_with_the_nights() -> None:
    runs = [_run("2026-03-02", 1, {"a": ("failed", 4.5, 0.1)}, status="failed", wall=7.5)]
    doc = build_history(_snap(runs), None, "2026-03-03", nights=3, schedule=DAILY).to_dict()
    assert doc["nights"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert doc["projects"] == [
        {
            "name": "a",
            "nights": [None, "failed", None],
            "duration_s": [None, 4.5, None],
            "spend_usd": [None, 0.1, None],
        }
    ]
    assert [(s["count"], s["status"], s["wall_s"], s["gap"]) for s in doc["sweeps"]] == [
        (0, None, None, None),
        (1, "failed", 7.5, None),
        (0, None, None, "missed"),
    ]


def test_a_later_interrupted_or_skipping_sweep_does_not_hide_a_projects_result() -> None:
    runs = [
        _run("2026-03-01", 1, {"a": ("failed", 5.0, None), "b": ("ok", 1.0, None)}),
        _run("2026-03-01", 2, {"a": ("interrupted", 1.0, None), "b": ("skipped", None, None)}),
        _run("2026-03-02", 1, {"a": ("interrupted", 1.0, None), "b": ("skipped", None, None)}),
    ]
    history = build_history(_snap(runs), None, "2026-03-02", nights=2, schedule=DAILY)
    assert _statuses(history) == {"a": ["failed", "interrupted"], "b": ["ok", "skipped"]}
    assert history.projects[0].nights[0].duration_s == 6.0


def test_the_changes_of_the_last_night_that_had_a_sweep() -> None:
    """The morning after, before that day's sweep: the last night that had one."""
    runs = [
        _run("2026-03-01", 1, {"a": ("ok", 1.0, None)}),
        _run("2026-03-02", 1, {"a": ("failed", 1.0, None)}),
    ]
    history = build_history(_snap(runs), None, "2026-03-03", nights=3, schedule=DAILY)
    assert changes(history) == Changes([], [])  # the 3rd itself: no sweep, no change
    through = history.through_last_sweep()
    assert [n.date for n in through.nights] == ["2026-03-01", "2026-03-02"]
    assert changes(through) == Changes(["a"], [])
    quiet = build_history(_snap([]), None, "2026-03-03", nights=3, schedule=DAILY)
    assert quiet.through_last_sweep() == quiet  # no sweep at all: nothing cut


def test_fire_stamps_no_night_can_be_told_from_are_passed_over() -> None:
    skipped: list[Any] = [
        # Year 1 at +14:00 is before the calendar in UTC (OverflowError), the others
        # not stamps at all (ValueError), or not entries.
        {"fire": "0001-01-01T00:30:00+14:00", "at": "x", "reason": "overflow"},
        {"fire": "9999-12-31T23:30:00-14:00", "at": "x", "reason": "overflow"},
        {"fire": "yesterday", "reason": "no"},
        {"reason": "no stamp"},
        "a string",
        {"fire": "2026-03-02T02:30:00+01:00", "at": "x", "reason": "a sweep was running"},
    ]
    history = build_history(_snap([], skipped), None, "2026-03-02", nights=2, schedule=DAILY)
    assert [n.gap for n in history.nights] == [None, "skipped: a sweep was running"]


def test_figures_that_are_no_numbers_are_passed_over_and_the_json_stays_json() -> None:
    runs = [
        _run("2026-03-01", 1, {"a": ("ok", float("nan"), float("inf"))}, wall=float("nan")),
        _run("2026-03-01", 2, {"a": ("ok", 2.0, 0.5)}, wall=float("-inf")),
    ]
    history = build_history(_snap(runs), None, "2026-03-01", nights=1, schedule=DAILY)
    cell, night = history.projects[0].nights[0], history.nights[0]
    assert (cell.duration_s, cell.spend_usd) == (2.0, 0.5)
    assert night.wall_s == 120.0  # both from their start and end instead
    json.dumps(history.to_dict(), allow_nan=False)  # ValueError on NaN or Infinity


def test_dates_that_are_none() -> None:
    runs = [
        _run("2026-03-02", 1, {"a": ("ok", 1.0, None)}),
        # Not a night's date: filed under none, nor the oldest kept (nights before
        # the oldest kept are not known to be missed).
        {**_run("2026-03-02", 2, {"a": ("failed", 1.0, None)}), "date": "0000"},
        {**_run("2026-03-02", 3, {"a": ("failed", 1.0, None)}), "date": "20260302"},
    ]
    history = build_history(_snap(runs), None, "2026-03-02", nights=3, schedule=DAILY)
    assert _statuses(history) == {"a": [None, None, "ok"]}
    assert [n.gap for n in history.nights] == [None, None, None]
    for end in ("the 3rd", "2026-3-2", "0001-01-02"):
        with pytest.raises(ValueError, match="is not a date to count 3 night"):
            build_history(_snap(runs), None, end, nights=3, schedule=DAILY)
    # The calendar's last nights: their fires cannot be computed (the cron looks past the
    # year 9999), so none is due, and there is no error.
    last = [_run("9999-12-29", 1, {"a": ("ok", 1.0, None)})]
    edge = build_history(_snap(last), None, "9999-12-31", nights=3, schedule=DAILY)
    assert [n.gap for n in edge.nights] == [None, "none due", "none due"]


def _on(host: str | None, run: dict[str, Any]) -> dict[str, Any]:
    if host is not None:
        run["host"] = host
    return run


def test_a_night_several_hosts_split_is_one_column_each_project_from_where_it_ran() -> None:
    """Each host's sweep lists every project; those left to another host are skipped there."""
    runs = [
        _on("b", _run("2026-03-01", 1, {"a": ("skipped", None, None), "c": ("ok", 2.0, 0.5)})),
        _on(
            "a",
            _run(
                "2026-03-01",
                2,
                {"a": ("failed", 5.0, 0.25), "c": ("skipped", None, None)},
                status="failed",
                wall=30.0,
            ),
        ),
        # Kept before hosts were named: this host's ("a" here).
        _on(None, _run("2026-03-02", 1, {"a": ("ok", 1.0, None)})),
        _on("b", _run("2026-03-02", 2, {"c": ("ok", 1.0, None)}, wall=5.0)),
    ]
    history = build_history(_snap(runs), None, "2026-03-02", nights=2, schedule=DAILY, here="a")
    a, c = history.projects
    assert (a.nights[0].status, a.nights[0].host) == ("failed", "a")
    assert (c.nights[0].status, c.nights[0].host) == ("ok", "b")
    assert (a.nights[1].host, c.nights[1].host) == ("a", "b")
    assert (a.nights[0].duration_s, a.nights[0].spend_usd) == (5.0, 0.25)
    first, second = history.nights
    # One host failed: the night failed; they ran side by side: the longest host's wall.
    assert (first.sweeps, first.status, first.wall_s) == (2, "failed", 30.0)
    assert (first.hosts, second.hosts) == (("a", "b"), ("a", "b"))
    assert (second.status, second.wall_s) == ("ok", 10.0)
    assert history.hosts() == ["a", "b"]
    doc = history.to_dict()
    assert doc["hosts"] == ["a", "b"]
    assert doc["projects"][0]["hosts"] == ["a", "a"]
    assert doc["projects"][1]["hosts"] == ["b", "b"]
    assert doc["sweeps"][0]["hosts"] == ["a", "b"]
    assert json.loads(json.dumps(doc)) == doc


def test_one_hosts_history_keeps_its_json_whether_its_summaries_name_it_or_not() -> None:
    runs = [_run("2026-03-02", 1, {"a": ("failed", 4.5, 0.1)}, status="failed", wall=7.5)]
    before = build_history(_snap(runs), None, "2026-03-03", nights=3, schedule=DAILY).to_dict()
    named = [
        _on(
            "build-1", _run("2026-03-02", 1, {"a": ("failed", 4.5, 0.1)}, status="failed", wall=7.5)
        )
    ]
    after = build_history(_snap(named), None, "2026-03-03", nights=3, schedule=DAILY).to_dict()
    assert after == before
    assert "hosts" not in after
    assert set(after["projects"][0]) == {"name", "nights", "duration_s", "spend_usd"}
    assert set(after["sweeps"][1]) == {"date", "count", "status", "wall_s", "spend_usd", "gap"}
