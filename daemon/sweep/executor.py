"""Running planned projects under a bound, each as soon as its dependencies allow.

There are no levels or barriers: whenever a project ends, every project it unblocks becomes
ready, and ready projects start in priority order while a slot is free. A dependency that
did not end OK skips its dependants (and theirs) with the reason it gives.

Each running project has a thread of its own; the coordinating loop runs on the caller's
thread and only starts projects and collects their results.

A project another host holds on a shared store (``Retry``) is tried again until this
sweep has nothing else to do and the other host's claim ends (released, or stale: taken
over); its dependants are skipped at its first refusal, as those of any project held
elsewhere, and it waits without a slot.
"""

from __future__ import annotations

import heapq
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from agentd.daemon.model.clock import Clock
from agentd.daemon.model.results import ProjectResult
from agentd.daemon.model.status import ProjectStatus
from agentd.daemon.sweep.ordering import dependants_of
from agentd.daemon.sweep.selection import Planned
from agentd.daemon.tasks.stop import StopToken
from agentd.slog import structlog

log = structlog.get_logger("agentd.executor")

RunProject = Callable[[Planned], ProjectResult]
Settled = Callable[[ProjectResult], None]


@dataclass(frozen=True)
class Retry:
    """Results to try again later: ``wanted(result)`` says which (a project another host's
    live claim holds); tried again after ``first`` seconds, the wait growing by half each
    time up to ``every``, on ``clock``. Most claims met are of projects another host
    finishes in seconds or minutes: noticed soon after (a sweep that waits for nothing
    else ends then), while a long one costs a try per ``every``."""

    wanted: Callable[[ProjectResult], bool]
    every: float
    clock: Clock
    first: float = 0.25

    def after(self, last: float | None) -> float:
        """The wait before the next try, ``last`` the one before (None: first refusal)."""
        return min(self.every, self.first if last is None else last * 1.5)


def fan_out(
    planned: list[Planned],
    bound: int,
    run_project: RunProject,
    stop: StopToken,
    settled: dict[str, ProjectResult] | None = None,
    on_settled: Settled | None = None,
    retry: Retry | None = None,
) -> dict[str, ProjectResult]:
    """Run ``planned`` (in priority order) with at most ``bound`` at once.

    ``settled`` holds results known before anything runs (a project whose directory is
    missing); their dependants are skipped like those of any failed project.
    ``on_settled`` hears each of ``planned``'s results as soon as it is known, on this
    thread: a project skipped for a failed dependency then, not when the sweep ends.
    ``retry``: results to try again (see ``Retry``) until the claim that held them ends or
    ``stop`` is requested (then the last result stands).
    """
    return _FanOut(planned, run_project, settled, on_settled, retry).drive(bound, stop)


