"""``agentd status`` as text: the lines of what ``cmd_status.gather`` collected.

Every value here came from the state (or the configuration), and is made harmless once,
for the whole text, before it reaches the terminal.
"""

from __future__ import annotations

from typing import Any

from agentd.daemon.output import spendview
from agentd.daemon.output.hostsview import host_lines
from agentd.daemon.output.textout import harmless
from agentd.state.claims import this_host

NO_RUN_ID = "(no run id)"


def render(status: dict[str, Any]) -> str:
    daemon = status["daemon"]
    lines = _daemon_lines(daemon) + _schedule_lines(status["schedule"], daemon)
    lines += host_lines(status.get("hosts", []))
    lines += _last_sweep_lines(status) + _running_lines(status) + _project_lines(status)
    lines += spendview.status_lines(status["spend"], status["budget"])
    return harmless("\n".join(lines) + "\n")  # the state file is not ours to trust


def _daemon_lines(daemon: dict[str, Any]) -> list[str]:
    lines = []
    if daemon["running"]:
        lines.append(
            f"daemon:      running, pid {daemon['pid']} since {daemon.get('started_at', '?')}"
        )
    elif daemon["running"] is None:
        lines.append(
            f"daemon:      {daemon['note']} (pid {daemon.get('pid')} on {daemon.get('host')})"
        )
    else:
        note = f" (pid {daemon['last_pid']} {daemon['note']})" if daemon.get("last_pid") else ""
        lines.append(f"daemon:      not running{note}")
    if daemon.get("reload_error"):
        lines.append(f"             configuration reload refused: {daemon['reload_error']}")
    return lines


def _schedule_lines(schedule: dict[str, Any], daemon: dict[str, Any]) -> list[str]:
    lines = []
    if schedule.get("unknown"):
        return [f"schedule:    unknown ({schedule['unknown']})"]
    when = schedule["next_fire"] or "never"
    if not daemon["running"] and schedule["next_fire"]:
        when += " (once the daemon runs)"
    lines.append(f"schedule:    {schedule['cron']!r} in {schedule['timezone']}; next fire {when}")
    if schedule.get("from_invalid_file"):
        lines.append("             (the file's [schedule]; another table of it is invalid)")
    if schedule.get("in_file"):
        pending = schedule["in_file"]
        when = (
            "not armed: the daemon refused it (above)"
            if daemon.get("reload_error")
            else "armed at the next reload (systemctl reload agentd) or sweep"
        )
        lines.append(
            f"             the file says {pending['cron']!r} in {pending['timezone']}: {when}"
        )
    return lines


def _last_sweep_lines(status: dict[str, Any]) -> list[str]:
    lines = []
    noops = status.get("newer_sweeps_ran_nothing") or 0
    last = (status.get("last_sweep_that_ran") if noops else None) or status["last_sweep"]
    if last:
        c = last.get("counts") or {}
        lines.append(
            f"last sweep:  {last.get('run_id', NO_RUN_ID)} ({last.get('trigger')}{_on(last)}) "
            f"{last.get('status')}, "
            f"{last.get('started_at')} -> {last.get('finished_at')}"
        )
        lines.append(
            f"             projects {c.get('projects_ok', 0)} ok, "
            f"{c.get('projects_failed', 0)} failed, "
            f"{c.get('projects_interrupted', 0)} interrupted, "
            f"{c.get('projects_skipped', 0)} skipped; "
            f"tasks {c.get('tasks_ok', 0)} ok, {c.get('tasks_failed', 0)} failed, "
            f"{c.get('tasks_interrupted', 0)} interrupted, {c.get('tasks_skipped', 0)} skipped"
        )
        if last["run_dir"] is not None:
            lines.append(f"             run directory {last['run_dir']}")
        for failed in last["failed_logs"]:
            lines.append(
                f"             failed {failed['project']}/{failed['task']}: {failed['log']}"
            )
        if last is not status["last_sweep"]:
            latest = status["last_sweep"]
            sweeps = "sweep" if noops == 1 else "sweeps"
            lines.append(
                f"             {noops} newer {sweeps} ran nothing (the latest: "
                f"{latest.get('run_id', NO_RUN_ID)} ({latest.get('trigger')}), "
                f"{latest.get('finished_at')})"
            )
    else:
        lines.append("last sweep:  none yet")
    for skipped in status["skipped_fires"]:
        lines.append(f"skipped fire: {skipped.get('fire')}: {skipped.get('reason')}")
    return lines


def _on(summary: dict[str, Any]) -> str:
    """Where a sweep of another host ran (its logs and run directory are there)."""
    host = summary.get("host")
    return "" if host in (None, this_host()) else f", on host {host}"


def _running_lines(status: dict[str, Any]) -> list[str]:
    lines = []
    if status["running"]:
        lines.append("running now:")
        for claim in status["running"]:
            stale = f"  [stale: {claim['stale']}]" if claim["stale"] else ""
            lines.append(
                f"  {claim['project']}: run {claim['run_id']}, pid {claim['pid']} "
                f"on {claim['host']}, since {claim['started_at']}{stale}"
            )
    else:
        lines.append("running now: nothing")
    return lines


def _project_lines(status: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if status["projects"]:
        width = max(len("name"), *(len(p["name"]) for p in status["projects"]))
        lines.append("projects:")
        lines.append(f"  {'name':<{width}}  {'last run':<10}  {'status':<11}  tasks ok/failed")
        for p in status["projects"]:
            state = "blocked" if p.get("blocked") else p["last_status"] or "-"
            if p["enabled"] is False:
                state += " (disabled)"
            lines.append(
                f"  {p['name']:<{width}}  {p['last_run_date'] or 'never':<10}  {state:<11}  "
                f"{_task_counts(p)}{_blocked_note(p)}"
            )
    return lines


def _task_counts(project: dict[str, Any]) -> str:
    """``ok/failed of N``; without a valid file N is unknown (the state knows only the
    tasks that ran), and a project none of whose tasks ran shows no counts at all."""
    counts = f"{project['tasks_ok']}/{project['tasks_failed']}"
    if project["tasks"] is not None:
        return f"{counts} of {project['tasks']}"
    return f"{counts} of ?" if project["tasks_ok"] or project["tasks_failed"] else "?"


def _blocked_note(project: dict[str, Any]) -> str:
    blocked = project.get("blocked")
    if not blocked:
        return ""
    nights = int(blocked.get("nights") or 1)
    span = f"{nights} nights" if nights > 1 else "1 night"
    return (
        f"  blocked by {blocked.get('by')} since {blocked.get('since')} ({span}, "
        f"last {blocked.get('run_id')}): {blocked.get('reason')}"
    )
