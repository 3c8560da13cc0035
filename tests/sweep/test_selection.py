"""Selection is pure over a config and a snapshot: tables, no processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentd.config import Config
from agentd.daemon.sweep.ordering import order, rank, simulate
from agentd.daemon.sweep.selection import select
from agentd.state import Snapshot
from tests.builders import Table, cmd, load, proj

TODAY = "2026-11-22"


def _config(tmp_path: Path, projects: list[Table], **sections: Table) -> Config:
    return load(tmp_path, {"a": cmd("true"), "b": cmd("true")}, projects, **sections)


def _snapshot(tasks: dict[str, dict[str, str]], finished: dict[str, str] | None = None) -> Snapshot:
    projects: dict[str, Any] = {}
    for project, states in tasks.items():
        projects[project] = {
            "tasks": {
                t: {"status": s.split("@")[0], "date": s.split("@")[1]} for t, s in states.items()
            }
        }
    for project, when in (finished or {}).items():
        projects.setdefault(project, {})["last_run"] = {"finished_at": when}
    return Snapshot({"version": 1, "projects": projects, "claims": {}, "runs": []})


def always_there(path: Path) -> None:
    return None


def test_disabled_missing_and_done_projects(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        [
            proj("on", "a", "b"),
            proj("off", "a", enabled=False),
            proj("done", "a", "b"),
            proj("half", "a", "b"),
            proj("gone", "a"),
        ],
    )
    snap = _snapshot(
        {
            "done": {"a": f"ok@{TODAY}", "b": f"ok@{TODAY}"},
            "half": {"a": f"ok@{TODAY}", "b": f"failed@{TODAY}"},
            "on": {"a": "ok@2026-11-21", "b": f"timeout@{TODAY}"},
        }
    )
    out = select(
        config, snap, TODAY, path_problem=lambda p: "missing" if p.name == "gone" else None
    )
    assert [p.name for p in out.chosen] == ["on", "half"]
    assert out.planned("half").done == frozenset({"a"})
    assert out.planned("on").done == frozenset()
    assert out.skipped == {
        "off": "disabled",
        "done": "done today: all 2 tasks succeeded on 2026-11-22",
    }
    assert out.failed == {"gone": "missing"}
    forced = select(config, snap, TODAY, force=True, path_problem=always_there)
    assert [p.name for p in forced.chosen] == ["on", "done", "half", "gone"]
    assert all(not p.done for p in forced.chosen)


@pytest.mark.parametrize(
    ("cap", "finished", "expected"),
    [
        (0, {}, ["p1", "p2", "p3", "p4"]),
        (2, {}, ["p1", "p2"]),  # all equal: config order
        (2, {"p1": "2026-11-21T03:00", "p2": "2026-11-20T03:00"}, ["p3", "p4"]),  # never ran first
        (3, {"p1": "2026-11-21T03:00", "p2": "2026-11-20T03:00"}, ["p2", "p3", "p4"]),
        (5, {}, ["p1", "p2", "p3", "p4"]),
        # Instants, not strings: 02:30+02:00 (00:30Z) is earlier than 01:45+01:00 (00:45Z).
        (
            1,
            {
                "p1": "2026-10-25T01:45:00+01:00",
                "p2": "2026-10-25T02:30:00+02:00",
                "p3": "2026-10-25T03:00:00+01:00",
                "p4": "2026-10-25T02:50:00+01:00",
            },
            ["p2"],
        ),
    ],
)
def test_max_projects_keeps_least_recently_completed(
    tmp_path: Path, cap: int, finished: dict[str, str], expected: list[str]
) -> None:
    config = _config(tmp_path, [proj(f"p{i}", "a") for i in range(1, 5)], run={"max_projects": cap})
    out = select(config, _snapshot({}, finished), TODAY, path_problem=always_there)
    assert sorted(p.name for p in out.chosen) == expected
    assert set(out.skipped) == {f"p{i}" for i in range(1, 5)} - set(expected)


def test_max_projects_counts_after_the_skip_guard(tmp_path: Path) -> None:
    config = _config(tmp_path, [proj(f"p{i}", "a") for i in range(1, 4)], run={"max_projects": 2})
    out = select(config, _snapshot({"p1": {"a": f"ok@{TODAY}"}}), TODAY, path_problem=always_there)
    assert [p.name for p in out.chosen] == ["p2", "p3"]


def test_dependencies_outside_the_sweep_are_dropped(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        [
            proj("lib", "a"),
            proj("off", "a", enabled=False),
            proj("gone", "a"),
            proj("app", "a", depends_on=["lib", "off", "gone"]),
        ],
    )
    out = select(
        config, _snapshot({}), TODAY, path_problem=lambda p: "x" if p.name == "gone" else None
    )
    assert out.planned("app").deps == ("lib", "gone")  # a failed one stays: it skips app
    only = select(config, _snapshot({}), TODAY, only={"app"}, path_problem=always_there)
    assert [p.name for p in only.chosen] == ["app"]
    assert only.planned("app").deps == ()


def test_defaults_tasks_apply_to_projects_listing_none(tmp_path: Path) -> None:
    config = _config(tmp_path, [{"name": "p", "path": "p"}], defaults={"tasks": ["b", "a"]})
    out = select(config, _snapshot({}), TODAY, path_problem=always_there)
    assert out.planned("p").tasks == ("b", "a")


def test_with_nothing_known_the_order_is_dependencies_first_then_file_order(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        [
            proj("c", "a", depends_on=["b"]),
            proj("b", "a", depends_on=["a"]),
            proj("x", "a"),
            proj("a", "a"),
        ],
    )
    snap = _snapshot({})
    ordered = order(select(config, snap, TODAY, path_problem=always_there), snap)
    # a heads a chain of three: the longest work behind it; c and x tie, file order decides.
    assert [p.name for p in ordered.chosen] == ["a", "b", "c", "x"]
    sim = simulate(ordered.chosen, ordered.assumed, 2, set())
    assert sim.starts == [("a", 0.0), ("x", 0.0), ("b", 1.0), ("c", 2.0)]


def _durations(**seconds: float) -> dict[str, dict[str, Any]]:
    record = {"status": "ok", "date": "2026-11-21"}
    return {name: {"tasks": {"a": {**record, "duration_s": s}}} for name, s in seconds.items()}


def test_known_durations_put_the_longest_critical_path_first(tmp_path: Path) -> None:
    rows = [proj(n, "a") for n in ("short", "medium", "long", "new")]
    rows.append(proj("tail", "a", depends_on=["short"]))
    config = _config(tmp_path, rows)
    projects: dict[str, Any] = _durations(short=1.0, medium=5.0, long=8.0, tail=9.0)
    snap = Snapshot({"version": 1, "projects": projects, "claims": {}, "runs": []})
    ordered = order(select(config, snap, TODAY, path_problem=always_there), snap)
    # short heads 1 + 9 = 10; new (never run) counts as the longest known, 9; then tail 9
    # (file order breaks the tie), long 8, medium 5.
    assert [p.name for p in ordered.chosen] == ["short", "new", "tail", "long", "medium"]
    assert ordered.expected["new"] is None
    assert ordered.assumed["new"] == 9.0
    sim = simulate(ordered.chosen, ordered.assumed, 2, set())
    # slot 1: short 0-1, tail 1-10, medium 10-15; slot 2: new 0-9, long 9-17
    assert sim.starts == [
        ("short", 0.0),
        ("new", 0.0),
        ("tail", 1.0),
        ("long", 9.0),
        ("medium", 10.0),
    ]
    assert sim.makespan == 17.0


@pytest.mark.parametrize(
    ("durations", "bound", "makespan"),
    [
        ({"a": 3.0, "b": 2.0, "c": 1.0}, 1, 6.0),
        ({"a": 3.0, "b": 2.0, "c": 1.0}, 3, 3.0),
        ({"a": 3.0, "b": 2.0, "c": 2.0}, 2, 4.0),
    ],
)
def test_simulated_makespan(
    tmp_path: Path, durations: dict[str, float], bound: int, makespan: float
) -> None:
    config = _config(tmp_path, [proj(n, "a") for n in durations])
    planned = select(config, _snapshot({}), TODAY, path_problem=always_there).chosen
    assert simulate(rank(planned, durations), durations, bound, set()).makespan == makespan


def test_dependants_of_a_failed_project_are_not_simulated(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        [proj("gone", "a"), proj("app", "a", depends_on=["gone"]), proj("other", "a")],
    )
    selection = select(
        config, _snapshot({}), TODAY, path_problem=lambda p: "x" if p.name == "gone" else None
    )
    ordered = order(selection, _snapshot({}))
    sim = simulate(ordered.chosen, ordered.assumed, 2, set(ordered.failed))
    assert [name for name, _ in sim.starts] == ["other"]


def test_a_partly_known_project_counts_its_known_part_plus_the_unknown_tasks(
    tmp_path: Path,
) -> None:
    config = _config(
        tmp_path,
        [proj("big", "a", "b"), proj("small", "a")],
    )
    tasks = {"big": {"tasks": {"a": {"status": "ok", "date": "2026-11-21", "duration_s": 100.0}}}}
    tasks["small"] = {"tasks": {"a": {"status": "ok", "date": "2026-11-21", "duration_s": 10.0}}}
    snap = Snapshot({"version": 2, "projects": tasks, "claims": {}, "runs": []})
    ordered = order(select(config, snap, TODAY, path_problem=always_there), snap)
    # big: 100 s known, plus task b never run, counted as the longest known task (100 s)
    assert ordered.assumed == {"big": 200.0, "small": 10.0}
    assert ordered.expected == {"big": None, "small": 10.0}
    assert [p.name for p in ordered.chosen] == ["big", "small"]
