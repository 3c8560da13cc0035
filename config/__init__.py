"""The configuration file: schema, validation, lookup, and the starter file.

The names below are imported on first use, not with the package: the schema is pydantic
models, and importing them costs several times Python's own start-up. ``agentd --help``,
``agentd report`` with its state directory given, and anything that needs only
``agentd.config.cron`` or ``agentd.config.homedir`` do without it
(tests/cli/test_startup_imports.py checks which modules each command loads).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentd.config.errors import ConfigError, Problem
    from agentd.config.loader import default_config_path, load_config
    from agentd.config.resolved import Config, resolve_state_dir

__all__ = [
    "Config",
    "ConfigError",
    "Problem",
    "default_config_path",
    "load_config",
    "resolve_state_dir",
]

_HOMES = {
    "Config": "agentd.config.resolved",
    "ConfigError": "agentd.config.errors",
    "Problem": "agentd.config.errors",
    "default_config_path": "agentd.config.loader",
    "load_config": "agentd.config.loader",
    "resolve_state_dir": "agentd.config.resolved",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # found directly from now on
    return value
