"""``agentd config init``: a starter file that validates as written and explains itself."""

from __future__ import annotations

import os
import stat
from pathlib import Path

STARTER = """\
# agentd configuration. Check it with `agentd config check`; every key is described
# in the README ("Configuration reference").

[schedule]
cron = "30 2 * * *"          # crontab: minute hour day-of-month month day-of-week (0/7 = Sunday)
# timezone = "Europe/Berlin" # default: this machine's zone; it also defines "today"
catch_up = "once"            # after downtime, one sweep for missed fires ("none" to skip)
catch_up_window = "12h"      # older missed fires are not caught up
jitter = "0s"                # delay each fire by a random 0..jitter

[run]
project_parallelism = false  # true: run up to max_parallel_projects projects at once
max_parallel_projects = 4
max_projects = 0             # projects started per sweep; 0 = no cap
task_timeout = "30m"
kill_grace = "10s"           # SIGTERM, then this long, then SIGKILL
on_task_failure = "continue" # or "stop": skip the rest of that project
keep_runs = 30
max_parallel_agents = 0      # agent tasks at once across the sweep; 0 = no extra bound
max_parallel_agents_global = 0   # the same across all hosts of a shared [state]; 0 = none

# [budget]                   # no new agent task once a limit is reached
# nightly_usd = 5.0          # the sweep's date; weekly_* = the last 7 days
# weekly_tokens = 20_000_000
# [budget.agents.claude]
# nightly_usd = 3.0

# [notify]                   # after a failed sweep ("always": after every sweep)
# when = "failure"
# command = ["notify-send", "agentd"]   # gets the alert as JSON on stdin
# webhook = "https://hooks.example.com/..."   # or AGENTD_NOTIFY__WEBHOOK, kept out of here
# ping_url = "https://hc-ping.com/<uuid>"      # dead-man's switch: /start, then success or /fail

# [state]                    # several hosts sharing one night: a PostgreSQL database
# backend = "postgres"       # default "json": the state directory, this host alone
# url = "postgresql://agentd@db1/agentd"   # or AGENTD_STATE__URL; password: ~/.pgpass
# host = "build-1"           # this host's name in claims and reports; default: hostname
# claim_stale_after = "5m"   # another host's claim without a heartbeat this long is taken over
# retry_for = "1m"           # a lost server is retried this long before a write is given up

# [metrics]                  # Prometheus, through node_exporter's textfile collector
# textfile = "/var/lib/node_exporter/textfile_collector/agentd.prom"

[log]
level = "info"
format = "auto"

[defaults]
tasks = ["lint"]             # tasks of a project that lists none
require_clean = false        # true: skip a checkout with uncommitted changes or off its branch
isolation = "none"           # "worktree": each task in a new git worktree on agentd/<date>/<task>

[tasks.lint]
command = ["git", "status", "--short"]   # argv, run directly in the project directory
timeout = "5m"

# [tasks.triage]
# agent = "claude"           # built in: claude, codex, aider, gemini
# prompt = "Find one flaky test in {project} and fix it on a new branch."

# [tasks.notes]
# shell = "git log --since=1.day > NIGHTLY.md"   # explicit opt-in to /bin/sh -c

# [[projects]]
# name = "api"
# path = "~/src/api"
# tasks = ["lint", "triage"]
# depends_on = []
# hosts = ["build-1", "gpu-*"]   # with a shared [state]: only these hosts run it
# env = { RUFF_CACHE_DIR = "/tmp/ruff" }
"""


def system_starter(state_dir: str) -> str:
    """The starter of a system install: the daemon and every user of the command line
    share one state directory, so the file names it."""
    import tomli_w

    paths = "# one state for the daemon and the shell\n" + tomli_w.dumps(
        {"paths": {"state_dir": state_dir}}
    )
    if "\n[log]\n" not in STARTER:  # a table at the end is as valid, if less tidy
        return f"{STARTER}\n{paths}"
    return STARTER.replace("\n[log]\n", f"\n{paths}\n[log]\n", 1)


SYSTEM_DIR_MODE = 0o755


def make_system_dir(directory: Path, gid: int) -> str | None:
    """``/etc/agentd``, made 0755 whatever root's umask: a hardened host's 027 or 077 would
    make it 0750 or 0700 root:root, and neither the daemon (user agentd) nor the group
    could reach the 0640 file in it. One that exists keeps its mode (the operator's); what
    to say when that mode keeps group ``gid`` out, else None."""
    from agentd.config.access import group_name, user_name

    try:
        directory.mkdir(mode=SYSTEM_DIR_MODE)
    except FileExistsError:
        found = directory.stat()
        mode = stat.S_IMODE(found.st_mode)
        if not stat.S_ISDIR(found.st_mode):
            return None  # writing the file in it fails, and says so
        if mode & stat.S_IXOTH or (found.st_gid == gid and mode & stat.S_IXGRP):
            return None
        owner = f"{user_name(found.st_uid)}:{group_name(found.st_gid)}"
        return (
            f"{directory} is {mode:04o} {owner}: the daemon and group agentd cannot reach "
            f"the file in it; open it with `chmod 755 {directory}`"
        )
    directory.chmod(SYSTEM_DIR_MODE)  # the umask narrowed it
    return None


def write_starter(path: Path, text: str = STARTER, mode: int = 0o600, gid: int = -1) -> None:
    """Create ``path``; FileExistsError if anything is there already (never overwrite).
    ``gid`` (not -1): the file's group, set before anything is written to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as handle:
        os.fchown(fd, -1, gid)
        os.fchmod(fd, mode)  # the umask may have narrowed it
        handle.write(text)
