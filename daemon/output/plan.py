"""``agentd run --once --dry-run``: the plan the sweep computed (sweep/dryrun.py), shown."""

from __future__ import annotations

from agentd.daemon.model.plan import DryRun
from agentd.daemon.output.report import describe_mode
from agentd.daemon.output.textout import harmless


def render_plan(dry: DryRun, zone: str) -> str:
    plan = dry.to_dict()  # the --json form, which says the same
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
    for item in dry.budget:
        lines.append(f"budget: {item.describe()}")
    for title, key in (("failed", "failed"), ("skipped", "skipped")):
        if plan[key]:
            lines += ["", f"{title} ({len(plan[key])}):"]
            width = max(len(n) for n in plan[key])
            lines += [f"  {name:<{width}}  {reason}" for name, reason in plan[key].items()]
    return harmless("\n".join(lines) + "\n")
