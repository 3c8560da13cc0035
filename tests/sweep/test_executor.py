"""The executor in-process: each project is a thread the test holds until it lets it end,
so the bound, the eager start and the skips are seen at the moment they happen, in
milliseconds, without a process or a sleep (tests/sweep/test_concurrency.py shows the same
through real processes)."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable

import pytest

from agentd.daemon.model.results import ProjectResult
from agentd.daemon.model.status import ProjectStatus
from agentd.daemon.sweep import executor
from agentd.daemon.sweep.executor import fan_out
from agentd.daemon.sweep.selection import Planned
from agentd.daemon.tasks.stop import StopToken
from tests.builders import dag
from tests.helpers import DEADLINE


class Projects:
    """The injected run_project: a project starts, then runs until ``end`` lets it finish,
    with the outcome the test chose for it."""

    def __init__(
        self, fail: Iterable[str] = (), crash: Iterable[str] = (), exits: Iterable[str] = ()
    ) -> None:
        self.fail = set(fail)
        self.crash = set(crash)
        self.exits = set(exits)
        self.changed = threading.Condition()
        self.started: list[str] = []
        self.running: set[str] = set()
        self.peak = 0
        self.allowed: set[str] = set()
        self.threads: dict[str, threading.Thread] = {}

    def __call__(self, project: Planned) -> ProjectResult:
        name = project.name
        with self.changed:
            self.started.append(name)
            self.threads[name] = threading.current_thread()
            self.running.add(name)
            self.peak = max(self.peak, len(self.running))
            self.changed.notify_all()
            if not self.changed.wait_for(lambda: name in self.allowed, timeout=DEADLINE):
                raise AssertionError(f"{name} was never let end")
            self.running.discard(name)
        if name in self.crash:
            raise RuntimeError("boom")
        if name in self.exits:
            raise SystemExit(3)  # ends a thread silently: no traceback, no excepthook
        if name in self.fail:
            return ProjectResult(
                name, ProjectStatus.FAILED, "x", blocks=f"dependency failed: {name}"
            )
        return ProjectResult(name, ProjectStatus.OK)

    def wait_started(self, count: int) -> list[str]:
        """Wait until ``count`` projects have started; the ones that have, in order."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.started) >= count, timeout=DEADLINE):
                raise AssertionError(f"only {self.started} started, waited for {count}")
            return list(self.started)

    def now_running(self) -> set[str]:
        with self.changed:
            return set(self.running)

    def end(self, *names: str) -> None:
        """Let ``names`` finish, and wait until the executor has their results: each
        project runs on a thread of its own that hands its result over and ends, so a
        second end is never taken before an earlier one."""
        with self.changed:
            self.allowed.update(names)
            self.changed.notify_all()
            threads = [self.threads[name] for name in names]
        for thread in threads:
            thread.join(DEADLINE)
            assert not thread.is_alive(), f"{thread.name} did not end"


class Sweep:
    """``fan_out`` on a thread of its own, so the test can hold and release projects."""

    def __init__(
        self,
        planned: list[Planned],
        bound: int,
        projects: Projects,
        settled: dict[str, ProjectResult] | None = None,
    ) -> None:
        self.stop = StopToken()
        self.results: dict[str, ProjectResult] | None = None
        self.finished = threading.Event()

        def target() -> None:
            try:
                self.results = fan_out(planned, bound, projects, self.stop, settled)
            finally:
                self.finished.set()

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def outcomes(self) -> dict[str, tuple[str, str]]:
        """Wait for the sweep to end: each project's (status, reason)."""
        assert self.finished.wait(DEADLINE), "the executor never returned"
        self.thread.join()
        self.stop.close()
        assert self.results is not None, "the executor raised"
        return {name: (r.status, r.reason) for name, r in self.results.items()}


def test_the_bound_is_reached_and_never_exceeded() -> None:
    projects = Projects()
    sweep = Sweep(dag("a b c d e f"), 3, projects)
    assert projects.wait_started(3) == ["a", "b", "c"]
    assert projects.now_running() == {"a", "b", "c"}
    # Each end frees one slot, taken at once by the next project in priority order.
    projects.end("b")
    assert projects.wait_started(4)[3] == "d"
    assert projects.now_running() == {"a", "c", "d"}
    projects.end("a", "c")
    assert projects.wait_started(6)[4:] == ["e", "f"]
    projects.end("d", "e", "f")
    assert sweep.outcomes() == dict.fromkeys("abcdef", ("ok", ""))
    assert projects.peak == 3


def test_a_bound_of_one_runs_one_at_a_time() -> None:
    projects = Projects()
    sweep = Sweep(dag("a b c"), 1, projects)
    for count, name in enumerate("abc", start=1):
        assert projects.wait_started(count)[-1] == name
        assert projects.now_running() == {name}
        projects.end(name)
    assert sweep.outcomes() == dict.fromkeys("abc", ("ok", ""))
    assert projects.peak == 1


