"""Which projects a sweep runs, which it skips and why (SPEC section 4, step 2).

Pure over the configuration and a state snapshot (the directory check, this host's name
and what the other hosts of a shared store answered are passed in), so every rule is
tested with plain tables. The executor runs only what this hands it.

Several hosts: a project pinned to other hosts (``hosts = ["gpu-*"]``) is not this
host's to run; one whose directory is missing here is left to the hosts that may have it,
and fails once, on the first host to find, at the end of its sweep, that none has it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path

from agentd.config import Config
from agentd.config.model import ProjectSpec
from agentd.state import Snapshot
from agentd.state.claims import this_host


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
    # Missing here, and no other host known when the sweep started: skipped for now, and
    # decided when this host's sweep ends (presence.settle_later).
    later: list[str] = field(default_factory=list)

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


def directory_missing(path: Path) -> bool:
    """Nothing at ``path`` here (a dangling link counts): on a shared store, perhaps
    another host's project. A directory that is there but unusable is this host's failure."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


class Absence(StrEnum):
    """What the hosts of a shared store answered about a project missing on this host."""

    ELSEWHERE = "elsewhere"  # other hosts may have it: leave it to them
    NOWHERE = "nowhere"  # no host has it, and this sweep is the one to fail it
    FAILED_ELSEWHERE = "failed elsewhere"  # no host has it, another host failed it
    UNASKED = "unasked"  # nobody was asked (a dry run writes nothing)
    UNANSWERED = "unanswered"  # the store could not be asked
    # No other host known yet: left for now, and asked again when this sweep ends (hosts
    # that started with it have said what they have by then).
    LATER = "later"


@dataclass(frozen=True)
class Absent:
    kind: Absence
    hosts: tuple[str, ...] = ()  # ELSEWHERE: those that may have it; NOWHERE: those asked
    detail: str = ""  # UNANSWERED: why


def pinned_away(spec: ProjectSpec, host: str) -> str | None:
    """Why ``host`` may not run ``spec`` (its ``hosts`` patterns), or None. Host names
    match regardless of case, as DNS names do."""
    patterns = spec.hosts
    if not patterns or any(fnmatchcase(host.lower(), p.lower()) for p in patterns):
        return None
    return "pinned to hosts: " + ", ".join(patterns)


def missing_here(
    config: Config,
    only: Collection[str] | None,
    host: str,
    missing: Callable[[Path], bool] = directory_missing,
) -> dict[str, Path]:
    """The projects this sweep would run but whose directory is not on this host."""
    return {
        spec.name: config.project_dir(spec)
        for spec in config.projects
        if (only is None or spec.name in only)
        and spec.enabled
        and pinned_away(spec, host) is None
        and missing(config.project_dir(spec))
    }


def absent_verdict(path: Path, host: str, absent: Absent) -> tuple[bool, str]:
    """(failed, reason) of a project missing on ``host``."""
    gone = f"{path} does not exist on {host}"
    if absent.kind is Absence.ELSEWHERE:
        return False, f"left for another host: {gone}"
    if absent.kind is Absence.NOWHERE:
        asked = ", ".join(absent.hosts)
        return True, f"project directory {path} does not exist on any host (asked: {asked})"
    if absent.kind is Absence.FAILED_ELSEWHERE:
        return False, "failed by another host: not on any host"
    if absent.kind in (Absence.UNASKED, Absence.LATER):
        return False, f"left for another host: {gone} (failed if no host has it)"
    return True, f"{gone}, and the other hosts could not be asked: {absent.detail}"


def _kept_out(spec: ProjectSpec, host: str) -> str | None:
    """Why this host does not run ``spec`` tonight whatever its state, None if it may."""
    if not spec.enabled:
        return "disabled"
    return pinned_away(spec, host)


def _done_today(
    config: Config, spec: ProjectSpec, snapshot: Snapshot, date: str, force: bool
) -> tuple[tuple[str, ...], frozenset[str], str | None]:
    """(tasks, those done today, why the whole project is skipped as done or None)."""
    tasks = tuple(config.task_names(spec))
    if force:
        return tasks, frozenset(), None
    done = frozenset(t for t in tasks if snapshot.done_today(spec.name, t, date))
    if len(done) < len(tasks):
        return tasks, done, None
    which = "its task" if len(tasks) == 1 else f"all {len(tasks)} tasks"
    return tasks, done, f"done today: {which} succeeded on {date}"


def select(
    config: Config,
    snapshot: Snapshot,
    date: str,
    only: Collection[str] | None = None,
    force: bool = False,
    path_problem: Callable[[Path], str | None] = directory_problem,
    host: str | None = None,
    absent: Mapping[str, Absent] | None = None,
) -> Selection:
    """``host``: this host (None: ``claims.this_host()``); ``absent``: the projects
    missing here on a shared store, with what the hosts answered (None: one host, where a
    missing directory is a failure).

    The skip guard comes before the directory: a project whose every task succeeded today
    (on another host, or imported) is done, whether or not its directory is here."""
    here = this_host() if host is None else host
    out = Selection()
    eligible: list[Planned] = []
    for spec in config.projects:
        if only is not None and spec.name not in only:
            continue
        kept_out = _kept_out(spec, here)
        if kept_out is not None:
            out.skipped[spec.name] = kept_out
            continue
        tasks, done, done_reason = _done_today(config, spec, snapshot, date, force)
        if done_reason is not None:
            out.skipped[spec.name] = done_reason
            continue
        path = config.project_dir(spec)
        verdict = _directory_verdict(spec.name, path, here, absent, path_problem, out)
        if verdict is not None:
            failed, reason = verdict
            (out.failed if failed else out.skipped)[spec.name] = reason
            continue
        eligible.append(Planned(spec.name, path, tasks, done, ()))
    eligible = _capped(config, snapshot, eligible, out)
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


def _directory_verdict(
    name: str,
    path: Path,
    host: str,
    absent: Mapping[str, Absent] | None,
    path_problem: Callable[[Path], str | None],
    out: Selection,
) -> tuple[bool, str] | None:
    """(failed, reason) of a project whose directory keeps it from running here, or None;
    one left until the sweep's end is noted in ``out.later``."""
    if absent is not None and name in absent:
        if absent[name].kind is Absence.LATER:
            out.later.append(name)
        return absent_verdict(path, host, absent[name])
    problem = path_problem(path)
    return (True, problem) if problem else None


def _capped(
    config: Config, snapshot: Snapshot, eligible: list[Planned], out: Selection
) -> list[Planned]:
    """max_projects: the least recently completed first; the rest skipped."""
    cap = config.settings.run.max_projects
    if not cap or len(eligible) <= cap:
        return eligible
    # Python's sort is stable, so ties keep config order.
    keep = {p.name for p in sorted(eligible, key=lambda p: snapshot.last_finished(p.name))[:cap]}
    for planned in eligible:
        if planned.name not in keep:
            out.skipped[planned.name] = f"max_projects = {cap} reached"
    return [p for p in eligible if p.name in keep]
