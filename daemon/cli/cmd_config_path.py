"""``agentd config path [--json]``: which configuration file and state directory the
commands use, and which rule chose each.

It answers even when the file is invalid, missing or closed to us: that is when one asks.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from agentd.daemon.cli.exits import EXIT_OK
from agentd.daemon.cli.setup import GUESSED, config_choice, state_choice
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
    from agentd.config.access import exists as there
    from agentd.config.errors import ConfigError, ConfigUnreadable
    from agentd.config.loader import load_config
    from agentd.config.lookup import SYSTEM_CONFIG_DIR
    from agentd.config.salvage import salvage_paths

    path, rule = config_choice(args)
    setting: str | None = None
    exists = there(path)
    problems: list[str] = []
    unread = False  # the file may name a state directory we could not read
    try:
        config = load_config(path, os.environ)
    except ConfigUnreadable as exc:
        problems = [str(p) for p in exc.problems]
        status = "missing" if exists is False else "unreadable"
        unread = exists is not False
    except ConfigError as exc:
        problems = [str(p) for p in exc.problems]
        salvaged = salvage_paths(path, os.environ)
        setting, unread = salvaged.state_dir, salvaged.unread
        status = "invalid"
    else:
        status, setting = "valid", config.settings.paths.state_dir
    directory, state_rule = state_choice(args, setting, path.absolute().parent)
    guess = unread and state_rule in GUESSED
    return {
        "config": {
            "path": str(path),
            "rule": rule,
            "exists": exists,
            "status": status,
            "problems": problems,
            "system_file": str(SYSTEM_CONFIG_DIR / "config.toml"),
        },
        "state_dir": {
            "path": str(directory),
            "rule": state_rule,
            "exists": there(directory),
            # The file's [paths] could not be read: it may name another directory.
            "guess": guess,
        },
    }


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
        from pathlib import Path

        from agentd.config.loader import init_command

        init = init_command(Path(config["path"]), os.environ)
        return f"missing: `{init}` writes a starter file"
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
    if state["guess"]:
        # Not "no [paths] state_dir": the file may well have one.
        why["default"] = "$XDG_STATE_HOME/agentd"
        reason = f"{why.get(rule, rule)}; the file's [paths] could not be read, so a guess"
        return f"chosen by: {rule} ({reason})"
    return f"chosen by: {rule} ({why.get(rule, rule)})"
