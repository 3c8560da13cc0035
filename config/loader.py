"""Finding, reading and validating ``config.toml``.

The file's tables, with the ``AGENTD_<SECTION>__<KEY>`` overrides merged over them, are
validated by the pydantic schema (``config.model``). A missing file is an error, a TOML
syntax error names its line and column, every problem is reported with its place, and the
cross-table checks run even when some values have the wrong type.

The merge is done here, as pydantic-settings did it when agentd used that: top-level keys
matched to the sections without regard to case, and an override's table merged into the
file's key by key. pydantic-settings itself is not imported: it added about 1.5x
``python -c pass`` to every command that reads the file (BENCHMARKS.md, "Start-up of the
read commands").
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from agentd.config import crossref
from agentd.config.access import denied
from agentd.config.errors import (
    ConfigError,
    ConfigUnreadable,
    Problem,
    cut,
    problems_from_validation,
)
from agentd.config.homedir import NoHome, expand
from agentd.config.lookup import find_config
from agentd.config.model import SECTIONS, Settings
from agentd.config.resolved import Config

ENV_PREFIX = "AGENTD_"
# A configuration file is a few kilobytes; 10,000 projects are about a megabyte. Anything
# far larger is not one, and reading it whole would only exhaust memory.
MAX_BYTES = 64 * 1024 * 1024
# A file that changes while it is read (an editor saving in place) is read again.
READ_ATTEMPTS = 5
BOM = "\ufeff"


def default_config_path(environ: Mapping[str, str]) -> Path:
    """The configuration file to use when no ``--config`` is given; NoHome if it needs a
    home directory that does not exist."""
    return find_config(environ)[0]


class EnvOverrides:
    """``AGENTD_RUN__MAX_PARALLEL_PROJECTS=2`` -> ``{"run": {"max_parallel_projects": 2}}``.

    Environment values are strings while the schema is strict, so values meant for integer
    and boolean keys are typed here; anything else stays a string for the schema to judge.
    Only variables with ``__`` after the prefix are overrides: ``AGENTD_CONFIG`` and the
    ``AGENTD_RUN_ID``-style variables agentd gives its tasks are not.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.origins: dict[tuple[str, ...], str] = {}
        self.problems: list[Problem] = []

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, value in sorted(self.environ.items()):
            if not name.startswith(ENV_PREFIX) or "__" not in name or value == "":
                continue
            section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
            if section not in SECTIONS:
                sections = ", ".join(f"[{s}]" for s in SECTIONS)
                self.problems.append(
                    Problem(name, f"only keys of {sections} can be set from the environment")
                )
                continue
            data.setdefault(section, {})[key] = _typed(section, key, value)
            self.origins[(section, key)] = name
        return data


def _typed(section: str, key: str, value: str) -> Any:
    model = SECTIONS.get(section)
    field = model.model_fields.get(key) if model else None
    kinds = _scalar_kinds(field.annotation) if field else set()
    text = value.strip()
    if bool in kinds:
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
    for kind in (int, float):
        if kind in kinds:
            try:
                return kind(text)
            except ValueError:
                pass
    return value


def _scalar_kinds(annotation: Any) -> set[type]:
    """``Annotated[float, ...] | None`` -> {float, NoneType}: what an env string may become."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _scalar_kinds(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_scalar_kinds(a) for a in typing.get_args(annotation)))
    return {annotation} if isinstance(annotation, type) else set()


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate; raises ConfigError listing every problem found, and nothing else:
    the file is hostile input, and the daemon must survive whatever it holds."""
    environ = os.environ if environ is None else environ
    try:
        return _load(path, environ)
    except ConfigError:
        raise
    except RecursionError:
        problem = Problem("", "nested too deeply (arrays or tables inside each other)")
        raise ConfigError(str(path), [problem]) from None
    except Exception as exc:  # noqa: BLE001 - a bad file is exit 2, never a crash
        problem = Problem("", f"cannot be read as a configuration: {_exception_text(exc)}")
        raise ConfigError(str(path), [problem]) from None


def _load(path: Path, environ: Mapping[str, str]) -> Config:
    shown = str(path)
    raw = parse_toml(read_text(path, environ), shown)
    env = EnvOverrides(environ)
    try:
        settings = Settings.model_validate(merged(sections_by_name(raw), env()))
    except ValidationError as exc:
        problems = env.problems + problems_from_validation(exc, raw, env.origins, known_keys)
        problems += crossref.check(raw)
        raise ConfigError(shown, problems) from None
    config = Config(settings=settings, path=path.absolute())
    problems = env.problems + crossref.check(settings.model_dump()) + _home_problems(config)
    if problems:
        raise ConfigError(shown, problems)
    return config


