"""Which projects a sweep runs, which it skips and why (SPEC section 4, step 2).

Pure over the configuration and a state snapshot (the directory check is passed in), so
every rule is tested with plain tables. The executor runs only what this hands it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from agentd.config import Config
from agentd.state import Snapshot


@dataclass(frozen=True)
class Planned:
    name: str
    path: Path
    tasks: tuple[str, ...]
    done: frozenset[str]  # tasks that already succeeded today (skipped inside the project)
    deps: tuple[str, ...]  # dependencies that are part of this sweep (to run, or failed)


@dataclass
class Selection:
    chosen: list[Planned] = field(default_factory=list)  # in start priority (see ordering)
    failed: dict[str, str] = field(default_factory=dict)  # name -> reason
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason
    # Filled in by ordering.order: last known durations (None: never run), and the
    # durations the order assumed (unknown ones counted as the longest known).
    expected: dict[str, float | None] = field(default_factory=dict)
    assumed: dict[str, float] = field(default_factory=dict)
    unknown_task_s: float = 1.0  # what each never-run task was counted as

    def planned(self, name: str) -> Planned:
        return next(p for p in self.chosen if p.name == name)


def directory_problem(path: Path) -> str | None:
    """Why tasks could not run in ``path``, in words that point at the fix."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        if path.is_symlink():
            target = os.readlink(path)
            return f"project path {path} is a symbolic link to {target}, which does not exist"
        return f"project directory {path} does not exist"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"project path {path} is a loop of symbolic links"
        return f"project directory {path} cannot be reached: {exc.strerror}"
    if not stat.S_ISDIR(found.st_mode):
        return f"project path {path} is not a directory"
    if not os.access(path, os.X_OK):
        return f"project directory {path} cannot be entered: permission denied"
    return None


def select(
    config: Config,
    snapshot: Snapshot,
    date: str,
    only: Collection[str] | None = None,
    force: bool = False,
    path_problem: Callable[[Path], str | None] = directory_problem,
) -> Selection:
    out = Selection()
    eligible: list[Planned] = []
    for spec in config.projects:
        if only is not None and spec.name not in only:
            continue
        if not spec.enabled:
            out.skipped[spec.name] = "disabled"
            continue
        path = config.project_dir(spec)
        problem = path_problem(path)
        if problem:
            out.failed[spec.name] = problem
            continue
        tasks = tuple(config.task_names(spec))
        done = (
            frozenset()
            if force
            else frozenset(t for t in tasks if snapshot.done_today(spec.name, t, date))
        )
        if len(done) == len(tasks):
            which = "its task" if len(tasks) == 1 else f"all {len(tasks)} tasks"
            out.skipped[spec.name] = f"done today: {which} succeeded on {date}"
            continue
        eligible.append(Planned(spec.name, path, tasks, done, ()))

    cap = config.settings.run.max_projects
    if cap and len(eligible) > cap:
        # Least recently completed first; Python's sort is stable, so ties keep config order.
        keep = {
            p.name for p in sorted(eligible, key=lambda p: snapshot.last_finished(p.name))[:cap]
        }
        for planned in eligible:
            if planned.name not in keep:
                out.skipped[planned.name] = f"max_projects = {cap} reached"
        eligible = [p for p in eligible if p.name in keep]

    in_sweep = {p.name for p in eligible} | set(out.failed)
    for planned in eligible:
        deps = config.project(planned.name).depends_on
        out.chosen.append(
            Planned(
                planned.name,
                planned.path,
                planned.tasks,
                planned.done,
                tuple(d for d in deps if d in in_sweep),
            )
        )
    return out
