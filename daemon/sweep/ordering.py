"""Which ready project starts first: the one with the longest expected work still behind it.

A sweep ends when its last project does, so the projects that hold the most work behind
them (their own expected duration plus the longest chain of dependants waiting for them)
should start first: classic critical-path list scheduling. Durations are the last known
durations from the state store. A task never run before counts as long as the longest
known task: an unknown is more likely to be a big job than a small one, and starting it
early costs little if it turns out short. With nothing known at all, every task counts
the same, so dependency chains go first, then file order.

Pure: the same inputs give the same order, and the dry run simulates the executor with it.
Everything here is O(n log n) in projects plus linear in dependency edges: a config of
ten thousand chained projects must plan in a blink, not in minutes.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import deque
from collections.abc import Iterable

from agentd.daemon.sweep.selection import Planned, Selection
from agentd.state import Snapshot


def task_durations(selection: Selection, snapshot: Snapshot) -> dict[str, list[float | None]]:
    """The last known duration of every task the sweep will run, per project, in task
    order; None for a task that never ran."""
    out: dict[str, list[float | None]] = {}
    for project in selection.chosen:
        mine = out.setdefault(project.name, [])
        for task in dict.fromkeys(project.tasks):
            if task in project.done:
                continue
            seconds = (snapshot.task(project.name, task) or {}).get("duration_s")
            if isinstance(seconds, int | float) and not isinstance(seconds, bool):
                mine.append(float(seconds))
            else:
                mine.append(None)
    return out


def order(selection: Selection, snapshot: Snapshot, keep_file_order: bool = False) -> Selection:
    """``selection`` with its projects in start priority, and the durations it assumed:
    known tasks at their last duration, each unknown one at the longest known task's."""
    tasks = task_durations(selection, snapshot)
    known = [d for mine in tasks.values() for d in mine if d is not None]
    longest = max(known) if known else 1.0
    expected: dict[str, float | None] = {}
    assumed: dict[str, float] = {}
    for project in selection.chosen:
        mine = tasks[project.name]
        assumed[project.name] = sum(longest if d is None else d for d in mine)
        expected[project.name] = None if None in mine else sum(d or 0.0 for d in mine)
    ranked = list(selection.chosen) if keep_file_order else rank(selection.chosen, assumed)
    return dataclasses.replace(
        selection, chosen=ranked, expected=expected, assumed=assumed, unknown_task_s=longest
    )


def dependants_of(planned: Iterable[Planned]) -> dict[str, list[str]]:
    """Who waits for whom, each dependant once, in ``planned`` order. A dependency outside
    ``planned`` (a failed project, say) is a key too, so its dependants can be found."""
    out: dict[str, list[str]] = {}
    for p in planned:
        for dep in dict.fromkeys(p.deps):
            out.setdefault(dep, []).append(p.name)
    return out


def rank(planned: list[Planned], durations: dict[str, float]) -> list[Planned]:
    """Longest remaining critical path first; file order among equals."""
    names = {p.name for p in planned}
    dependants: dict[str, list[str]] = {p.name: [] for p in planned}
    for p in planned:
        for dep in p.deps:
            if dep in names:
                dependants[dep].append(p.name)
    # Bottom levels, computed from the sinks up (iteratively: chains can be long).
    level: dict[str, float] = {}
    waiting = {name: len(dependants[name]) for name in names}
    stack = [name for name, count in waiting.items() if count == 0]
    by_name = {p.name: p for p in planned}
    while stack:
        name = stack.pop()
        level[name] = durations[name] + max((level[d] for d in dependants[name]), default=0.0)
        for dep in by_name[name].deps:
            if dep in names:
                waiting[dep] -= 1
                if waiting[dep] == 0:
                    stack.append(dep)
    index = {p.name: i for i, p in enumerate(planned)}
    return sorted(planned, key=lambda p: (-level.get(p.name, 0.0), index[p.name]))


def blocked_by(failed: Iterable[str], dependants: dict[str, list[str]]) -> set[str]:
    """``failed`` and everything that depends on them, directly or not."""
    blocked = set(failed)
    queue = deque(blocked)
    while queue:
        for name in dependants.get(queue.popleft(), ()):
            if name not in blocked:
                blocked.add(name)
                queue.append(name)
    return blocked


@dataclasses.dataclass(frozen=True)
class Simulated:
    starts: list[tuple[str, float]]  # (project, expected start offset), in start order
    makespan: float


def simulate(
    planned: list[Planned], durations: dict[str, float], bound: int, failed: set[str]
) -> Simulated:
    """What the executor would do with these durations: same bound, same priority rule.

    One finish at a time, and after each the free slots go to the ready projects of best
    priority, as in the executor; a dependency outside the sweep does not hold anyone up.
    """
    dependants = dependants_of(planned)
    blocked = blocked_by(failed, dependants)
    index = {p.name: i for i, p in enumerate(planned) if p.name not in blocked}
    waiting = {
        p.name: sum(1 for d in dict.fromkeys(p.deps) if d in index)
        for p in planned
        if p.name in index
    }
    ready = [(i, name) for name, i in index.items() if waiting[name] == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = 0.0
    starts: list[tuple[str, float]] = []
    while True:
        while ready and len(running) < bound:
            _, name = heapq.heappop(ready)
            starts.append((name, now))
            heapq.heappush(running, (now + durations[name], name))
        if not running:
            break
        now, name = heapq.heappop(running)
        for after in dependants.get(name, ()):
            if after in index:
                waiting[after] -= 1
                if waiting[after] == 0:
                    heapq.heappush(ready, (index[after], after))
    return Simulated(starts, now)