def sections_by_name(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The file's top-level keys with the sections' own names: ``[RUN]`` and ``[Run]`` are
    ``[run]``, and of two spellings of one section the first in the file is taken (the
    other is dropped, not reported). pydantic-settings matched them so, and files written
    for it keep loading alike; any other key stays as written, for the schema to refuse."""
    out: dict[str, Any] = {}
    taken: set[str] = set()
    for field in Settings.model_fields:
        spellings = [key for key in raw if key.lower() == field]
        if spellings:
            out[field] = raw[spellings[0]]
            taken.update(spellings)
    out.update((key, value) for key, value in raw.items() if key not in taken)
    return out


def merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: tables on both sides merged key by key, anything else
    replaced."""
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        out[key] = (
            merged(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return out


def read_text(path: Path, environ: Mapping[str, str] | None = None) -> str:
    """The file's text, read whole. A file replaced or rewritten while we read it (its
    inode, size or modification time changed) is read again; a UTF-8 byte order mark,
    which some Windows editors write, is dropped. ``environ`` tells whether a missing
    file is the default one, for the command that creates it."""
    shown = str(path)
    data = b""
    for _ in range(READ_ATTEMPTS):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            init = init_command(path, os.environ if environ is None else environ)
            raise ConfigUnreadable(
                shown, [Problem("", f"no such file (create a starter file with `{init}`)")]
            ) from None
        except PermissionError:
            raise ConfigUnreadable(shown, [Problem("", denied(path))]) from None
        except OSError as exc:
            raise ConfigUnreadable(shown, [Problem("", f"cannot read: {exc.strerror}")]) from None
        with os.fdopen(fd, "rb") as handle:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise ConfigError(shown, [Problem("", "not a regular file")])
            if before.st_size > MAX_BYTES:
                raise ConfigError(
                    shown, [Problem("", f"is {before.st_size:,} bytes; a configuration is smaller")]
                )
            try:
                data = handle.read(MAX_BYTES + 1)
            except OSError as exc:
                raise ConfigError(shown, [Problem("", f"cannot read: {exc.strerror}")]) from None
        if _unchanged(path, before, len(data)):
            break
    else:
        raise ConfigError(
            shown, [Problem("", f"kept changing while it was read ({READ_ATTEMPTS} times)")]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            shown, [Problem("", f"not UTF-8 text (bad byte at offset {exc.start})")]
        ) from None
    return text.removeprefix(BOM)


def init_command(path: Path, environ: Mapping[str, str]) -> str:
    """``agentd config init`` alone writes the default file; any other (--config,
    $AGENTD_CONFIG) is named, so that the starter lands where it will be looked for."""
    import shlex

    try:
        default = find_config(environ) == (path, "default")
    except NoHome:
        default = False
    return "agentd config init" + ("" if default else f" {shlex.quote(str(path))}")


def _unchanged(path: Path, before: os.stat_result, size: int) -> bool:
    try:
        after = os.stat(path)
    except OSError:
        return False
    same = (before.st_ino, before.st_size, before.st_mtime_ns) == (
        after.st_ino,
        after.st_size,
        after.st_mtime_ns,
    )
    return same and size == after.st_size


def parse_toml(text: str, shown: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        hint = _unclosed_header(text)
        raise ConfigError(shown, [Problem("", f"TOML syntax error: {exc}{hint}")]) from None
    except ValueError as exc:
        message = str(exc)
        if "integer string conversion" in message:
            message = "a number has thousands of digits"
        raise ConfigError(shown, [Problem("", f"a value cannot be read: {cut(message)}")]) from None


# ``[run`` alone on its line: tomllib's error may then blame something else ("Cannot
# declare ('run',) twice" when a ``[run]`` came before), so the cause is named as well.
_UNCLOSED = re.compile(r"^[ \t]*(\[\[?[ \t]*[A-Za-z0-9_.-]+)[ \t]*(#.*)?$", re.MULTILINE)


def _unclosed_header(text: str) -> str:
    found = _UNCLOSED.search(text)
    if found is None:
        return ""
    line = text.count("\n", 0, found.start()) + 1
    return f"; line {line}: `{found.group(1)}` has no closing `]`"


def _home_problems(config: Config) -> list[Problem]:
    """Paths that start with ``~`` need a home directory; say so now, not at 3 a.m."""
    problems = []
    for spec in config.projects:
        try:
            config.project_dir(spec)
        except NoHome as exc:
            problems.append(Problem(f"projects[{spec.name}].path", str(exc)))
    for i, item in enumerate(config.settings.run.path):
        try:
            expand(item)
        except NoHome as exc:
            problems.append(Problem(f"run.path[{i}]", str(exc)))
    state_dir = config.settings.paths.state_dir
    if state_dir:
        try:
            expand(state_dir)
        except NoHome as exc:
            problems.append(Problem("paths.state_dir", str(exc)))
    return problems


def _exception_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - even printing it may fail (a 5,000-digit number)
        text = ""
    return type(exc).__name__ + (f": {cut(text)}" if text else "")


def known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at ``loc``, for 'did you mean' hints on unknown keys."""
    node: Any = Settings
    for part in loc:
        node = _step(node, part)
        if node is None:
            return []
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return []


def _step(node: Any, part: Any) -> Any:
    while True:
        origin = typing.get_origin(node)
        args = typing.get_args(node)
        if origin in (typing.Union, types.UnionType):
            node = next((a for a in args if a is not type(None)), None)
        elif origin is typing.Annotated:
            node = args[0]
        else:
            break
    if isinstance(node, type) and issubclass(node, BaseModel):
        field = node.model_fields.get(str(part))
        return field.annotation if field else None
    origin = typing.get_origin(node)
    if origin is list and isinstance(part, int):
        return typing.get_args(node)[0]
    if origin is dict:
        return typing.get_args(node)[1]
    return None
