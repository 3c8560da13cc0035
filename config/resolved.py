"""A validated configuration with everything a sweep asks of it already resolved.

Relative paths in the file are relative to the file's own directory, so a config that sits
next to its projects works from wherever agentd is started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from agentd.config.cron import CronSpec, parse_cron
from agentd.config.homedir import expand, home
from agentd.config.presets import AGENT_PRESETS

if TYPE_CHECKING:
    # Only named here: resolve_state_dir serves `agentd report`, which needs no schema.
    from agentd.config.model import ProjectSpec, Settings, TaskSpec


@dataclass(frozen=True)
class Config:
    settings: Settings
    path: Path

    @property
    def directory(self) -> Path:
        return self.path.parent

    @cached_property
    def zone(self) -> tzinfo:
        """The schedule's zone; it also defines which calendar day "today" is."""
        from zoneinfo import ZoneInfo

        name = self.settings.schedule.timezone
        if name:
            return ZoneInfo(name)
        return local_zone()

    @cached_property
    def cron(self) -> CronSpec:
        return parse_cron(self.settings.schedule.cron)

    @property
    def projects(self) -> list[ProjectSpec]:
        return self.settings.projects

    @cached_property
    def _by_name(self) -> dict[str, ProjectSpec]:
        return {spec.name: spec for spec in self.settings.projects}

    def project(self, name: str) -> ProjectSpec:
        return self._by_name[name]

    def resolve_path(self, text: str) -> Path:
        """NoHome for a ``~`` path without a home directory (the loader checks every path
        of the file this way, so a loaded configuration never raises it)."""
        path = expand(text)
        return path if path.is_absolute() else self.directory / path

    def project_dir(self, spec: ProjectSpec) -> Path:
        return tidy(self.resolve_path(spec.path))

    def task_names(self, spec: ProjectSpec) -> list[str]:
        return list(spec.tasks) if spec.tasks is not None else list(self.settings.defaults.tasks)

    def task(self, name: str) -> TaskSpec:
        return self.settings.tasks[name]

    def task_timeout(self, name: str) -> float:
        own = self.settings.tasks[name].timeout
        return own if own is not None else self.settings.run.task_timeout

    def max_log_size(self, name: str) -> int:
        own = self.settings.tasks[name].max_log_size
        return own if own is not None else self.settings.run.max_log_size

    def agent_command(self, agent: str) -> list[str]:
        custom = self.settings.agents.get(agent)
        return list(custom.command) if custom else list(AGENT_PRESETS[agent])

    def usage_format(self, agent: str) -> str:
        """How ``agents.registry`` reads this agent's output: as configured, else the preset's
        own format, else every known format in turn."""
        custom = self.settings.agents.get(agent)
        if custom is not None and custom.usage is not None:
            return custom.usage
        return agent if agent in AGENT_PRESETS else "auto"

    def require_clean(self, spec: ProjectSpec) -> bool:
        own = spec.require_clean
        return own if own is not None else self.settings.defaults.require_clean

    def isolation(self, spec: ProjectSpec) -> str:
        return spec.isolation or self.settings.defaults.isolation


def tidy(path: Path) -> Path:
    """``path`` without ``..`` (``c2/../proj`` is ``proj``), for the logs, reports and
    ``config show``, when that names the same place: after a symlinked directory, ``..``
    leads out of the link's target, and the path is then kept as written."""
    if ".." not in path.parts:
        return path  # the usual case costs no system call
    import os

    short = Path(os.path.normpath(path))
    return short if os.path.realpath(short) == os.path.realpath(path) else path


def resolve_state_dir(
    config: Config | None, override: str | None, environ: Mapping[str, str]
) -> Path:
    """The state directory; ``config`` is None for commands that work without a valid
    file (``agentd report``). NoHome if the answer needs a home directory that does not
    exist."""
    setting = config.settings.paths.state_dir if config is not None else None
    base = config.directory if config is not None else None
    return choose_state_dir(setting, base, override, environ)[0]


def choose_state_dir(
    setting: str | None, base: Path | None, override: str | None, environ: Mapping[str, str]
) -> tuple[Path, str]:
    """The state directory and the rule that chose it: --state-dir, $AGENTD_STATE_DIR,
    ``[paths] state_dir`` (``setting``, relative to ``base``, the file's directory),
    $STATE_DIRECTORY, then the XDG default. NoHome as resolve_state_dir."""
    if override:
        return expand(override).absolute(), "--state-dir"
    if environ.get("AGENTD_STATE_DIR"):
        return expand(environ["AGENTD_STATE_DIR"]).absolute(), "$AGENTD_STATE_DIR"
    if setting:
        path = expand(setting)
        if base is not None and not path.is_absolute():
            path = base / path
        return path.absolute(), "[paths] state_dir"
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0]), "$STATE_DIRECTORY"
    base_dir = environ.get("XDG_STATE_HOME") or home(environ) / ".local" / "state"
    return Path(base_dir) / "agentd", "default"


def local_zone() -> tzinfo:
    """The machine's zone; UTC when it cannot be determined (a container without tzdata)."""
    try:
        import tzlocal

        zone: tzinfo = tzlocal.get_localzone()
    except Exception:  # noqa: BLE001 - any failure here means "unknown", and UTC is safe
        from datetime import UTC

        return UTC
    return zone