class _FanOut:
    """The coordinating loop's bookkeeping, on the caller's thread only."""

    def __init__(
        self,
        planned: list[Planned],
        run_project: RunProject,
        settled: dict[str, ProjectResult] | None,
        on_settled: Settled | None = None,
        retry: Retry | None = None,
    ) -> None:
        self.planned = planned
        self.run_project = run_project
        self.on_settled = on_settled
        self.retry = retry
        # Projects to try again: name -> (when, on retry.clock's monotonic time; the result
        # that stands if they are never tried again); and the last wait of each.
        self.deferred: dict[str, tuple[float, ProjectResult]] = {}
        self.waits: dict[str, float] = {}
        self.interrupted = False
        self.results: dict[str, ProjectResult] = dict(settled or {})
        self.dependants = dependants_of(planned)
        # Ready projects by priority, and how many dependencies each still waits for: a
        # finish costs its own dependants and a heap push, never a scan of the whole sweep.
        self.index = {p.name: i for i, p in enumerate(planned)}
        self.waiting = {p.name: len(dict.fromkeys(p.deps)) for p in planned}
        self.ready = [(i, p.name) for i, p in enumerate(planned) if not self.waiting[p.name]]
        self.started: set[str] = set()
        self.done: queue.SimpleQueue[ProjectResult] = queue.SimpleQueue()
        for result in list(self.results.values()):
            self.settle(result)

    def drive(self, bound: int, stop: StopToken) -> dict[str, ProjectResult]:
        running = 0
        while True:
            if stop.requested and not self.interrupted:
                self.interrupted = True
                self.skip_unstarted()
            self.wake_deferred()
            while running < bound and self.ready:
                i, name = heapq.heappop(self.ready)
                if name in self.results:  # skipped since it became ready
                    continue
                self.started.add(name)
                running += 1
                threading.Thread(
                    target=self.worker, args=(self.planned[i],), name=f"project:{name}", daemon=True
                ).start()
            if running == 0 and not self.deferred:
                break
            result = self.next_result(running, stop)
            if result is None:
                continue
            running -= 1
            if self.defer(result, stop):
                continue
            self.settle(result)
        for p in self.planned:  # unreachable with a validated (acyclic) configuration
            if p.name not in self.results:
                self.results[p.name] = ProjectResult(
                    p.name, ProjectStatus.ERROR, "unresolvable dependencies"
                )
        return self.results

    def next_result(self, running: int, stop: StopToken) -> ProjectResult | None:
        """The next project's result, or None when a deferred project is due (or a stop
        came) first."""
        if not self.deferred:
            return self.done.get()
        assert self.retry is not None
        due = min(when for when, _ in self.deferred.values())
        wait = max(0.0, due - self.retry.clock.monotonic())
        if running == 0:
            stop.wait(wait)
            return None
        try:
            return self.done.get(timeout=wait)
        except queue.Empty:
            return None

    def defer(self, result: ProjectResult, stop: StopToken) -> bool:
        """Keep ``result``'s project to try again later, if the retry rule wants it; its
        dependants are skipped now, with the reason its result gives."""
        if self.retry is None or stop.requested or not self.retry.wanted(result):
            return False
        last = self.waits.get(result.name)
        if last is None:
            self.skip_dependants(result)
        wait = self.waits[result.name] = self.retry.after(last)
        self.deferred[result.name] = (self.retry.clock.monotonic() + wait, result)
        return True

    def wake_deferred(self) -> None:
        """Deferred projects that are due go back to the ready heap; on a stop, their last
        result stands."""
        if not self.deferred:
            return
        assert self.retry is not None
        now = self.retry.clock.monotonic()
        for name, (when, result) in list(self.deferred.items()):
            if self.interrupted:
                del self.deferred[name]
                self.settle(result)
            elif when <= now:
                del self.deferred[name]
                heapq.heappush(self.ready, (self.index[name], name))

    def skip_unstarted(self) -> None:
        for p in self.planned:
            if p.name not in self.results and p.name not in self.started:
                self.record(
                    ProjectResult(
                        p.name, ProjectStatus.SKIPPED, "sweep interrupted before it started"
                    )
                )

    def skip_dependants(self, result: ProjectResult) -> None:
        # Iterative: a long dependency chain would exceed the recursion limit.
        blocked = [result]
        while blocked:
            current = blocked.pop()
            if current.blocks is None:
                continue
            for name in self.dependants.get(current.name, []):
                if name not in self.results:
                    skipped = ProjectResult(
                        name,
                        ProjectStatus.SKIPPED,
                        current.blocks,
                        blocks=f"dependency skipped: {name}",
                        blocked_by=current.name,
                    )
                    self.record(skipped)
                    blocked.append(skipped)

    def record(self, result: ProjectResult) -> None:
        self.results[result.name] = result
        if self.on_settled is None or result.name not in self.index:
            return
        try:
            self.on_settled(result)
        except Exception:  # a view that fails must not stop the projects it shows
            log.exception("observer.failed", project=result.name)

    def settle(self, result: ProjectResult) -> None:
        self.record(result)
        for name in self.dependants.get(result.name, []):
            self.waiting[name] -= 1
            if self.waiting[name] == 0:
                heapq.heappush(self.ready, (self.index[name], name))
        self.skip_dependants(result)

    def worker(self, project: Planned) -> None:
        """On the project's own thread: its result, whatever happens, back to the loop.

        Posted in ``finally``: a BaseException (SystemExit ends a thread without a word) or
        a crash log that fails must not leave the loop waiting for a result for ever."""
        result: ProjectResult | None = None
        try:
            result = self.run_project(project)
        except Exception as exc:
            result = _crashed(project, f"internal error: {exc!r}")
            log.exception("project.crashed", project=project.name)
        finally:
            if result is None:  # a BaseException is on its way out of this thread
                result = _crashed(project, "internal error: its thread ended without a result")
            self.done.put(result)


def _crashed(project: Planned, reason: str) -> ProjectResult:
    return ProjectResult(
        project.name, ProjectStatus.ERROR, reason, blocks=f"dependency failed: {project.name}"
    )
