"""The configuration file: schema, validation, lookup, and the starter file."""

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
