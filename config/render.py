"""``agentd config show``: the configuration as agentd resolved it, secrets masked.

Every effective value is written out, including those a project or task inherits
(``[defaults]`` tasks, require_clean and isolation; ``[run]`` task_timeout and
max_log_size; a built-in agent's command), so the output loaded back as a configuration
means exactly what the original did. Empty tables are left out: they mean their defaults.

Written with tomlkit, which puts an array on one line; tomli_w (the writer the tests'
builders use) always writes one element per line, and has no option to do otherwise.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from agentd.config.fields import host_name
from agentd.config.resolved import Config
from agentd.config.secrets import MASK, is_secret_key, masked_url


def resolved_dict(config: Config, state_dir: Path) -> dict[str, Any]:
    data = config.settings.model_dump(mode="json", exclude_none=True)
    data["schedule"]["timezone"] = str(config.zone)
    data["paths"]["state_dir"] = str(state_dir)
    run = data["run"]
    for task in data["tasks"].values():
        task.setdefault("timeout", run["task_timeout"])
        task.setdefault("max_log_size", run["max_log_size"])
    used = {t.agent for t in config.settings.tasks.values() if t.agent is not None}
    for agent in sorted(used | set(data["agents"])):
        spec = data["agents"].setdefault(agent, {"command": config.agent_command(agent)})
        spec["usage"] = config.usage_format(agent)
    data["projects"] = [_project(config, p) for p in data["projects"]]
    run["env"] = _masked_env(run["env"])
    notify = data["notify"]
    for key in ("webhook", "ping_url"):
        if key in notify:
            # Incoming-webhook and ping URLs carry their token in the path: the host alone
            # is safe to show, marked as cut.
            notify[key] = masked_url(notify[key])
    notify["headers"] = dict.fromkeys(notify.get("headers", {}), MASK)
    state = data["state"]
    if "host" not in state and host_name(socket.gethostname()):
        state["host"] = socket.gethostname()  # one the file could not hold stays unsaid
    if "url" in state:
        from agentd.config.conninfo import masked

        # Where the database is, never its password (config.conninfo).
        state["url"] = masked(state["url"])
    return data


def _project(config: Config, project: dict[str, Any]) -> dict[str, Any]:
    """A project's entry, in one order for all, with what it inherits filled in."""
    spec = config.project(project["name"])
    resolved = {
        "name": spec.name,
        "path": str(config.project_dir(spec)),
        "tasks": config.task_names(spec),
        "depends_on": project["depends_on"],
        "enabled": spec.enabled,
        "require_clean": config.require_clean(spec),
        "isolation": config.isolation(spec),
    }
    return {**resolved, **project, **resolved, "env": _masked_env(project["env"])}


def _masked_env(env: dict[str, str]) -> dict[str, str]:
    return {k: MASK if is_secret_key(k) else v for k, v in env.items()}


def _without_empty_tables(value: Any) -> Any:
    """``value`` with every empty table left out, recursively (lists of tables too)."""
    if isinstance(value, dict):
        kept = {k: _without_empty_tables(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v != {}}
    if isinstance(value, list):
        return [_without_empty_tables(item) for item in value]
    return value


def render_toml(config: Config, state_dir: Path) -> str:
    import tomlkit  # only this command writes TOML

    data = _without_empty_tables(resolved_dict(config, state_dir))
    for project in data["projects"]:
        if "env" in project:
            # One line with the project's other keys, not a [projects.env] table after them.
            env = tomlkit.inline_table()
            env.update(project["env"])
            project["env"] = env
    header = f"# resolved from {config.path}; defaults filled in, secrets masked\n"
    return header + tomlkit.dumps(data)
