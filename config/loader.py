"""Finding, reading and validating ``config.toml``.

pydantic-settings reads the TOML file and merges the ``AGENTD_<SECTION>__<KEY>``
overrides; this module adds what it does not do: a missing file is an error (it skips one
silently), a TOML syntax error names its line and column, every problem is reported with
its place, and the cross-table checks run even when some values have the wrong type.
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource

from config import crossref
from config.errors import ConfigError, Problem, problems_from_validation
from config.model import SECTIONS, SOURCES, Settings
from config.resolved import Config

ENV_PREFIX = "AGENTD_"


def default_config_path(environ: Mapping[str, str]) -> Path:
    """The lookup order of SPEC section 2, after ``--config``."""
    if environ.get("AGENTD_CONFIG"):
        return Path(environ["AGENTD_CONFIG"]).expanduser()
    if environ.get("CONFIGURATION_DIRECTORY"):
        # systemd may pass several directories separated by ':'; ours is the first.
        first = environ["CONFIGURATION_DIRECTORY"].split(":")[0]
        return Path(first) / "config.toml"
    base = environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "agentd" / "config.toml"


class EnvOverrides(PydanticBaseSettingsSource):
    """``AGENTD_RUN__MAX_PARALLEL_PROJECTS=2`` -> ``{"run": {"max_parallel_projects": 2}}``.

    Environment values are strings while the schema is strict, so values meant for integer
    and boolean keys are typed here; anything else stays a string for the schema to judge.
    Only variables with ``__`` after the prefix are overrides: ``AGENTD_CONFIG`` and the
    ``AGENTD_RUN_ID``-style variables agentd gives its tasks are not.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ
        self.origins: dict[tuple[str, ...], str] = {}
        self.problems: list[Problem] = []

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole mapping

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
    """Load and validate; raises ConfigError listing every problem found."""
    environ = os.environ if environ is None else environ
    shown = str(path)
    if not path.exists():
        raise ConfigError(
            shown,
            [Problem("", "no such file (create a starter file with `agentd config init`)")],
        )
    if not path.is_file():
        raise ConfigError(shown, [Problem("", "not a regular file")])
    try:
        toml = TomlConfigSettingsSource(Settings, toml_file=path)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(shown, [Problem("", f"TOML syntax error: {exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            shown, [Problem("", f"not UTF-8 text (bad byte at offset {exc.start})")]
        ) from None
    except OSError as exc:
        raise ConfigError(shown, [Problem("", f"cannot read: {exc.strerror}")]) from None
    env = EnvOverrides(Settings, environ)
    raw: dict[str, Any] = dict(toml.toml_data)
    token = SOURCES.set((env, toml))
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = env.problems + problems_from_validation(exc, raw, env.origins, known_keys)
        problems += crossref.check(raw)
        raise ConfigError(shown, problems) from None
    finally:
        SOURCES.reset(token)
    problems = env.problems + crossref.check(settings.model_dump())
    if problems:
        raise ConfigError(shown, problems)
    return Config(settings=settings, path=path.absolute())


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
