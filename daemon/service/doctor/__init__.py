"""``agentd doctor``: what would fail tonight, checked now, in the daemon's environment.

``config check`` validates the file; this looks at the host it will run on: the projects'
directories and repositories, the programs and agent CLIs on the tasks' PATH, the state
directory, the systemd unit, the schedule and the clock's zone. When a unit is installed
the daemon runs in the unit's environment, not the caller's, so that one is checked.

Each check is a line (``Check``) at ok, warning (tonight's sweep runs, but something is
off or would be skipped) or problem (something fails tonight). Reads only: nothing is
created, changed or written; the programs run are ``systemctl show``, git's read-only
commands and the agent CLIs' ``--version``.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from datetime import datetime

from agentd.config import Config
from agentd.config.homedir import NoHome
from agentd.config.model import ProjectSpec
from agentd.config.resolved import resolve_state_dir
from agentd.daemon.output.textout import harmless
from agentd.daemon.service.doctor.check import LEVELS, Check, Level, ok, problem, warning
from agentd.daemon.service.doctor.database import database_checks
from agentd.daemon.service.doctor.programs import program_checks
from agentd.daemon.service.doctor.projects import project_checks
from agentd.daemon.service.doctor.statedir import FREE_FLOOR, state_checks
from agentd.daemon.service.doctor.unit import Unit, daemon_environ, probe
from agentd.daemon.service.schedule import next_fires

__all__ = ["LEVELS", "Check", "Level", "diagnose", "worst"]


def diagnose(
    config: Config, environ: Mapping[str, str], state_override: str | None, now: datetime
) -> list[Check]:
    """Every check, in the order they are shown: the unit first (it decides the
    environment the others look at), then projects, programs, state, schedule."""
    unit, checks = probe(environ)
    env = daemon_environ(unit, environ)
    enabled = [spec for spec in config.projects if spec.enabled]
    for spec in config.projects:
        if spec.enabled:
            checks += project_checks(config, spec)
        else:
            checks.append(ok("project", harmless(spec.name), "disabled: not checked"))
    checks += program_checks(config, enabled, env)
    checks += _state(config, enabled, state_override, env, unit)
    checks += database_checks(config.settings.state)
    checks += [_next_fire(config, now), _zone(config)]
    return checks


def worst(checks: list[Check]) -> Level:
    return max((c.level for c in checks), key=LEVELS.index, default="ok")


def _state(
    config: Config,
    enabled: list[ProjectSpec],
    override: str | None,
    env: Mapping[str, str],
    unit: Unit | None,
) -> list[Check]:
    try:
        directory = resolve_state_dir(config, override, env)
    except NoHome as exc:
        return [problem("state", "state directory", harmless(str(exc)))]
    need = max(
        FREE_FLOOR,
        sum(config.max_log_size(t) for spec in enabled for t in config.task_names(spec)),
    )
    made = unit is not None and env.get("STATE_DIRECTORY") == str(directory)
    return state_checks(directory, _daemon_user(unit), need, made)


def _daemon_user(unit: Unit | None) -> str | None:
    """The user the daemon runs as; None when systemd picks one at start (DynamicUser=)."""
    if unit is not None:
        return None if unit.props.get("DynamicUser") == "yes" else unit.user
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None


def _next_fire(config: Config, now: datetime) -> Check:
    cron = config.settings.schedule.cron
    fires = next_fires(config.cron, config.zone, now, 1)
    if not fires:
        return warning("schedule", repr(cron), "never fires: no sweep runs on the schedule")
    jitter = config.settings.schedule.jitter
    later = f", up to {jitter:g} s later (jitter)" if jitter else ""
    text = f"next fire {fires[0]:%a %Y-%m-%d %H:%M %Z}{later}, when the daemon runs"
    return ok("schedule", harmless(repr(cron)), text)


def _zone(config: Config) -> Check:
    """The zone the schedule and "today" are read in; an unknown machine zone means UTC."""
    name = config.settings.schedule.timezone
    if name:
        return ok("zone", harmless(name), "set by [schedule] timezone")
    try:
        import tzlocal

        zone = str(tzlocal.get_localzone())
    except Exception as exc:  # noqa: BLE001 - any failure here is "unknown", as in the daemon
        why = f"the machine's zone cannot be told ({exc}): UTC is used; set [schedule] timezone"
        return warning("zone", "UTC", harmless(why))
    return ok("zone", harmless(zone), "the machine's; [schedule] timezone would pin it")
