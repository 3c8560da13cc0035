"""From command-line arguments to a loaded configuration, logging, and the state store.

Every failure here is a UsageError (exit status 2) that names the file involved, raised
before anything has been run or written.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from config import Config, ConfigError, default_config_path, load_config, resolve_state_dir
from daemon.cli import UsageError
from state import JsonFileStore, Snapshot, StateError
from state.files import ensure_private_dir


def config_path(args: argparse.Namespace) -> Path:
    if args.config:
        return Path(args.config).expanduser()
    return default_config_path(os.environ)


def load(args: argparse.Namespace) -> Config:
    try:
        return load_config(config_path(args), os.environ)
    except ConfigError as exc:
        raise UsageError(exc.render()) from None


def setup_logging(args: argparse.Namespace, config: Config | None) -> None:
    from daemon.logs import configure  # structlog: only for commands that log

    settings = config.settings.log if config else None
    level = args.log_level or (settings.level if settings else "info")
    fmt = args.log_format or (settings.format if settings else "auto")
    configure(level, fmt)


def state_dir(args: argparse.Namespace, config: Config | None) -> Path:
    return resolve_state_dir(config, args.state_dir, os.environ)


def open_store(directory: Path, create: bool = False) -> tuple[JsonFileStore, Snapshot]:
    """The store and a first read of it: a corrupt state file stops us here, untouched.

    ``create`` makes the directory (0700) for commands that will write; read-only
    commands never create anything.
    """
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"state directory {directory} is not a directory")
    if create:
        try:
            ensure_private_dir(directory)
        except OSError as exc:
            raise UsageError(
                f"cannot create state directory {directory}: {exc.strerror or exc}"
            ) from None
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
