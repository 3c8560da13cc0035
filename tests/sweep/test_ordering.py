"""Start order, the dry run's simulation and the executor's dispatch agree, on small graphs
by table and on long ones by structure (the speed itself is shown in BENCHMARKS.md)."""

from __future__ import annotations

import itertools
import random
import threading

import pytest

from agentd.daemon.model.results import ProjectResult
from agentd.daemon.sweep.executor import fan_out
from agentd.daemon.sweep.ordering import blocked_by, dependants_of, rank, simulate
from agentd.daemon.sweep.selection import Planned
from agentd.daemon.tasks.stop import StopToken
from tests.builders import dag, node

GRAPHS = {
    "diamond": ("a b:a c:a d:b,c", {"a": 1, "b": 2, "c": 3, "d": 1}),
    "chain": ("a b:a c:b d:c", {"a": 1, "b": 1, "c": 1, "d": 1}),
    "fan-in": ("x y z w:x,y,z", {"x": 3, "y": 1, "z": 2, "w": 1}),
    "failed": (
        "app:gone web:app report:other,web other lib:other",
        {"app": 1, "web": 1, "report": 1, "other": 1, "lib": 1},
    ),
}


@pytest.mark.parametrize(
    ("graph", "bound", "failed", "starts", "makespan"),
    [
        ("diamond", 2, set(), [("a", 0), ("c", 1), ("b", 1), ("d", 4)], 5),
        ("diamond", 1, set(), [("a", 0), ("c", 1), ("b", 4), ("d", 6)], 7),
        ("chain", 3, set(), [("a", 0), ("b", 1), ("c", 2), ("d", 3)], 4),
        ("fan-in", 2, set(), [("x", 0), ("z", 0), ("y", 2), ("w", 3)], 4),
        ("fan-in", 3, set(), [("x", 0), ("z", 0), ("y", 0), ("w", 3)], 4),
        # app waits for a failed project: it, web after it and report after web never start
        ("failed", 2, {"gone"}, [("other", 0), ("lib", 1)], 2),
        ("failed", 2, set(), [("app", 0), ("other", 0), ("web", 1), ("lib", 1), ("report", 2)], 3),
    ],
)
def test_simulated_starts(
    graph: str, bound: int, failed: set[str], starts: list[tuple[str, float]], makespan: float
) -> None:
    spec, seconds = GRAPHS[graph]
    durations = {k: float(v) for k, v in seconds.items()}
    sim = simulate(rank(dag(spec), durations), durations, bound, failed)
    assert sim.starts == starts
    assert sim.makespan == makespan


def test_blocked_reaches_dependants_of_dependants_only() -> None:
    planned = dag("app:gone web:app report:other,web other lib:other")
    assert blocked_by({"gone"}, dependants_of(planned)) == {"gone", "app", "web", "report"}
    assert blocked_by({"lib"}, dependants_of(planned)) == {"lib"}


def _reference(
    planned: list[Planned], durations: dict[str, float], bound: int, failed: set[str]
) -> tuple[list[tuple[str, float]], float]:
    """The rule as the docs state it, the slow way: after every finish, scan the pending
    projects in priority order and start each whose dependencies all finished."""
    blocked = set(failed)
    while True:
        more = {p.name for p in planned if set(p.deps) & blocked} - blocked
        if not more:
            break
        blocked |= more
    pending = [p for p in planned if p.name not in blocked]
    in_sweep = {p.name for p in pending}
    finished: set[str] = set()
    running: list[tuple[float, str]] = []
    now, starts = 0.0, []
    while True:
        for p in list(pending):
            if len(running) < bound and all(d in finished or d not in in_sweep for d in p.deps):
                pending.remove(p)
                starts.append((p.name, now))
                running.append((now + durations[p.name], p.name))
        if not running:
            return starts, now
        running.sort()
        now, name = running.pop(0)
        finished.add(name)


def _random_graph(rng: random.Random, outside: bool = True) -> list[Planned]:
    names = [f"p{i}" for i in range(rng.randint(1, 12))]
    planned = []
    for i, name in enumerate(names):
        deps = rng.sample(names[:i], rng.randint(0, min(3, i)))
        if outside and rng.random() < 0.15:
            deps.append("outside")  # not part of the sweep: holds nobody up
        if outside and rng.random() < 0.15:
            deps.append("gone")  # failed before the sweep
        planned.append(node(name, *deps))
    rng.shuffle(planned)
    return planned


def test_simulate_matches_the_rule_on_random_graphs() -> None:
    rng = random.Random(10)
    for _ in range(500):
        planned = _random_graph(rng)
        durations = {p.name: rng.choice([0.5, 1.0, 2.0, 3.0]) for p in planned}
        bound = rng.randint(1, 4)
        failed = {"gone"} | ({rng.choice(planned).name} if rng.random() < 0.2 else set())
        ranked = rank(planned, durations)
        sim = simulate(ranked, durations, bound, failed)
        assert (sim.starts, sim.makespan) == _reference(ranked, durations, bound, failed)


