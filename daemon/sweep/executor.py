"""Running planned projects under a bound, each as soon as its dependencies allow.

There are no levels or barriers: whenever a project ends, every project it unblocks becomes
ready, and ready projects start in priority order while a slot is free. A dependency that
did not end OK skips its dependants (and theirs) with the reason it gives.

Each running project has a thread of its own; the coordinating loop runs on the caller's
thread and only starts projects and collects their results.
"""

from __future__ import annotations

import heapq
import queue
import threading
from collections.abc import Callable

import structlog

from agentd.daemon.model.results import ProjectResult
from agentd.daemon.sweep.ordering import dependants_of
from agentd.daemon.sweep.selection import Planned
from agentd.daemon.tasks.stop import StopToken

log = structlog.get_logger("agentd.executor")

RunProject = Callable[[Planned], ProjectResult]


def execute(
    planned: list[Planned],
    bound: int,
    run_project: RunProject,
    stop: StopToken,
    settled: dict[str, ProjectResult] | None = None,
) -> dict[str, ProjectResult]:
    """Run ``planned`` (in priority order) with at most ``bound`` at once.

    ``settled`` holds results known before anything runs (a project whose directory is
    missing); their dependants are skipped like those of any failed project.
    """
    results: dict[str, ProjectResult] = dict(settled or {})
    dependants = dependants_of(planned)
    # Ready projects by priority, and how many dependencies each still waits for: a finish
    # costs its own dependants and a heap push, never a scan of the whole sweep.
    index = {p.name: i for i, p in enumerate(planned)}
    waiting = {p.name: len(dict.fromkeys(p.deps)) for p in planned}
    ready = [(i, p.name) for i, p in enumerate(planned) if not waiting[p.name]]
    started: set[str] = set()
    done: queue.SimpleQueue[ProjectResult] = queue.SimpleQueue()
    running = 0

    def skip_dependants(result: ProjectResult) -> None:
        # Iterative: a long dependency chain would exceed the recursion limit.
        blocked = [result]
        while blocked:
            current = blocked.pop()
            if current.blocks is None:
                continue
            for name in dependants.get(current.name, []):
                if name not in results:
                    skipped = ProjectResult(
                        name, "skipped", current.blocks, blocks=f"dependency skipped: {name}"
                    )
                    results[name] = skipped
                    blocked.append(skipped)

    def settle(result: ProjectResult) -> None:
        results[result.name] = result
        for name in dependants.get(result.name, []):
            waiting[name] -= 1
            if waiting[name] == 0:
                heapq.heappush(ready, (index[name], name))
        skip_dependants(result)

    for result in list(results.values()):
        settle(result)

    def worker(project: Planned) -> None:
        try:
            result = run_project(project)
        except Exception as exc:
            log.exception("project.crashed", project=project.name)
            result = ProjectResult(
                project.name,
                "error",
                f"internal error: {exc!r}",
                blocks=f"dependency failed: {project.name}",
            )
        done.put(result)

    interrupted = False
    while True:
        if stop.requested and not interrupted:
            interrupted = True
            for p in planned:
                if p.name not in results and p.name not in started:
                    results[p.name] = ProjectResult(
                        p.name, "skipped", "sweep interrupted before it started"
                    )
        while running < bound and ready:
            i, name = heapq.heappop(ready)
            if name in results:  # skipped since it became ready
                continue
            started.add(name)
            running += 1
            threading.Thread(
                target=worker, args=(planned[i],), name=f"project:{name}", daemon=True
            ).start()
        if running == 0:
            break
        result = done.get()
        running -= 1
        settle(result)
    for p in planned:  # unreachable with a validated (acyclic) configuration
        if p.name not in results:
            results[p.name] = ProjectResult(p.name, "error", "unresolvable dependencies")
    return results
