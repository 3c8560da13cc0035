"""Where the configuration file is, without reading it: light (no schema, no pydantic),
for the read commands that only need to know whether there is a file and what it names
(``agentd report`` with its state directory given, on a shared store)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from agentd.config.access import exists
from agentd.config.homedir import expand, home

# Where `agentd config init --system` writes, and where the command line looks when the
# user has no file of their own (a parameter of find_config, so tests pass their own).
SYSTEM_CONFIG_DIR = Path("/etc/agentd")


def find_config(
    environ: Mapping[str, str], system_dir: Path = SYSTEM_CONFIG_DIR
) -> tuple[Path, str]:
    """The file after ``--config`` and the rule that chose it (README, "Configuration
    reference"): $AGENTD_CONFIG, $CONFIGURATION_DIRECTORY, the user's file when it exists,
    the system file when it exists, else the user's path, for "no such file" to name."""
    if environ.get("AGENTD_CONFIG"):
        return expand(environ["AGENTD_CONFIG"]), "$AGENTD_CONFIG"
    if environ.get("CONFIGURATION_DIRECTORY"):
        # systemd may pass several directories separated by ':'; ours is the first.
        first = environ["CONFIGURATION_DIRECTORY"].split(":")[0]
        return Path(first) / "config.toml", "$CONFIGURATION_DIRECTORY"
    base = environ.get("XDG_CONFIG_HOME") or home(environ) / ".config"
    user = Path(base) / "agentd" / "config.toml"
    if present(user):
        return user, "user file"
    system = system_dir / "config.toml"
    if present(system):
        return system, "system file"
    return user, "default"


def present(path: Path) -> bool:
    """Whether ``path`` is there, as far as this user can tell: one in a directory closed
    to us counts (reading it then says who may), so that a user outside the group is told
    how to get in rather than to create a second configuration."""
    return exists(path) is not False
