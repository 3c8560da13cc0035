"""``agentd config path [--json]``: which configuration file and state directory the
commands use, and which rule chose each.

It answers even when the file is invalid, missing or closed to us: that is when one asks.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from agentd.daemon.cli.exits import EXIT_OK
from agentd.daemon.cli.setup import config_choice, state_choice
from agentd.daemon.output.textout import harmless


def path_command(args: argparse.Namespace) -> int:
    found = gather(args)
    if args.json:
        print(json.dumps(found, indent=2))
        return EXIT_OK
    config, state = found["config"], found["state_dir"]
    lines = [
        f"config:    {config['path']}",
        f"           {_config_why(config)}",
        f"           {_config_status(config)}",
        f"state dir: {state['path']}",
        f"           {_state_why(state, config['path'])}",
    ]
    if state["exists"] is False:
        lines.append("           does not exist yet: the first sweep creates it")
    print(harmless("\n".join(lines)))
    return EXIT_OK


def gather(args: argparse.Namespace) -> dict[str, Any]:
    from agentd.config.errors import ConfigError, ConfigUnreadable
    from agentd.config.loader import SYSTEM_CONFIG_DIR, load_config, salvaged_state_dir

    path, rule = config_choice(args)
    setting: str | None = None
    exists = _exists(path)
    problems: list[str] = []
    try:
        config = load_config(path, os.environ)
    except ConfigUnreadable as exc:
        problems = [str(p) for p in exc.problems]
        status = "missing" if exists is False else "unreadable"
    except ConfigError as exc:
        problems = [str(p) for p in exc.problems]
        setting = salvaged_state_dir(path, os.environ)
        status = "invalid"
    else:
        status, setting = "valid", config.settings.paths.state_dir
    directory, state_rule = state_choice(args, setting, path.absolute().parent)
    return {
        "config": {
            "path": str(path),
            "rule": rule,
            "exists": exists,
            "status": status,
            "problems": problems,
            "system_file": str(SYSTEM_CONFIG_DIR / "config.toml"),
        },
        "state_dir": {"path": str(directory), "rule": state_rule, "exists": _exists(directory)},
    }


def _exists(path: Path) -> bool | None:
    """None when a directory on the way is closed to us, so nobody can tell."""
    try:
        os.stat(path)
    except PermissionError:
        return None
    except OSError:
        return False
    return True


def _config_why(config: dict[str, Any]) -> str:
    rule = config["rule"]
    why = {
        "--config": "given with --config",
        "$AGENTD_CONFIG": "named by $AGENTD_CONFIG",
        "$CONFIGURATION_DIRECTORY": "in $CONFIGURATION_DIRECTORY (set by systemd)",
        "user file": "your own file, which comes before the system's",
        "system file": "the system's: you have no file of your own",
        "default": f"neither it nor {config['system_file']} exists",
    }
    return f"chosen by: {rule} ({why.get(rule, rule)})"


def _config_status(config: dict[str, Any]) -> str:
    problems = config["problems"]
    if config["status"] == "valid":
        return "valid"
    if config["status"] == "missing":
        return "missing: `agentd config init` writes a starter file"
    if config["status"] == "unreadable":
        return f"cannot be read: {problems[0]}"
    count = len(problems)
    return (
        f"not valid: {count} problem{'s' if count != 1 else ''} (`agentd config check` lists them)"
    )


def _state_why(state: dict[str, Any], config_path: str) -> str:
    rule = state["rule"]
    why = {
        "--state-dir": "given with --state-dir",
        "$AGENTD_STATE_DIR": "named by $AGENTD_STATE_DIR",
        "[paths] state_dir": f"set in {config_path}",
        "$STATE_DIRECTORY": "in $STATE_DIRECTORY (set by systemd)",
        "default": "$XDG_STATE_HOME/agentd: no --state-dir, $AGENTD_STATE_DIR, "
        "[paths] state_dir or $STATE_DIRECTORY",
    }
    return f"chosen by: {rule} ({why.get(rule, rule)})"
