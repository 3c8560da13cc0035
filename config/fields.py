"""The building blocks of the schema in ``config.model``: argv lists, durations, sizes and
names, each checked as the kernel, the file system or a terminal will later need it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from agentd.config.durations import format_duration, parse_duration
from agentd.config.sizes import EXAMPLES, format_size, parse_size

PLACEHOLDERS = ("prompt", "project", "project_dir", "run_id", "date")
PLACEHOLDER_RE = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


def _no_nul(value: Any) -> Any:
    # The kernel cannot pass a NUL byte in an argument; say so now, not at 3 a.m.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("contains a NUL byte")
    if isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value):
        raise ValueError("an element contains a NUL byte")
    return value


NoNul = BeforeValidator(_no_nul)

# Linux refuses to start a program with any one argument or environment string longer
# than this (MAX_ARG_STRLEN, 32 pages, the final NUL included): found now, not at 3 a.m.
MAX_ARG_BYTES = 131072 - 1


def too_long(text: str) -> str | None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= MAX_ARG_BYTES:
        return None
    return (
        f"is {size:,} bytes; the kernel passes no argument or environment string longer "
        f"than {MAX_ARG_BYTES + 1:,} bytes to a program (put long text in a file instead)"
    )


def _fits(value: Any) -> Any:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and (why := too_long(item)):
            raise ValueError(why)
    return value


Fits = AfterValidator(_fits)


def _program_named(value: list[str]) -> list[str]:
    if not value[0]:
        raise ValueError("the program (first element) must not be empty")
    return value


# An argv list: executed directly, so its first element names the program.
Argv = Annotated[list[str], Field(min_length=1), NoNul, Fits, AfterValidator(_program_named)]


def _duration(value: Any) -> float:
    if not isinstance(value, str):
        raise ValueError(
            f"expected a duration string such as '90s', '10m' or '1h30m', got {value!r}"
        )
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
]


PositiveDuration = Annotated[Duration, Field(gt=0)]


def _size(value: Any) -> int:
    if not isinstance(value, str):
        raise ValueError(f"expected a size string such as {EXAMPLES}, got {value!r}")
    return parse_size(value)


# A log under 64 KiB holds too little to be worth keeping; past a TiB it is a typo.
LogSize = Annotated[
    int,
    BeforeValidator(_size),
    Field(ge=64 * 1024, le=1024**4),
    PlainSerializer(format_size, return_type=str),
]
DEFAULT_MAX_LOG_SIZE = 100 * 1024 * 1024


def lowercase(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# Control characters (C0 and C1) would act on the terminals names are shown on, and the
# bidirectional marks would reorder what is shown around them.
_NAME_RE = re.compile("^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069/\\\\]+$")
# A file name is at most 255 bytes on the usual file systems; names become directory and
# file names with a suffix added (``<task>.log``, a branch's ``-2``).
MAX_NAME_CHARS = 100
MAX_NAME_BYTES = 200


def check_name(name: str, what: str) -> str:
    """Project and task names become directory and file names under runs/<run_id>/."""
    if not name.strip():
        raise ValueError(f"{what} name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"{what} name is longer than {MAX_NAME_CHARS} characters")
    if name != name.strip():
        raise ValueError(f"{what} name {name!r} has leading or trailing spaces")
    if name in (".", "..") or name.startswith("."):
        raise ValueError(f"{what} name {name!r} must not start with '.'")
    if not _NAME_RE.match(name):
        raise ValueError(
            f"{what} name {name!r} must not contain '/', '\\', control characters or "
            "text-direction marks"
        )
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise ValueError(
            f"{what} name {name!r} is {size} bytes in UTF-8; at most {MAX_NAME_BYTES} fit in "
            "a file name"
        )
    return name


# A host's name as claims, reports and projects' ``hosts`` patterns carry it: what
# hostname(1) may say, and nothing a terminal or a pattern would read otherwise.
_HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
_HOST_PATTERN_RE = re.compile(r"^[A-Za-z0-9._*?!\[\]-]{1,253}$")


def host_name(value: str) -> bool:
    return bool(_HOST_RE.match(value))


def _host(value: str) -> str:
    if not host_name(value):
        raise ValueError(
            f"{value[:64]!r} is not a host name: letters, digits, '.', '-' and '_', "
            "starting with a letter or digit, at most 253 characters"
        )
    return value


def _host_pattern(value: str) -> str:
    if not _HOST_PATTERN_RE.match(value):
        raise ValueError(
            f"{value[:64]!r} is not a host name pattern: letters, digits, '.', '-', '_' "
            "and the wildcards '*', '?', '[...]'"
        )
    return value


HostName = Annotated[str, AfterValidator(_host)]
HostPattern = Annotated[str, AfterValidator(_host_pattern)]


_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_env(value: dict[str, str]) -> dict[str, str]:
    """Variables for a task's environment, checked as execve(2) will take them."""
    for key, item in value.items():
        if not _ENV_KEY.match(key):
            raise ValueError(f"{key!r} is not a valid environment variable name")
        if "\x00" in item:
            raise ValueError(f"the value of {key} contains a NUL byte")
        if why := too_long(f"{key}={item}"):
            raise ValueError(f"{key}=<value> {why}")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