def test_a_dependant_starts_as_soon_as_its_own_dependency_ends() -> None:
    """No levels: after_quick does not wait for slow, which is on another branch."""
    projects = Projects()
    sweep = Sweep(dag("slow quick after_slow:slow after_quick:quick"), 3, projects)
    assert projects.wait_started(2) == ["slow", "quick"]
    projects.end("quick")
    assert projects.wait_started(3)[2] == "after_quick"
    assert projects.now_running() == {"slow", "after_quick"}  # slow still holds its slot
    projects.end("slow")
    assert projects.wait_started(4)[3] == "after_slow"
    projects.end("after_slow", "after_quick")
    assert sweep.outcomes() == dict.fromkeys(
        ["slow", "quick", "after_slow", "after_quick"], ("ok", "")
    )


def test_a_freed_slot_goes_to_the_ready_project_of_highest_priority() -> None:
    # z (priority 2) becomes ready when x ends and goes before w (priority 3), which was
    # ready all along.
    projects = Projects()
    sweep = Sweep(dag("x y z:x w"), 2, projects)
    assert projects.wait_started(2) == ["x", "y"]
    projects.end("x")
    assert projects.wait_started(3)[2] == "z"
    projects.end("y")
    assert projects.wait_started(4)[3] == "w"
    projects.end("z", "w")
    assert sweep.outcomes() == dict.fromkeys("xyzw", ("ok", ""))


def test_dependants_of_a_failed_project_are_skipped_and_never_run() -> None:
    projects = Projects(fail={"base"})
    sweep = Sweep(dag("base free mid:base top:mid side:base,free"), 2, projects)
    assert projects.wait_started(2) == ["base", "free"]
    projects.end("base")
    # The failure frees its slot; none of its dependants may take it.
    projects.end("free")
    assert sweep.outcomes() == {
        "base": ("failed", "x"),
        "free": ("ok", ""),
        "mid": ("skipped", "dependency failed: base"),
        "side": ("skipped", "dependency failed: base"),
        "top": ("skipped", "dependency skipped: mid"),
    }
    assert projects.started == ["base", "free"]


def test_a_failure_skips_dependants_while_other_projects_still_run() -> None:
    projects = Projects(fail={"base"})
    sweep = Sweep(dag("base long mid:base after:mid other"), 2, projects)
    assert projects.wait_started(2) == ["base", "long"]
    projects.end("base")
    # The slot base freed goes to other (mid and after are skipped), long still running.
    assert projects.wait_started(3)[2] == "other"
    assert projects.now_running() == {"long", "other"}
    projects.end("long", "other")
    outcomes = sweep.outcomes()
    assert outcomes["mid"] == ("skipped", "dependency failed: base")
    assert outcomes["after"] == ("skipped", "dependency skipped: mid")
    assert projects.started == ["base", "long", "other"]


def test_a_project_that_raises_is_an_error_that_blocks_its_dependants() -> None:
    projects = Projects(crash={"bad"})
    sweep = Sweep(dag("bad good after:bad"), 2, projects)
    projects.wait_started(2)
    projects.end("bad", "good")
    assert sweep.outcomes() == {
        "bad": ("error", "internal error: RuntimeError('boom')"),
        "good": ("ok", ""),
        "after": ("skipped", "dependency failed: bad"),
    }
    assert projects.started == ["bad", "good"]


# The exception that ends the project's thread is expected; pytest reports it as a warning.
ENDED_THREAD = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


@ENDED_THREAD
def test_a_project_thread_ended_by_a_base_exception_still_hands_a_result_over() -> None:
    """A worker that posted nothing would leave the loop waiting for ever, the sweep hung."""
    projects = Projects(exits={"bad"})
    sweep = Sweep(dag("bad good after:bad"), 2, projects)
    projects.wait_started(2)
    projects.end("bad", "good")
    assert sweep.outcomes() == {
        "bad": ("error", "internal error: its thread ended without a result"),
        "good": ("ok", ""),
        "after": ("skipped", "dependency failed: bad"),
    }


@ENDED_THREAD
def test_a_crash_whose_log_fails_still_hands_its_result_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class BrokenLog:
        def exception(self, *args: object, **kwargs: object) -> None:
            raise OSError("the log cannot be written")

    monkeypatch.setattr(executor, "log", BrokenLog())
    projects = Projects(crash={"bad"})
    sweep = Sweep(dag("bad after:bad"), 1, projects)
    projects.wait_started(1)
    projects.end("bad")
    assert sweep.outcomes() == {
        "bad": ("error", "internal error: RuntimeError('boom')"),
        "after": ("skipped", "dependency failed: bad"),
    }


def test_dependants_of_a_settled_failure_never_run() -> None:
    gone = ProjectResult("gone", ProjectStatus.FAILED, "missing", blocks="dependency failed: gone")
    projects = Projects()
    sweep = Sweep(dag("app:gone web:app other"), 2, projects, settled={"gone": gone})
    assert projects.wait_started(1) == ["other"]
    projects.end("other")
    assert sweep.outcomes() == {
        "gone": ("failed", "missing"),
        "app": ("skipped", "dependency failed: gone"),
        "web": ("skipped", "dependency skipped: app"),
        "other": ("ok", ""),
    }
    assert projects.started == ["other"]


