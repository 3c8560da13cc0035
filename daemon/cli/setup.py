"""From command-line arguments to a loaded configuration, logging, and the state store.

Every failure here is a UsageError (exit status 2) that names the file involved, raised
before anything has been run or written.

The configuration's schema (pydantic) is imported by ``load`` alone, when a command loads
the file: ``agentd report`` with its state directory given never does.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from agentd.config.homedir import NoHome, expand
from agentd.config.resolved import resolve_state_dir
from agentd.daemon.cli.exits import UsageError
from agentd.state import JsonFileStore, Snapshot, StateError
from agentd.state.files import ensure_private_dir

if TYPE_CHECKING:
    from agentd.config import Config


def config_path(args: argparse.Namespace) -> Path:
    if args.config:
        return user_path(args.config)
    from agentd.config.loader import default_config_path

    try:
        return default_config_path(os.environ)
    except NoHome as exc:
        raise UsageError(
            f"cannot find the configuration file: {exc}; name it with --config PATH "
            "or $AGENTD_CONFIG"
        ) from None


def user_path(text: str) -> Path:
    """A path given on the command line, ``~`` expanded."""
    try:
        return expand(text)
    except NoHome as exc:
        raise UsageError(f"{exc}; give the path without '~'") from None


def load(args: argparse.Namespace) -> Config:
    from agentd.config.errors import ConfigError
    from agentd.config.loader import load_config

    try:
        return load_config(config_path(args), os.environ)
    except ConfigError as exc:
        raise UsageError(exc.render()) from None


def setup_logging(args: argparse.Namespace, config: Config | None) -> None:
    from agentd.daemon.output.logs import configure  # structlog: only for commands that log

    settings = config.settings.log if config else None
    level = args.log_level or (settings.level if settings else "info")
    fmt = args.log_format or (settings.format if settings else "auto")
    configure(level, fmt, asked=args.log_level is not None)


def state_dir(args: argparse.Namespace, config: Config | None) -> Path:
    try:
        return resolve_state_dir(config, args.state_dir, os.environ)
    except NoHome as exc:
        raise UsageError(
            f"cannot find the state directory: {exc}; name it with --state-dir, "
            "$AGENTD_STATE_DIR or [paths] state_dir"
        ) from None


def open_store(directory: Path, create: bool = False) -> tuple[JsonFileStore, Snapshot]:
    """The store and a first read of it: a corrupt state file stops us here, untouched.

    ``create`` makes the directory (0700) for commands that will write; read-only
    commands never create anything.
    """
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"state directory {directory} is not a directory")
    if create:
        existed = directory.exists()
        try:
            _, old_mode = ensure_private_dir(directory)
        except OSError as exc:
            verb = "use" if existed else "create"
            raise UsageError(
                f"cannot {verb} state directory {directory}: {exc.strerror or exc}"
            ) from None
        if old_mode is not None:
            import structlog

            # Others could read (or swap) the state and the task logs until now: say so.
            structlog.get_logger("agentd").warning(
                "state_dir.permissions_changed",
                path=str(directory),
                was=f"{old_mode:04o}",
                now="0700",
            )
        # Found now, not halfway through a sweep with tasks already run and unrecorded; a
        # real write, since access(2) misses some reasons (a read-only bind mount).
        try:
            tempfile.TemporaryFile(dir=directory, prefix=".probe.").close()
        except OSError as exc:
            raise UsageError(
                f"state directory {directory} is not writable: {exc.strerror}"
            ) from None
    store = JsonFileStore(directory)
    try:
        snapshot = store.read()
    except StateError as exc:
        raise UsageError(str(exc)) from None
    return store, snapshot
