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
from agentd.daemon.cli.statustext import render
from agentd.daemon.model.report import latest_that_ran
from agentd.daemon.model.status import TASK_FAILURES
from agentd.daemon.output.hostsview import gather_hosts
from agentd.daemon.output.logview import failed_logs
from agentd.daemon.output.textout import harmless
from agentd.daemon.service.schedule import next_fires
from agentd.daemon.sweep import budget
from agentd.daemon.sweep.rundirs import runs_dir
from agentd.state import Snapshot
from agentd.state.claims import STALE_AFTER, this_host, why_stale
from agentd.state.daemonlock import daemon_state


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
