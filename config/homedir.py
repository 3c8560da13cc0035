"""``~`` in paths, when there may be no home directory to expand it to.

A service started with ``HOME`` unset, under a uid that has no passwd entry (a container,
``DynamicUser=``), makes ``Path.expanduser`` raise a bare RuntimeError. Every caller turns
this error into a message that says which path needed a home and how to do without one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class NoHome(ValueError):
    """``~`` cannot be expanded: no HOME, and no passwd entry for this uid."""


def expand(text: str | os.PathLike[str]) -> Path:
    try:
        return Path(text).expanduser()
    except RuntimeError:
        raise NoHome(
            f"cannot expand '~' in {os.fspath(text)!r}: HOME is not set and user id "
            f"{os.getuid()} has no entry in the password database"
        ) from None


def home(environ: Mapping[str, str]) -> Path:
    """The home directory as ``~`` means it, but from ``environ`` (HOME, else the password
    database), so a lookup is a function of the environment it is given. NoHome as expand."""
    if environ.get("HOME"):
        return Path(environ["HOME"])
    return expand("~")
