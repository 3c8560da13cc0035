"""What a task runs: its argv with placeholders filled in, and its environment.

Placeholders are replaced inside single argv elements in one pass, so a value is never
re-split, never re-scanned for placeholders, and never seen by a shell: a prompt holding
quotes, ``;`` or ``$(...)`` reaches the program as exactly one argument. ``shell`` tasks get
no substitution at all (the schema rejects placeholders there); they read the same values
from ``$AGENTD_PROJECT`` and friends.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from agentd.config import Config
from agentd.config.fields import PLACEHOLDER_RE
from agentd.config.homedir import expand

if TYPE_CHECKING:
    from agentd.config.model import RunSection

# Variables that belong to agentd's supervisor, not to its tasks: a task that found
# NOTIFY_SOCKET could send READY=1 or STOPPING=1 on the daemon's behalf. The shared
# store's URL is agentd's credential: a task (an agent) holding it could rewrite every
# host's state, and a task printing its environment would put it in the report. The
# loader reads it in any case after its prefix (AGENTD_State__Url too): see _is_state_url.
STRIPPED_ENV = (
    "AGENTD_STATE__URL",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
)
# libpq's own sources of the shared store's password, as the store's URL is: kept from
# tasks when agentd uses PostgreSQL (a task needing a database of its own sets them in
# [run] env or its project's env, which are kept).
LIBPQ_SECRETS = ("PGPASSWORD", "PGPASSFILE", "PGSERVICEFILE")
STATE_URL_KEY = "state__url"  # AGENTD_<this>, any case, as config/loader.py reads it


def _is_state_url(name: str) -> bool:
    return name.startswith("AGENTD_") and name[len("AGENTD_") :].lower() == STATE_URL_KEY


def inherited(environ: Mapping[str, str], postgres: bool = False) -> dict[str, str]:
    """What of agentd's environment a process it starts (a task, an alert command) may
    see: not its supervisor's variables nor the shared store's credentials (libpq's too
    when ``postgres``: agentd's state is on PostgreSQL)."""
    return {
        k: v
        for k, v in environ.items()
        if k not in STRIPPED_ENV and not _is_state_url(k) and not (postgres and k in LIBPQ_SECRETS)
    }


def substitute(text: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def task_argv(config: Config, task: str, values: Mapping[str, str]) -> list[str]:
    """``values`` holds project, project_dir, run_id and date; prompt is added here."""
    spec = config.task(task)
    if spec.command is not None:
        return [substitute(part, values) for part in spec.command]
    if spec.shell is not None:
        return ["/bin/sh", "-c", spec.shell]
    assert spec.agent is not None
    assert spec.prompt is not None
    prompt = substitute(spec.prompt, values)
    with_prompt = {**values, "prompt": prompt}
    return [substitute(part, with_prompt) for part in config.agent_command(spec.agent)]


def base_env(environ: Mapping[str, str], run: RunSection, postgres: bool = False) -> dict[str, str]:
    """What every task starts from: agentd's own environment without its supervisor's
    variables and the store's credentials (``inherited``), then ``[run] env``, then
    ``[run] path`` in front of PATH. The programs of tasks and agents are looked up on
    this PATH."""
    env = inherited(environ, postgres)
    env.update(run.env)
    if run.path:
        # With no PATH at all, execvp(3) would have searched os.defpath: keep that after ours.
        rest = env.get("PATH") or os.defpath
        env["PATH"] = os.pathsep.join([*(str(expand(d)) for d in run.path), rest])
    return env


def task_env(
    base: Mapping[str, str], project_env: Mapping[str, str], values: Mapping[str, str], task: str
) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in STRIPPED_ENV and not _is_state_url(k)}
    env.update(project_env)
    env.update(
        {
            "AGENTD_RUN_ID": values["run_id"],
            "AGENTD_PROJECT": values["project"],
            "AGENTD_TASK": task,
            "AGENTD_PROJECT_DIR": values["project_dir"],
            "AGENTD_DATE": values["date"],
        }
    )
    return env
