"""Which run ``agentd log`` shows: the words given read as run id, project and task, and
the run picked among those of the state directory (see cmd_log's docstring for the rules).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentd.daemon.cli.exits import UsageError
from agentd.daemon.output.textout import harmless
from agentd.daemon.tasks.tasklog import LOG_SUFFIX, task_log_path


@dataclass(frozen=True)
class Run:
    run_id: str
    path: Path
    report: dict[str, Any] | None  # None while the sweep runs, or if it wrote none


def resolve_names(
    names: list[str], run_option: str | None, root: Path, runs: list[str]
) -> tuple[str | None, str, str | None]:
    """(run id or None, project, task or None) from the words given (module docstring)."""
    if any(not name for name in names):
        raise UsageError("an empty name")
    if run_option is not None:
        if len(names) > 2:
            raise UsageError("with --run, give PROJECT [TASK]")
        return run_option, names[0], names[1] if len(names) == 2 else None
    if len(names) > 3:
        raise UsageError("too many names: agentd log [RUN_ID] PROJECT [TASK]")
    if len(names) == 3:
        return names[0], names[1], names[2]
    if len(names) == 1:
        return None, names[0], None
    first, second = names
    if not any(run.startswith(first) for run in runs):
        return None, first, second
    if any((root / run / first).is_dir() for run in runs):
        raise UsageError(
            f"{first!r} is both a run id (or its start) and a project: say which, with "
            f"`agentd log --run RUN_ID {first} TASK` or `agentd log RUN_ID PROJECT TASK`"
        )
    return first, second, None


def pick_run(
    root: Path, runs: list[str], run_id: str | None, project: str, task: str | None
) -> Run:
    if run_id is not None:
        matches = [run for run in runs if run.startswith(run_id)]
        if len(matches) > 1:
            raise UsageError(f"{run_id!r} matches {len(matches)} runs: {', '.join(matches[:5])}")
        if not matches:
            raise UsageError(f"no run {run_id!r} in {root}; the latest: {_latest(runs)}")
        return read_run(root, matches[0])
    if task is not None:
        for name in reversed(runs):
            if task_log_path(root / name, project, task).is_file():
                return read_run(root, name)
    # No run has that task's log: the project's latest run says which tasks it has.
    for name in reversed(runs):
        if log_files(root / name / project):
            return read_run(root, name)
    latest = runs[-1]
    raise UsageError(
        f"no run in {root} has a log of project {project!r}; the latest run, {latest}, has "
        f"logs of: {listing(projects_with_logs(root / latest))}"
    )


def read_run(root: Path, name: str) -> Run:
    path = root / name / "report.json"
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        report = None  # running, or it ended without one: the logs are still there
    if report is not None and not _report_shaped(report):
        # A report that is not one of ours is no guide to the logs; they are still there.
        print(harmless(f"agentd: {path} is damaged: shown without it"), file=sys.stderr)
        report = None
    return Run(name, root / name, report)


def _report_shaped(report: Any) -> bool:
    """What this command reads of a report: its projects and their tasks, as objects."""
    if not isinstance(report, dict):
        return False
    projects = report.get("projects", [])
    return isinstance(projects, list) and all(
        isinstance(project, dict)
        and isinstance(project.get("tasks", []), list)
        and all(isinstance(task, dict) for task in project.get("tasks", []))
        for project in projects
    )


def _latest(runs: list[str]) -> str:
    return ", ".join(reversed(runs[-5:]))


def listing(names: list[str]) -> str:
    return ", ".join(names) if names else "nothing"


def log_files(where: Path) -> list[Path]:
    try:
        return sorted(p for p in where.iterdir() if p.name.endswith(LOG_SUFFIX) and p.is_file())
    except OSError:
        return []


def projects_with_logs(run_path: Path) -> list[str]:
    try:
        return sorted(p.name for p in run_path.iterdir() if p.is_dir() and log_files(p))
    except OSError:
        return []
