"""``agentd run --once --dry-run``: what a sweep would do, computed without doing any of it
(output/plan.py shows it)."""

from __future__ import annotations

from pathlib import Path

from agentd.config import Config
from agentd.daemon.model.plan import DryRun, PlannedStart
from agentd.daemon.model.report import Mode
from agentd.daemon.sweep import budget
from agentd.daemon.sweep.ordering import simulate
from agentd.daemon.sweep.selection import Planned, Selection
from agentd.daemon.tasks import gitrepo
from agentd.state import Snapshot


def dry_run(
    config: Config, selection: Selection, state_dir: Path, date: str, snapshot: Snapshot
) -> DryRun:
    run = config.settings.run
    simulated = simulate(selection.chosen, selection.assumed, run.bound, set(selection.failed))
    by_name = {p.name: p for p in selection.chosen}
    unknown = sorted(name for name, d in selection.expected.items() if d is None)
    return DryRun(
        config=str(config.path),
        state_dir=str(state_dir),
        date=date,
        mode=Mode(run.project_parallelism, run.bound),
        to_run=[
            _start(config, by_name[name], start, selection, snapshot, date)
            for name, start in simulated.starts
        ],
        expected_makespan_s=round(simulated.makespan, 1),
        unknown_durations=unknown,
        assumed_per_unknown_task_s=round(selection.unknown_task_s, 1) if unknown else None,
        failed=selection.failed,
        skipped=selection.skipped,
        budget=budget.standing(config.settings.budget, snapshot, date),
        max_parallel_agents=run.max_parallel_agents or None,
    )


def _start(
    config: Config,
    planned: Planned,
    start: float,
    selection: Selection,
    snapshot: Snapshot,
    date: str,
) -> PlannedStart:
    return PlannedStart(
        name=planned.name,
        path=str(planned.path),
        tasks=[t for t in planned.tasks if t not in planned.done],
        done_today=sorted(planned.done),
        after=list(planned.deps),
        expected_start_s=round(start, 1),
        expected_duration_s=selection.expected.get(planned.name),
        repository=_repository(config, planned.name, planned.path),
        budget_stops=_budget_stops(config, planned.tasks, snapshot, date),
    )


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
