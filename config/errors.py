"""Configuration problems, each with the place in the file it concerns.

Places read like the TOML a user edits: ``run.max_parallel_projects``,
``projects[api].tasks[2]``, ``tasks."my task".command``. Project list indices are replaced
by the project's name when it has one, since nobody counts ``[[projects]]`` tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# Values, keys and messages are cut to this in anything printed: a 10,000-character key
# or a 4,000-digit number must not flood a terminal or a journal line.
SHOWN_CHARS = 200


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


@dataclass(frozen=True)
class Problem:
    place: str
    message: str

    def __str__(self) -> str:
        message = cut(self.message, 2 * SHOWN_CHARS)
        return f"{cut(self.place)}: {message}" if self.place else message


class ConfigError(Exception):
    """Everything wrong with one configuration file, reported together."""

    def __init__(self, path: str, problems: Sequence[Problem]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = f"configuration {self.path}: {count} problem{'s' if count != 1 else ''}"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


class ConfigUnreadable(ConfigError):
    """The file is missing or closed to us: nothing of it is known, not even where it puts
    the state directory."""


def format_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else '"' + key.replace('"', '\\"') + '"'


def format_place(loc: Sequence[Any], raw: Mapping[str, Any]) -> str:
    """``('projects', 0, 'tasks', 2)`` -> ``projects[api].tasks[2]``; by index when the
    name itself is what is wrong with it (too long, control characters)."""
    from agentd.config.fields import check_name

    out = ""
    node: Any = raw
    for part in loc:
        if isinstance(part, int):
            label: Any = part
            if out == "projects" and isinstance(node, list) and part < len(node):
                name = node[part].get("name") if isinstance(node[part], Mapping) else None
                if isinstance(name, str) and name and _valid(check_name, name):
                    label = name
            out += f"[{label}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            key = str(part)
            out += ("." if out else "") + format_key(key)
            node = node.get(key) if isinstance(node, Mapping) else None
    return out


def _valid(check: Any, name: str) -> bool:
    try:
        check(name, "project")
    except ValueError:
        return False
    return True


def problems_from_validation(
    error: ValidationError,
    raw: Mapping[str, Any],
    origins: Mapping[tuple[str, ...], str],
    known_keys: Any,
) -> list[Problem]:
    """One Problem per pydantic error; ``origins`` names env variables behind a value."""
    problems = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        # A model validator's error is about the table itself, not a key inside it.
        place = format_place(loc, raw)
        message = _describe(err, loc, known_keys)
        origin = origins.get(tuple(str(p) for p in loc))
        if origin:
            message += f" (from environment variable {origin})"
        problems.append(Problem(place, message))
    return problems


def _describe(err: Mapping[str, Any], loc: tuple[Any, ...], known_keys: Any) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = _shown(err.get("input"), loc)
    if kind == "extra_forbidden":
        import difflib

        key = str(loc[-1])
        allowed = known_keys(loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = f" (allowed: {', '.join(allowed)})" if allowed and not close else ""
        return f"unknown key {key!r}{hint}{listing}"
    if kind == "missing":
        return "required key is missing"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        ops = {
            "greater_than_equal": ("ge", "at least"),
            "greater_than": ("gt", "more than"),
            "less_than_equal": ("le", "at most"),
            "less_than": ("lt", "less than"),
        }
        key, words = ops[kind]
        bound = ctx.get(key)
        if loc and isinstance(bound, int | float) and _is_duration(loc):
            from agentd.config.durations import format_duration

            bound = format_duration(float(bound))
        elif loc and isinstance(bound, int) and str(loc[-1]) == "max_log_size":
            from agentd.config.sizes import format_size

            bound = format_size(bound)
        return f"must be {words} {bound}, got {got}"
    if kind in ("too_short", "too_long"):
        return f"{_lower_first(err['msg'])}, got {got}"
    message = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return f"{_lower_first(message)}, got {got}"


def _is_duration(loc: tuple[Any, ...]) -> bool:
    return str(loc[-1]) in {
        "task_timeout",
        "kill_grace",
        "catch_up_window",
        "jitter",
        "timeout",
        "claim_stale_after",
        "retry_for",
    }


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _shown(value: Any, loc: tuple[Any, ...]) -> str:
    from agentd.config.secrets import is_secret_key

    if len(loc) >= 2 and loc[-2] == "env" and is_secret_key(str(loc[-1])):
        return "a value (masked)"
    if loc[:1] == ("state",) and loc[1:2] in ((), ("url",)):
        return "a value (masked)"  # the database's url, or a [state] given as one
    kind = type(value).__name__
    names = {"str": "string", "int": "integer", "float": "float", "bool": "boolean"}
    names |= {"list": "array", "dict": "table"}
    if isinstance(value, int) and value.bit_length() > 200:
        # str() of a number this long is slow, and past 4,300 digits refused by Python.
        text = f"of about {int(value.bit_length() * 0.30103) + 1:,} digits"
    else:
        try:
            text = repr(value)
        except (ValueError, RecursionError):  # too large, or nested too deeply, to print
            text = "(too large to show)"
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{names.get(kind, kind)} {text}"
