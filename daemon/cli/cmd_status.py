"""``agentd status`` and ``agentd schedule``: read-only views, safe while sweeps run.

Both read the state file without its lock (writes are atomic renames), so they never wait
for, or slow down, a running sweep; and neither writes anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentd.config import Config
from agentd.config.cron import CronError, parse_cron
from agentd.daemon.cli.exits import EXIT_OK, UsageError
from agentd.daemon.cli.setup import load, open_store, read_setup
from agentd.daemon.model.report import latest_that_ran
from agentd.daemon.model.status import TASK_FAILURES
from agentd.daemon.output import spendview
from agentd.daemon.output.hostsview import gather_hosts, host_lines
from agentd.daemon.output.logview import failed_logs
from agentd.daemon.output.textout import harmless
from agentd.daemon.service.schedule import next_fires
from agentd.daemon.sweep import budget
from agentd.daemon.sweep.rundirs import runs_dir
from agentd.state import Snapshot
from agentd.state.claims import STALE_AFTER, this_host, why_stale
from agentd.state.daemonlock import daemon_state

NO_RUN_ID = "(no run id)"


def schedule_command(args: argparse.Namespace) -> int:
    config = load(args)
    if args.n < 1:
        raise UsageError("-n must be at least 1")
    fires = next_fires(config.cron, config.zone, datetime.now(UTC), args.n)
    jitter = config.settings.schedule.jitter
    if args.json:
        print(
            json.dumps(
                {
                    "cron": config.settings.schedule.cron,
                    "timezone": str(config.zone),
                    "jitter_s": jitter,
                    "fires": [f.isoformat() for f in fires],
                },
                indent=2,
            )
        )
        return EXIT_OK
    print(f"{config.settings.schedule.cron!r} in {config.zone}:")
    for fire in fires:
        print(f"  {fire:%a %Y-%m-%d %H:%M %Z} ({fire.isoformat(timespec='minutes')})")
    if not fires:
        print("  (never fires)")
    if jitter:
        from agentd.config.durations import format_duration

        print(f"each delayed by a random 0..{format_duration(jitter)} (jitter)")
    return EXIT_OK


def status_command(args: argparse.Namespace) -> int:
    # The state alone still says a lot: a broken file is a warning here, not an error.
    setup = read_setup(args)
    if setup.warning:
        print(f"agentd: {harmless(setup.warning)}", file=sys.stderr)
    config, directory = setup.config, setup.state_dir
    store, snapshot = open_store(directory, setup.state)
    store.close()  # one read is all it takes
    status = gather(
        config, snapshot, directory, datetime.now(UTC), setup.config_path, store.stale_after
    )
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        sys.stdout.write(render(status))
    return EXIT_OK


def gather(
    config: Config | None,
    snapshot: Snapshot,
    directory: Any,
    now: datetime,
    config_path: Path | None = None,
    stale_after: float = STALE_AFTER,
) -> dict[str, Any]:
    """``config_path``: the file that did not validate (``config`` None), for what can
    still be read of its schedule. ``hosts`` only for a shared store (several hosts)."""
    daemon = _daemon(snapshot, directory)
    schedule = _schedule(config, daemon, now, config_path)
    runs = snapshot.runs()
    fires = snapshot.fires()
    # "Today" as the skip guard and the budget see it: the schedule's zone.
    today = now.astimezone(config.zone if config else UTC).date().isoformat()
    hosts = gather_hosts(snapshot, directory, now, stale_after)
    return {
        "state_dir": str(directory),
        **({"hosts": hosts} if hosts else {}),
        "daemon": daemon,
        "spend": budget.summary(snapshot, today).to_dict(),
        "budget": [s.to_dict() for s in budget.standing(config.settings.budget, snapshot, today)]
        if config
        else [],
        "schedule": schedule,
        "last_sweep": _last_sweep(runs[-1], directory) if runs else None,
        **_last_that_ran(runs, directory),
        "last_fire_handled": fires.get("last_handled"),
        "skipped_fires": fires.get("skipped", [])[-5:],
        "running": _running(snapshot, now, stale_after),
        "projects": _projects(config, snapshot),
    }


def _running(snapshot: Snapshot, now: datetime, stale_after: float) -> list[dict[str, Any]]:
    """The claims held now, each judged live or stale from here."""
    host = this_host()
    return [
        {
            "project": project,
            "run_id": holder.run_id,
            "pid": holder.pid,
            "host": holder.host,
            "started_at": holder.started_at,
            "heartbeat": holder.heartbeat,
            "stale": why_stale(holder, now, host, stale_after),
        }
        for project, holder in sorted(snapshot.claims().items())
    ]


def _projects(config: Config | None, snapshot: Snapshot) -> list[dict[str, Any]]:
    """A row per project: the configured ones, or without a config those the state knows
    (their task totals then unknown)."""
    names = (
        [p.name for p in config.projects] if config else sorted(snapshot.doc.get("projects", {}))
    )
    projects = []
    for name in names:
        entry = snapshot.project(name)
        last = entry.get("last_run") or {}
        tasks = config.task_names(config.project(name)) if config else list(entry.get("tasks", {}))
        states = [(entry.get("tasks", {}).get(t) or {}).get("status") for t in tasks]
        projects.append(
            {
                "name": name,
                "enabled": config.project(name).enabled if config else None,
                "last_run_date": last.get("date"),
                "last_run_id": last.get("run_id"),
                "last_status": last.get("status"),
                "tasks_ok": sum(s == "ok" for s in states),
                "tasks_failed": sum(s in TASK_FAILURES for s in states),
                "tasks": len(tasks) if config else None,
                # Kept from running by a dependency since its last run: by which, since when.
                "blocked": snapshot.blocked(name),
            }
        )
    return projects


def _last_sweep(summary: dict[str, Any], directory: Path) -> dict[str, Any]:
    """The history's summary of the last sweep, with where its logs are: the run directory
    and each failed task's log, absolute."""
    if "run_id" not in summary or summary.get("host") not in (None, this_host()):
        # A hand-edited entry may lack its id; another host's logs are on that host.
        return {**summary, "run_dir": None, "failed_logs": []}
    run_dir = runs_dir(directory) / str(summary["run_id"])
    return {**summary, "run_dir": str(run_dir), "failed_logs": failed_logs(run_dir)}


