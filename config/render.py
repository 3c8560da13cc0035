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
        project["env"] = {k: MASK if is_secret_key(k) else v for k, v in project["env"].items()}
    notify = data["notify"]
    if "webhook" in notify:
        # Incoming-webhook URLs carry their token in the path: the host alone is safe to show.
        notify["webhook"] = redact_url(notify["webhook"])
    notify["headers"] = dict.fromkeys(notify.get("headers", {}), MASK)
    return data


def render_toml(config: Config, state_dir: Path) -> str:
    header = f"# resolved from {config.path}; defaults filled in, secrets masked\n"
    return header + tomli_w.dumps(resolved_dict(config, state_dir))
