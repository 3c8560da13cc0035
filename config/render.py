"""``agentd config show``: the configuration as agentd resolved it, secrets masked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from agentd.config.resolved import Config
from agentd.config.secrets import MASK, is_secret_key, redact_url


def resolved_dict(config: Config, state_dir: Path) -> dict[str, Any]:
    data = config.settings.model_dump(mode="json", exclude_none=True)
    data["schedule"]["timezone"] = str(config.zone)
    data["paths"]["state_dir"] = str(state_dir)
    for project in data["projects"]:
        project["path"] = str(config.project_dir(config.project(project["name"])))
        project["env"] = _masked_env(project["env"])
    data["run"]["env"] = _masked_env(data["run"]["env"])
    notify = data["notify"]
    for key in ("webhook", "ping_url"):
        if key in notify:
            # Incoming-webhook and ping URLs carry their token in the path: the host alone
            # is safe to show.
            notify[key] = redact_url(notify[key])
    notify["headers"] = dict.fromkeys(notify.get("headers", {}), MASK)
    return data


def _masked_env(env: dict[str, str]) -> dict[str, str]:
    return {k: MASK if is_secret_key(k) else v for k, v in env.items()}


def render_toml(config: Config, state_dir: Path) -> str:
    header = f"# resolved from {config.path}; defaults filled in, secrets masked\n"
    return header + tomli_w.dumps(resolved_dict(config, state_dir))
