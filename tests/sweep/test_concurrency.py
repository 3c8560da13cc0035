"""The bound, serial tasks, and dependencies, measured from what real task processes record."""

from __future__ import annotations

import itertools

import pytest

from tests.builders import proj, recording, write_config
from tests.helpers import Workspace, max_overlap


def _config(ws: Workspace, parallel: bool, bound: int, names: list[str], seconds: float) -> None:
    write_config(
        ws,
        {"work": recording("{project}", seconds)},
        [proj(name, "work") for name in names],
        run={"project_parallelism": parallel, "max_parallel_projects": bound},
    )


@pytest.mark.parametrize("bound", [2, 3])
def test_never_more_than_the_bound_and_the_bound_is_reached(ws: Workspace, bound: int) -> None:
    names = [f"p{i}" for i in range(bound * 2 + 1)]
    _config(ws, True, bound, names, 1.5)
    code, report = ws.once_json()
    assert code == 0, report["failures"]
    spans = ws.intervals()
    assert sorted(spans) == names  # every project ran
    assert max_overlap(list(spans.values())) == bound
    assert report["mode"] == {"project_parallelism": True, "max_parallel_projects": bound}
    # Task time over wall time: clearly above 1, never above the bound.
    assert 1.5 < report["speedup"] <= bound


def test_toggle_off_runs_exactly_one_project_at_a_time(ws: Workspace) -> None:
    names = ["a", "b", "c", "d"]
    _config(ws, False, 4, names, 0.4)
    code, report = ws.once_json()
    assert code == 0
    spans = ws.intervals()
    assert sorted(spans) == names
    assert max_overlap(list(spans.values())) == 1
    assert report["mode"] == {"project_parallelism": False, "max_parallel_projects": 1}


def test_tasks_of_a_project_run_one_at_a_time_in_order(ws: Workspace) -> None:
    write_config(
        ws,
        {
            "t1": recording("{project}-t1", 0.5),
            "t2": recording("{project}-t2", 0.1),
            "t3": recording("{project}-t3", 0.3),
        },
        [proj("solo", "t3", "t1", "t2"), proj("other", "t1", "t2", "t3")],
        run={"project_parallelism": True, "max_parallel_projects": 4},
    )
    code, report = ws.once_json()
    assert code == 0
    spans = ws.intervals()
    for project, order in (("solo", ["t3", "t1", "t2"]), ("other", ["t1", "t2", "t3"])):
        mine = [spans[f"{project}-{t}"] for t in order]
        for (_, end), (start, _) in itertools.pairwise(mine):
            assert end <= start, f"{project}: tasks overlapped or ran out of order"
        listed = next(p for p in report["projects"] if p["name"] == project)
        assert [t["name"] for t in listed["tasks"]] == order
    # The two projects did run side by side: the bound is per project, not per task.
    assert max_overlap(list(spans.values())) == 2


def test_dependant_waits_for_its_dependency_only(ws: Workspace) -> None:
    write_config(
        ws,
        {"long": recording("{project}", 3), "short": recording("{project}", 0.2)},
        [
            proj("after_slow", "short", depends_on=["slow"]),
            proj("slow", "long"),
            proj("after_quick", "short", depends_on=["quick"]),
            proj("quick", "short"),
        ],
        run={"project_parallelism": True, "max_parallel_projects": 3},
    )
    code, report = ws.once_json()
    assert code == 0, report["failures"]
    spans = ws.intervals()
    assert spans["after_slow"][0] >= spans["slow"][1]
    assert spans["after_quick"][0] >= spans["quick"][1]
    # No level barrier: after_quick started while slow (another branch) was still running.
    assert spans["after_quick"][0] < spans["slow"][1]


def test_failed_dependency_skips_its_dependants_transitively(ws: Workspace) -> None:
    write_config(
        ws,
        {"fail": recording("{project}", 0.1, 4), "ok": recording("{project}", 0.1)},
        [
            proj("base", "fail"),
            proj("mid", "ok", depends_on=["base"]),
            proj("top", "ok", depends_on=["mid"]),
            proj("free", "ok"),
        ],
        run={"project_parallelism": True},
    )
    code, report = ws.once_json()
    assert code == 1
    by_name = {p["name"]: p for p in report["projects"]}
    assert by_name["base"]["status"] == "failed"
    assert by_name["mid"] == {
        **by_name["mid"],
        "status": "skipped",
        "reason": "dependency failed: base",
    }
    assert by_name["top"]["status"] == "skipped"
    assert by_name["top"]["reason"] == "dependency skipped: mid"
    assert by_name["free"]["status"] == "ok"
    assert sorted(ws.intervals()) == ["base", "free"]  # the skipped ones never started
    assert report["counts"]["projects_skipped"] == 2


def test_dependency_outside_the_sweep_counts_as_satisfied(ws: Workspace) -> None:
    write_config(
        ws,
        {"ok": recording("{project}", 0.1)},
        [proj("lib", "ok", enabled=False), proj("app", "ok", depends_on=["lib"])],
    )
    code, report = ws.once_json()
    assert code == 0
    assert [(p["name"], p["status"]) for p in report["projects"]] == [
        ("lib", "skipped"),
        ("app", "ok"),
    ]
    assert report["projects"][0]["reason"] == "disabled"


def test_known_durations_start_the_longest_work_first(ws: Workspace) -> None:
    names = ["quick", "medium", "slow"]
    write_config(
        ws,
        {
            "quick": recording("quick", 0.1),
            "medium": recording("medium", 0.4),
            "slow": recording("slow", 0.8),
        },
        [proj(n, n) for n in names],
    )

    def started() -> list[str]:
        spans = ws.intervals()
        ws.records.unlink()
        return sorted(spans, key=lambda label: spans[label][0])

    code, _ = ws.once_json()
    assert code == 0
    assert started() == names  # nothing known yet: file order
    plan = ws.once("--dry-run", "--force").stdout
    assert plan.index("slow") < plan.index("medium") < plan.index("quick")
    assert "expected makespan: " in plan
    code, report = ws.once_json("--force")
    assert code == 0
    assert started() == ["slow", "medium", "quick"]  # the longest first, from the last sweep
    assert report["speedup"] is not None