def _run(
    planned: list[Planned],
    bound: int = 1,
    fail: frozenset[str] = frozenset(),
    settled: dict[str, ProjectResult] | None = None,
    stop_after: str | None = None,
) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Execute with a trivial run_project; the order it was called in, and the outcomes."""
    stop = StopToken()
    calls: list[str] = []
    lock = threading.Lock()

    def run_project(project: Planned) -> ProjectResult:
        with lock:
            calls.append(project.name)
        if project.name == stop_after:
            stop.request()
        if project.name in fail:
            return ProjectResult(
                project.name, "failed", "x", blocks=f"dependency failed: {project.name}"
            )
        return ProjectResult(project.name, "ok")

    try:
        results = fan_out(planned, bound, run_project, stop, settled)
    finally:
        stop.close()
    return calls, {name: (r.status, r.reason) for name, r in results.items()}


@pytest.mark.parametrize("graph", ["diamond", "chain", "fan-in"])
def test_one_at_a_time_the_executor_starts_what_the_dry_run_shows(graph: str) -> None:
    spec, seconds = GRAPHS[graph]
    durations = {k: float(v) for k, v in seconds.items()}
    planned = rank(dag(spec), durations)
    calls, results = _run(planned)
    assert calls == [name for name, _ in simulate(planned, durations, 1, set()).starts]
    assert all(outcome == ("ok", "") for outcome in results.values())


def test_random_graphs_one_at_a_time_start_in_simulated_order() -> None:
    rng = random.Random(11)
    for _ in range(100):
        planned = _random_graph(rng, outside=False)
        durations = {p.name: rng.choice([0.5, 1.0, 2.0]) for p in planned}
        ranked = rank(planned, durations)
        calls, _ = _run(ranked)
        assert calls == [name for name, _ in simulate(ranked, durations, 1, set()).starts]


def test_a_failed_dependency_skips_dependants_of_dependants_with_reasons() -> None:
    gone = ProjectResult("gone", "failed", "missing", blocks="dependency failed: gone")
    planned = dag("lib app:lib web:app docs:lib,web solo:gone tail:solo other")
    calls, results = _run(planned, fail=frozenset({"lib"}), settled={"gone": gone})
    assert calls == ["lib", "other"]
    assert results == {
        "gone": ("failed", "missing"),
        "solo": ("skipped", "dependency failed: gone"),
        "tail": ("skipped", "dependency skipped: solo"),
        "lib": ("failed", "x"),
        "app": ("skipped", "dependency failed: lib"),
        "docs": ("skipped", "dependency failed: lib"),
        "web": ("skipped", "dependency skipped: app"),
        "other": ("ok", ""),
    }


def test_a_project_behind_two_skipped_ones_keeps_the_reason_it_always_had() -> None:
    # Depth first from the failure: x is reached through b, the dependant seen last.
    _, results = _run(dag("f a:f b:f x:a,b"), fail=frozenset({"f"}))
    assert results["x"] == ("skipped", "dependency skipped: b")


def test_a_stop_skips_everything_not_started() -> None:
    gone = ProjectResult("gone", "failed", "missing", blocks="dependency failed: gone")
    planned = dag("a b:a c solo:gone")
    calls, results = _run(planned, settled={"gone": gone}, stop_after="a")
    assert calls == ["a"]
    assert results["a"] == ("ok", "")
    assert results["b"] == results["c"] == ("skipped", "sweep interrupted before it started")
    assert results["solo"] == ("skipped", "dependency failed: gone")


def test_a_dependency_nobody_settles_is_reported_not_waited_for() -> None:
    calls, results = _run(dag("a b:nowhere c:b"))
    assert calls == ["a"]
    assert results["b"] == results["c"] == ("error", "unresolvable dependencies")


# Long graphs: every project runs once, in the only order a chain allows. Planning and
# dispatch used to rescan every pending project per event; their speed is in the benchmark.
LONG = 5000


def test_a_long_chain_is_planned_and_dispatched_in_chain_order() -> None:
    names = [f"p{i:05d}" for i in range(LONG)]
    planned = [node(names[0])] + [node(n, before) for before, n in itertools.pairwise(names)]
    durations = dict.fromkeys(names, 1.0)
    ranked = rank(list(reversed(planned)), durations)
    assert [p.name for p in ranked] == names
    sim = simulate(ranked, durations, 4, set())
    assert sim.starts == [(n, float(i)) for i, n in enumerate(names)]
    calls, results = _run(ranked, bound=4)
    assert calls == names
    assert list(results) == names
    assert all(r == ("ok", "") for r in results.values())


def test_many_independent_projects_each_run_once() -> None:
    planned = [node(f"p{i:05d}") for i in range(LONG)]
    calls, results = _run(planned, bound=4)
    assert sorted(calls) == [p.name for p in planned]
    assert len(results) == LONG
    assert all(r == ("ok", "") for r in results.values())
