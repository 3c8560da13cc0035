"""``agentd run --once --dry-run``: what a sweep would do, without doing any of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentd.config import Config
from agentd.daemon.output.report import describe_mode
from agentd.daemon.output.textout import harmless
from agentd.daemon.sweep import budget
from agentd.daemon.sweep.budget import describe
from agentd.daemon.sweep.ordering import simulate
from agentd.daemon.sweep.selection import Selection
from agentd.daemon.tasks import gitrepo
from agentd.state import Snapshot


def plan_dict(
    config: Config, selection: Selection, state_dir: Path, date: str, snapshot: Snapshot
) -> dict[str, Any]:
    run = config.settings.run
    simulated = simulate(selection.run, selection.assumed, run.bound, set(selection.failed))
    by_name = {p.name: p for p in selection.run}
    unknown = sorted(name for name, d in selection.expected.items() if d is None)
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
                "name": name,
                "path": str(by_name[name].path),
                "tasks": [t for t in by_name[name].tasks if t not in by_name[name].done],
                "done_today": sorted(by_name[name].done),
                "after": list(by_name[name].deps),
                "expected_start_s": round(start, 1),
                "expected_duration_s": selection.expected.get(name),
                "repository": _repository(config, by_name[name].name, by_name[name].path),
                "budget_stops": _budget_stops(config, by_name[name].tasks, snapshot, date),
            }
            for name, start in simulated.starts
        ],
        "expected_makespan_s": round(simulated.makespan, 1),
        "unknown_durations": unknown,
        "assumed_per_unknown_task_s": round(selection.unknown_task_s, 1) if unknown else None,
        "failed": selection.failed,
        "skipped": selection.skipped,
        "budget": budget.standing(config.settings.budget, snapshot, date),
        "max_parallel_agents": run.max_parallel_agents or None,
    }


def _budget_stops(
    config: Config, tasks: tuple[str, ...], snapshot: Snapshot, date: str
) -> list[str]:
    """Agent tasks the budget would keep from starting, were the sweep to start now."""
    stops = []
    for task in tasks:
        agent = config.task(task).agent
        if agent is not None and budget.exhausted(config.settings.budget, snapshot, date, agent):
            stops.append(task)
    return stops


def _repository(config: Config, name: str, path: Path) -> str | None:
    """What require_clean would decide now, and whether tasks get worktrees (read-only)."""
    spec = config.project(name)
    notes = []
    if config.require_clean(spec):
        verdict = gitrepo.clean_verdict(path, spec.default_branch)
        would = {"skipped": "would be skipped", "failed": "would fail"}
        notes.append(f"{would[verdict[0]]}: {verdict[1]}" if verdict else "clean")
    if config.isolation(spec) == "worktree":
        notes.append("tasks run in new worktrees")
    return "; ".join(notes) or None


def render_plan(plan: dict[str, Any], zone: str) -> str:
    parallel = describe_mode(plan["mode"])
    lines = [
        "dry run: nothing is run and nothing is written",
        f"config:  {plan['config']}",
        f"state:   {plan['state_dir']}",
        f"date:    {plan['date']} ({zone})",
        f"mode:    {parallel}",
        "",
        f"to run, in start order ({len(plan['to_run'])}; the longest remaining work first):",
    ]
    width = max((len(p["name"]) for p in plan["to_run"]), default=0)
    for i, project in enumerate(plan["to_run"], 1):
        took = project["expected_duration_s"]
        when = (
            f"+{project['expected_start_s']:.0f}s, ~{took:.0f}s"
            if took is not None
            else (f"+{project['expected_start_s']:.0f}s, duration unknown")
        )
        extra = ""
        if project["after"]:
            extra += f"  (after {', '.join(project['after'])})"
        if project["done_today"]:
            extra += f"  [done today: {', '.join(project['done_today'])}]"
        if project["repository"]:
            extra += f"  [{project['repository']}]"
        if project["budget_stops"]:
            extra += f"  [budget reached: {', '.join(project['budget_stops'])} would be skipped]"
        lines.append(
            f"  {i:>3}. {project['name']:<{width}}  {', '.join(project['tasks'])}  [{when}]{extra}"
        )
    if plan["to_run"]:
        note = ""
        if plan["unknown_durations"]:
            count = len(plan["unknown_durations"])
            note = (
                f" ({count} project{'s' if count > 1 else ''} with tasks never run before, "
                f"each such task counted as {plan['assumed_per_unknown_task_s']:.0f}s)"
            )
        lines.append(f"expected makespan: {plan['expected_makespan_s']:.0f}s{note}")
    if plan["max_parallel_agents"]:
        lines.append(f"agent tasks: at most {plan['max_parallel_agents']} at once")
    for item in plan["budget"]:
        lines.append(f"budget: {describe(item)}")
    for title, key in (("failed", "failed"), ("skipped", "skipped")):
        if plan[key]:
            lines += ["", f"{title} ({len(plan[key])}):"]
            width = max(len(n) for n in plan[key])
            lines += [f"  {name:<{width}}  {reason}" for name, reason in plan[key].items()]
    return harmless("\n".join(lines) + "\n")