def test_a_stop_lets_running_projects_end_and_starts_nothing_more() -> None:
    projects = Projects()
    sweep = Sweep(dag("a b c d:a"), 2, projects)
    assert projects.wait_started(2) == ["a", "b"]
    sweep.stop.request()
    projects.end("a")  # a slot is free and d is ready: neither c nor d may take it
    assert not sweep.finished.is_set()  # b still runs, and the sweep waits for it
    projects.end("b")
    assert sweep.outcomes() == {
        "a": ("ok", ""),
        "b": ("ok", ""),
        "c": ("skipped", "sweep interrupted before it started"),
        "d": ("skipped", "sweep interrupted before it started"),
    }
    assert projects.started == ["a", "b"]


def test_random_graphs_keep_every_slot_busy_in_priority_order() -> None:
    """Against the rule stated the slow way: after every end, the ready projects (all
    dependencies ended OK, not yet started) fill the free slots in priority order."""
    rng = random.Random(7)
    for _ in range(40):
        names = [f"p{i}" for i in range(rng.randint(1, 9))]
        spec = " ".join(
            name + ":" + ",".join(rng.sample(names[:i], rng.randint(0, min(i, 2))))
            for i, name in enumerate(names)
        )
        planned = dag(spec)
        fail = {name for name in names if rng.random() < 0.2}
        bound = rng.randint(1, 4)
        projects = Projects(fail=fail)
        sweep = Sweep(planned, bound, projects)
        ended: set[str] = set()
        blocked: set[str] = set()
        expected: list[str] = []
        while True:
            for p in planned:  # what the rule starts now, in priority order
                if len(expected) - len(ended) == bound:
                    break
                if p.name in expected or p.name in blocked:
                    continue
                if set(p.deps) & blocked:
                    blocked.add(p.name)
                elif set(p.deps) <= ended - fail:
                    expected.append(p.name)
            if len(expected) == len(ended):
                break
            assert projects.wait_started(len(expected)) == expected
            assert projects.now_running() == set(expected) - ended
            name = rng.choice(sorted(set(expected) - ended))
            ended.add(name)
            if name in fail:
                blocked.add(name)
            projects.end(name)
        outcomes = sweep.outcomes()
        assert projects.started == expected
        assert projects.peak <= bound
        assert {n for n, (status, _) in outcomes.items() if status == "skipped"} == (
            set(names) - set(expected)
        )


# -- projects another host holds: tried again without a slot --------------------------------


def test_a_project_held_elsewhere_is_tried_again_without_holding_a_slot() -> None:
    """ "held" is refused twice (another host's claim), its dependant is skipped at the
    first refusal, the other project runs meanwhile in the one slot, and the third try
    runs it; the waits between tries grow by half from ``first`` up to ``every``."""
    from agentd.daemon.model.clock import SYSTEM_CLOCK
    from agentd.daemon.sweep.executor import Retry

    tries: list[str] = []
    refusals = {"held": 2}

    def run(project: Planned) -> ProjectResult:
        tries.append(project.name)
        if refusals.get(project.name):
            refusals[project.name] -= 1
            blocks = f"dependency {project.name} is running in run r-9"
            return ProjectResult(project.name, ProjectStatus.SKIPPED, "claimed", blocks=blocks)
        return ProjectResult(project.name, ProjectStatus.OK)

    retry = Retry(lambda r: r.reason == "claimed", 0.03, SYSTEM_CLOCK, first=0.01)
    waits = [retry.after(None)]
    for _ in range(4):
        waits.append(retry.after(waits[-1]))
    assert waits == pytest.approx([0.01, 0.015, 0.0225, 0.03, 0.03])
    results = fan_out(dag("held other after:held"), 1, run, StopToken(), retry=retry)
    assert results["held"].status is ProjectStatus.OK
    assert results["other"].status is ProjectStatus.OK
    assert (results["after"].status, results["after"].reason) == (
        ProjectStatus.SKIPPED,
        "dependency held is running in run r-9",
    )
    assert tries[:2] == ["held", "other"]  # the slot went to "other" at once
    assert tries.count("held") == 3
    assert "after" not in tries


def test_a_stop_ends_the_wait_with_the_last_refusal() -> None:
    """A stop while a project waits for its next try (an hour away) ends the wait at once,
    the project's last refusal its result."""
    from agentd.daemon.model.clock import SYSTEM_CLOCK
    from agentd.daemon.sweep.executor import Retry

    stop = StopToken()

    def wanted(result: ProjectResult) -> bool:
        stop.request()  # the stop comes once the project is put to wait
        return True

    def run(project: Planned) -> ProjectResult:
        return ProjectResult(project.name, ProjectStatus.SKIPPED, "claimed")

    retry = Retry(wanted, 3600, SYSTEM_CLOCK, first=3600)
    results = fan_out(dag("held"), 1, run, stop, retry=retry)
    assert (results["held"].status, results["held"].reason) == (ProjectStatus.SKIPPED, "claimed")
