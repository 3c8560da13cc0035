"""``agentd run --once --dry-run``: what a sweep would do, without doing any of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from config import Config
from daemon.selection import Planned, Selection


def start_order(planned: list[Planned]) -> list[Planned]:
    """The order the executor starts projects in when each ends before the next is due:
    repeatedly the first project, in priority order, whose dependencies have started."""
    order: list[Planned] = []
    placed: set[str] = set()
    in_run = {p.name for p in planned}
    remaining = list(planned)
    while remaining:
        for project in remaining:
            if all(d in placed or d not in in_run for d in project.deps):
                order.append(project)
                placed.add(project.name)
                remaining.remove(project)
                break
        else:  # only with a dependency on a project that failed before starting
            order += remaining
            break
    return order


def plan_dict(config: Config, selection: Selection, state_dir: Path, date: str) -> dict[str, Any]:
    run = config.settings.run
    return {
        "dry_run": True,
        "config": str(config.path),
        "state_dir": str(state_dir),
        "date": date,
        "mode": {
            "project_parallelism": run.project_parallelism,
            "max_parallel_projects": run.bound,
        },
        "to_run": [
            {
                "name": p.name,
                "path": str(p.path),
                "tasks": [t for t in p.tasks if t not in p.done],
                "done_today": sorted(p.done),
                "after": list(p.deps),
            }
            for p in start_order(selection.run)
        ],
        "failed": selection.failed,
        "skipped": selection.skipped,
    }


def render_plan(plan: dict[str, Any], zone: str) -> str:
    mode = plan["mode"]
    bound = mode["max_parallel_projects"]
    lines = [
        "dry run: nothing is run and nothing is written",
        f"config:  {plan['config']}",
        f"state:   {plan['state_dir']}",
        f"date:    {plan['date']} ({zone})",
        "mode:    "
        + (
            f"parallel, at most {bound} projects at once"
            if mode["project_parallelism"]
            else "serial, one project at a time"
        ),
        "",
        f"to run, in start order ({len(plan['to_run'])}):",
    ]
    width = max((len(p["name"]) for p in plan["to_run"]), default=0)
    for i, project in enumerate(plan["to_run"], 1):
        extra = ""
        if project["after"]:
            extra += f"  (after {', '.join(project['after'])})"
        if project["done_today"]:
            extra += f"  [done today: {', '.join(project['done_today'])}]"
        lines.append(f"  {i:>3}. {project['name']:<{width}}  {', '.join(project['tasks'])}{extra}")
    for title, key in (("failed", "failed"), ("skipped", "skipped")):
        if plan[key]:
            lines += ["", f"{title} ({len(plan[key])}):"]
            width = max(len(n) for n in plan[key])
            lines += [f"  {name:<{width}}  {reason}" for name, reason in plan[key].items()]
    return "\n".join(lines) + "\n"