def _last_that_ran(runs: list[dict[str, Any]], directory: Path) -> dict[str, Any]:
    """The latest sweep that started a task or failed, and how many newer ones ran nothing
    (manual sweeps after the night's had done everything): the text shows that one as the
    last sweep, so that a no-op does not hide the night's."""
    last = latest_that_ran(runs)
    return {
        "last_sweep_that_ran": None if last is None else _last_sweep(runs[last], directory),
        "newer_sweeps_ran_nothing": len(runs) if last is None else len(runs) - 1 - last,
    }


def _schedule(
    config: Config | None, daemon: dict[str, Any], now: datetime, path: Path | None = None
) -> dict[str, Any]:
    """The schedule that fires: the running daemon's armed one (a reload may have kept it
    while the file says something else), else the file's: a file that does not validate
    still has one when its [schedule] does on its own, and none is known otherwise. The
    next fire is computed now, so a sweep that runs across a fire time never shows one in
    the past."""
    if daemon["running"] and daemon.get("schedule"):
        cron, zone_name = str(daemon["schedule"]), str(daemon.get("timezone"))
        fire = _next_fire(cron, zone_name, str(daemon.get("seconds") or "0"), now)
        out = {"cron": cron, "timezone": zone_name, "next_fire": fire or daemon.get("next_fire")}
        if config is not None and _differs(config, cron, zone_name):
            out["in_file"] = {"cron": config.settings.schedule.cron, "timezone": str(config.zone)}
        return out
    if config is None:
        return _salvaged_schedule(path, now)
    upcoming = next_fires(config.cron, config.zone, now, 1)
    return {
        "cron": config.settings.schedule.cron,
        "timezone": str(config.zone),
        "next_fire": upcoming[0].isoformat() if upcoming else None,
    }


def _salvaged_schedule(path: Path | None, now: datetime) -> dict[str, Any]:
    import os

    from agentd.config.resolved import local_zone
    from agentd.config.salvage import salvaged_schedule

    section = salvaged_schedule(path, os.environ) if path is not None else None
    if section is None:
        unknown = "configuration invalid"
        return {"cron": None, "timezone": None, "next_fire": None, "unknown": unknown}
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(section.timezone) if section.timezone else local_zone()
    upcoming = next_fires(parse_cron(section.cron), zone, now, 1)
    return {
        "cron": section.cron,
        "timezone": str(zone),
        "next_fire": upcoming[0].isoformat() if upcoming else None,
        "from_invalid_file": True,  # [schedule] is valid; another table is not
    }


def _differs(config: Config, cron: str, zone_name: str) -> bool:
    """Whether the file asks for another schedule than the one armed. A file without a
    timezone means the daemon's own zone, which this process cannot see (its TZ may
    differ): only an explicit one is compared."""
    try:
        armed = parse_cron(cron)
    except CronError:
        return True
    # Compared as parsed: "30 2  * * *" and "30 2 * * *" are one schedule.
    same = dataclasses.replace(armed, expression=config.cron.expression) == config.cron
    zone = config.settings.schedule.timezone
    return not same or (zone is not None and zone != zone_name)


def _next_fire(cron: str, zone_name: str, seconds: str, now: datetime) -> str | None:
    from zoneinfo import ZoneInfo

    try:
        spec = dataclasses.replace(parse_cron(cron), second=seconds)
        fires = next_fires(spec, ZoneInfo(zone_name), now, 1)
    except (CronError, ValueError, LookupError):  # published by another version, say
        return None
    return fires[0].isoformat() if fires else None


def _daemon(snapshot: Snapshot, directory: Any) -> dict[str, Any]:
    return daemon_state(snapshot.daemon(), directory)


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
        width = max(len(p["name"]) for p in status["projects"])
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
