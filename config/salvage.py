"""What a configuration file that does not validate still tells: the read commands
(``status``, ``report``, ``log``) find the state directory and the schedule with it, so
that a typo in ``config.toml`` does not hide the night's state.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from agentd.config.errors import ConfigError, ConfigUnreadable
from agentd.config.loader import EnvOverrides, merged, read_text, sections_by_name
from agentd.config.lookup import present
from agentd.config.model import ScheduleSection, StateSection


def salvaged_state_dir(path: Path, environ: Mapping[str, str]) -> str | None:
    """``[paths] state_dir`` of a file that does not validate, as far as it can be read
    (``salvage_paths``); None if it does not say."""
    return salvage_paths(path, environ).state_dir


@dataclass(frozen=True)
class Salvaged:
    """What a broken file says of the state directory. ``unread``: it may name one that
    could not be read (its ``[paths]`` table, or the file itself, is broken), so that any
    other choice is a guess the user must be told of."""

    state_dir: str | None
    unread: bool = False


def salvage_paths(path: Path, environ: Mapping[str, str]) -> Salvaged:
    """``[paths] state_dir`` of a file that does not validate: the read commands still find
    the state with it. From the whole file if it parses, else from its ``[paths]`` table
    alone; ``AGENTD_PATHS__STATE_DIR`` wins, as in a valid file."""
    if environ.get("AGENTD_PATHS__STATE_DIR"):
        return Salvaged(environ["AGENTD_PATHS__STATE_DIR"])
    try:
        text = read_text(path, environ)
    except ConfigUnreadable:
        return Salvaged(None, unread=present(path))  # a missing file names nothing
    except ConfigError:  # not UTF-8, not a regular file: nothing of it can be read
        return Salvaged(None, unread=True)
    try:
        raw = tomllib.loads(text)
    except ValueError:  # TOMLDecodeError, or a number too long to convert
        found = _table_alone(text, "paths")
        if found is None:
            return Salvaged(None, unread=bool(_MENTIONS_PATHS.search(text)))
        raw = found
    paths = sections_by_name(raw).get("paths")
    value = paths.get("state_dir") if isinstance(paths, dict) else None
    if isinstance(value, str) and value:
        return Salvaged(value)
    return Salvaged(None, unread=value is not None or not isinstance(paths, (dict, type(None))))


def salvaged_schedule(path: Path, environ: Mapping[str, str]) -> ScheduleSection | None:
    """The ``[schedule]`` of a file that does not validate, when it is valid on its own
    (the error is in another table): ``agentd status`` still shows when sweeps fire. From
    the whole file if it parses, else from the table alone; its ``AGENTD_SCHEDULE__``
    overrides over it. None if it cannot be told."""
    found = _section(path, environ, "schedule", ScheduleSection)
    return found if isinstance(found, ScheduleSection) else None


def salvaged_state(path: Path, environ: Mapping[str, str]) -> StateSection | None:
    """The ``[state]`` of a file that does not validate, when it is valid on its own: on
    several hosts the night's state is in the database, and a typo elsewhere must not
    hide it. None (the state directory's JSON file) if it cannot be told."""
    found = _section(path, environ, "state", StateSection)
    return found if isinstance(found, StateSection) else None


def _section(
    path: Path, environ: Mapping[str, str], name: str, model: type[BaseModel]
) -> BaseModel | None:
    try:
        text = read_text(path)
    except ConfigError:
        return None
    try:
        raw: dict[str, Any] | None = tomllib.loads(text)
    except ValueError:
        raw = _table_alone(text, name)
    table = sections_by_name(raw).get(name, {}) if raw is not None else None
    if not isinstance(table, dict):
        return None
    try:
        return model.model_validate(merged(table, EnvOverrides(environ)().get(name, {})))
    except ValidationError:
        return None


_NEXT_HEADER = re.compile(r"^[ \t]*\[", re.MULTILINE)
# A line (not a comment) that may set the state directory in a way the fragment parse
# missed: a broken ``[paths`` header, a ``state_dir =`` key, ``paths.state_dir`` or
# ``paths = {...}``.
_MENTIONS_PATHS = re.compile(
    r'^[ \t]*(\[+[ \t]*"?paths\b|"?state_dir"?[ \t]*=|"?paths"?[ \t]*[.=])',
    re.IGNORECASE | re.MULTILINE,
)


def _table_alone(text: str, name: str) -> dict[str, Any] | None:
    """Table ``[name]`` of a file with a syntax error elsewhere, parsed on its own; None
    if the file has no such header or the table cannot be read either."""
    header = re.compile(
        rf"^[ \t]*\[[ \t]*{name}[ \t]*\][ \t]*(#.*)?$", re.IGNORECASE | re.MULTILINE
    ).search(text)
    if header is None:
        return None
    following = _NEXT_HEADER.search(text, header.end())
    fragment = text[header.start() : following.start() if following else len(text)]
    try:
        return tomllib.loads(fragment)
    except ValueError:
        return None
