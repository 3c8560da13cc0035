"""``agentd config check | show | init``."""

from __future__ import annotations

import argparse
import os
import sys

from agentd.config import Config
from agentd.config.model import Limits
from agentd.daemon.cli.exits import EXIT_OK, UsageError
from agentd.daemon.cli.setup import config_path, load, state_dir, user_path
from agentd.daemon.output.textout import harmless


def config_command(args: argparse.Namespace) -> int:
    if args.config_command == "init":
        return _init_system(args) if args.system else _init(args)
    if args.config_command == "path":
        from agentd.daemon.cli.cmd_config_path import path_command

        return path_command(args)
    config = load(args)
    if args.config_command == "show":
        from agentd.config.render import render_toml

        sys.stdout.write(render_toml(config, state_dir(args, config)))
        return EXIT_OK
    run = config.settings.run
    enabled = sum(p.enabled for p in config.projects)
    mode = f"parallel, at most {run.bound}" if run.project_parallelism else "serial"
    print(f"{harmless(str(config.path))}: ok")
    tasks = len(config.settings.tasks)
    print(f"  projects: {len(config.projects)} ({enabled} enabled), tasks: {tasks}")
    print(f"  schedule: {config.settings.schedule.cron!r} in {config.zone}, mode: {mode}")
    if not config.projects:
        print("  note: no [[projects]]: a sweep would run nothing")
    limits = _limits(config)
    if limits:
        print(f"  budget: {limits}")
    blind = _uncosted_agents(config)
    if blind:
        verb = "reports" if len(blind) == 1 else "report"
        print(
            f"  note: {', '.join(blind)} {verb} tokens but no cost: "
            "USD limits do not count them; a *_tokens limit does"
        )
    notify = config.settings.notify
    channels = [c for c in ("command", "webhook") if getattr(notify, c) is not None]
    if channels:
        print(f"  alerts: {' and '.join(channels)}, on {notify.when}")
    state = config.settings.state
    if state.url is not None:
        import socket

        from agentd.config.conninfo import masked

        host = state.host or socket.gethostname()
        print(harmless(f"  state: shared on PostgreSQL {masked(state.url)}, this host {host}"))
    if args.deep:
        from agentd.daemon.cli.cmd_doctor import run_doctor

        return run_doctor(args, config)
    return EXIT_OK


def _uncosted_agents(config: Config) -> list[str]:
    """Agents some task uses whose output has no cost, when a USD limit would cover them."""
    budget = config.settings.budget
    used = sorted({t.agent for t in config.settings.tasks.values() if t.agent is not None})
    from agentd.daemon.agents.registry import reports_cost

    uncosted = [a for a in used if reports_cost(config.usage_format(a)) is False]

    def has_usd(limits: Limits) -> bool:
        return limits.nightly_usd is not None or limits.weekly_usd is not None

    overall = has_usd(budget)
    return [a for a in uncosted if overall or (a in budget.agents and has_usd(budget.agents[a]))]


def _limits(config: Config) -> str:
    from agentd.daemon.model.budget import limit_text

    budget = config.settings.budget
    scopes = [("", budget), *((f"{name}: ", lim) for name, lim in budget.agents.items())]
    return "; ".join(
        scope + ", ".join(limit_text(k, v) for k, v in items)
        for scope, limits in scopes
        if (items := limits.items())
    )


def _init(args: argparse.Namespace) -> int:
    from agentd.config.starter import write_starter

    path = user_path(args.path) if args.path else config_path(args)
    try:
        write_starter(path)
    except FileExistsError:
        raise UsageError(f"{path} already exists; not overwriting it") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"wrote {harmless(str(path))}")
    hint = f" --config {path}" if args.path or os.environ.get("AGENTD_CONFIG") else ""
    print(f"next: add your projects, then `agentd config check{hint}`")
    return EXIT_OK


SYSTEM_GROUP = "agentd"
SYSTEM_STATE_DIR = "/var/lib/agentd"


def _init_system(args: argparse.Namespace) -> int:
    """``/etc/agentd/config.toml`` for a system install: readable by the daemon's group
    (0640 root:agentd), naming the one state directory the daemon and the group share."""
    from agentd.config.lookup import SYSTEM_CONFIG_DIR
    from agentd.config.starter import make_system_dir, system_starter, write_starter

    path = SYSTEM_CONFIG_DIR / "config.toml"
    if args.path:
        raise UsageError(f"--system writes {path}; give no PATH with it")
    if os.geteuid() != 0:
        raise UsageError(f"writing {path} needs root: sudo agentd config init --system")
    gid = _group_id(SYSTEM_GROUP)
    try:
        closed = make_system_dir(path.parent, gid)
        write_starter(path, system_starter(SYSTEM_STATE_DIR), mode=0o640, gid=gid)
    except FileExistsError:
        raise UsageError(f"{path} already exists; not overwriting it") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    owner = f"root:{SYSTEM_GROUP}" if gid != -1 else "root:root"
    print(f"wrote {path} (0640 {owner}), state directory {SYSTEM_STATE_DIR}")
    if closed is not None:
        print(f"agentd: warning: {closed}", file=sys.stderr)
    if gid == -1:
        print(
            f"note: there is no group {SYSTEM_GROUP}, so only root can read it: create the "
            f'daemon\'s user and group (README, "Installing under systemd"), then '
            f"`chgrp {SYSTEM_GROUP} {path}`"
        )
    print("next: add your projects, then `agentd config check`")
    return EXIT_OK


def _group_id(name: str) -> int:
    import grp

    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return -1
