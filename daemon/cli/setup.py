"""From command-line arguments to a loaded configuration, logging, and the state store.

Every failure here is a UsageError (exit status 2) that names the file involved, raised
before anything has been run or written.

The configuration's schema (pydantic) is imported by ``load`` alone, when a command loads
the file: ``agentd report`` with its state directory given never does.
"""

from __future__ import annotations

import argparse
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentd.config.homedir import NoHome, expand
from agentd.config.resolved import choose_state_dir
from agentd.daemon.cli.exits import UsageError
from agentd.state import Snapshot, StateError
from agentd.state.files import ensure_state_dir

if TYPE_CHECKING:
    from agentd.config import Config
    from agentd.config.errors import ConfigError
    from agentd.config.model import StateSection
    from agentd.state import StateStore


def config_path(args: argparse.Namespace) -> Path:
    return config_choice(args)[0]


def config_choice(args: argparse.Namespace) -> tuple[Path, str]:
    """The configuration file and the rule that chose it (``agentd config path``)."""
    if args.config:
        return user_path(args.config), "--config"
    from agentd.config.lookup import find_config  # light: no schema (test_startup_imports)

    try:
        return find_config(os.environ)
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


@dataclass(frozen=True)
class ReadSetup:
    """What a read command works from: the configuration when it is valid, the state
    directory in any case, and the warning to print when the file is broken."""

    config: Config | None
    state_dir: Path
    warning: str | None = None
    config_path: Path | None = None  # None: the file was not read at all
    # The store to read: the configuration's [state], or a broken file's when that table
    # is valid on its own; None: the state directory's JSON file.
    state: StateSection | None = None


def read_setup(args: argparse.Namespace, need_config: bool = True) -> ReadSetup:
    """For the commands that only read (status, report, log, history): a configuration
    that does not validate is a warning, not an error, and the state directory comes from
    --state-dir, $AGENTD_STATE_DIR, what can still be read of the file's ``[paths]
    state_dir``, $STATE_DIRECTORY or the default. A file that is missing or closed to us
    stays an error unless the state directory is given: then nothing says where the state
    is, and an empty one would mislead. A state directory closed to us is an error saying
    how to get in.

    ``need_config=False``: the command can do without the file, which is then not read at
    all when the state directory is given (``agentd report --state-dir`` loads no schema).
    """
    setup = _read_setup(args, need_config)
    _check_access(setup.state_dir, write=False)
    return setup


def _read_setup(args: argparse.Namespace, need_config: bool = True) -> ReadSetup:
    explicit = bool(args.state_dir or os.environ.get("AGENTD_STATE_DIR"))
    if explicit and not need_config and not _names_database(args):
        return ReadSetup(None, state_dir(args, None))
    from agentd.config.errors import ConfigError, ConfigUnreadable
    from agentd.config.loader import load_config
    from agentd.config.salvage import salvage_paths

    path = config_path(args)
    try:
        config = load_config(path, os.environ)
    except ConfigUnreadable as exc:
        if not explicit:
            raise UsageError(exc.render()) from None
        directory = state_dir(args, None)
        return ReadSetup(None, directory, broken_warning(exc, directory), path)
    except ConfigError as exc:
        from agentd.config.salvage import salvaged_state

        state = salvaged_state(path, os.environ)
        if state is None and _names_database(args):
            # The state is in a database the file does not validly name: the state
            # directory's JSON file is not it, and showing that (empty) would mislead.
            raise UsageError(exc.render()) from None
        salvaged = salvage_paths(path, os.environ)
        directory, rule = _chosen_state_dir(args, salvaged.state_dir, path.absolute().parent)
        guess = salvaged.unread and rule in GUESSED
        warning = broken_warning(exc, directory, guess)
        return ReadSetup(None, directory, warning, path, state)
    return ReadSetup(config, state_dir(args, config), None, path, config.settings.state)


def _names_database(args: argparse.Namespace) -> bool:
    """Whether the configuration puts the state in a database (``[state] backend =
    "postgres"``, or ``AGENTD_STATE__BACKEND``): then the state directory alone does not
    hold it, and the file must be read after all. Told with tomllib alone, so that the
    commands that need no file still load no schema when the state is the directory's."""
    import tomllib

    backend: object = os.environ.get("AGENTD_STATE__BACKEND") or None
    if backend is None:
        try:
            path = config_path(args)
            found = os.stat(path)
            if not stat.S_ISREG(found.st_mode) or found.st_size > MAX_CONFIG_BYTES:
                return False  # not a configuration: reading it says so, if it must be read
            raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except (UsageError, OSError, ValueError):
            return False
        table = next((v for k, v in raw.items() if k.lower() == "state"), None)
        backend = table.get("backend") if isinstance(table, dict) else None
    return isinstance(backend, str) and backend.strip().lower() == "postgres"


# config.loader's MAX_BYTES, not imported: the loader brings pydantic with it.
MAX_CONFIG_BYTES = 64 * 1024 * 1024
WARNING_LINES = 4
# The rules that come after the file's [paths] state_dir: when it could not be read, a
# state directory they chose may not be the one the file names.
GUESSED = ("$STATE_DIRECTORY", "default")


def broken_warning(exc: ConfigError, directory: Path, guess: bool = False) -> str:
    """The head of a configuration error, for a command that carries on without it, and
    the state directory it shows instead: a guess when the file's [paths] is unreadable,
    which might be another setup's state (its daemon, its runs)."""
    lines = exc.render().splitlines()
    shown = lines[:WARNING_LINES]
    if len(lines) > WARNING_LINES:
        shown.append(f"  ... ({len(lines) - WARNING_LINES} more: `agentd config check`)")
    if guess:
        shown.append(
            f"  (the file's [paths] could not be read, so the state directory shown, {directory},"
            " is a guess: give --state-dir if the state is elsewhere)"
        )
    else:
        shown.append(f"  (showing state directory {directory} without it)")
    return "warning: " + "\n".join(shown)


def state_dir(args: argparse.Namespace, config: Config | None) -> Path:
    setting = config.settings.paths.state_dir if config else None
    return _chosen_state_dir(args, setting, config.directory if config else None)[0]


def state_choice(
    args: argparse.Namespace, setting: str | None, base: Path | None
) -> tuple[Path, str]:
    """The state directory and the rule that chose it (``agentd config path``)."""
    return _chosen_state_dir(args, setting, base)


def _chosen_state_dir(
    args: argparse.Namespace, setting: str | None, base: Path | None
) -> tuple[Path, str]:
    try:
        return choose_state_dir(setting, base, args.state_dir, os.environ)
    except NoHome as exc:
        raise UsageError(
            f"cannot find the state directory: {exc}; name it with --state-dir, "
            "$AGENTD_STATE_DIR or [paths] state_dir"
        ) from None


def open_store(
    directory: Path, state: StateSection | None, create: bool = False
) -> tuple[StateStore, Snapshot]:
    """The configured store (``[state]``; None: the directory's JSON file) and a first read
    of it: a corrupt state, an unreachable or refusing server stops us here, untouched,
    before anything runs. The caller closes the store when it is done.

    ``create`` makes the directory (0700, whatever holds it; one shared already stays so)
    for commands that will write; read-only commands never create anything. A PostgreSQL
    store needs it too: run directories and task logs stay on the host. It is made (or
    its mode tightened) only once the store has been opened and read: a start that fails
    (a wrong password, a corrupt state) leaves the directory as it found it.
    """
    from agentd.state.claims import set_host

    set_host(state.host if state else None)  # before the store reads its host name
    _check_access(directory, create)
    store, snapshot = _opened(directory, state)
    if create:
        try:
            _make_state_dir(directory)
        except UsageError:
            store.close()
            raise
    return store, snapshot


def _opened(directory: Path, state: StateSection | None) -> tuple[StateStore, Snapshot]:
    from agentd.state.backends import open_backend
    from agentd.state.claims import STALE_AFTER

    if state is None:  # the JSON file: no server to retry
        backend, url, stale_after, retry_for = "json", None, STALE_AFTER, 0.0
    else:
        backend, url = state.backend, state.url
        stale_after, retry_for = state.claim_stale_after, state.retry_for
    try:
        store = open_backend(backend, directory, url, stale_after, retry_for)
    except StateError as exc:
        raise UsageError(without_secrets(str(exc), url)) from None
    try:
        snapshot = store.read()
    except StateError as exc:
        store.close()
        raise UsageError(without_secrets(str(exc), url)) from None
    return store, snapshot


def without_secrets(message: str, url: str | None) -> str:
    """A store's error as shown: the backend names host, port and database only, and this
    makes sure no driver's wording quotes the url or its password back."""
    if url is None:
        return message
    from agentd.config.conninfo import secrets
    from agentd.daemon.output.redact import redact

    return redact(message, secrets(url))


def _check_access(directory: Path, write: bool) -> None:
    """A state directory closed to us (a system install's, and we are not in its group)
    is an error saying how to get in, before anything is read or run."""
    from agentd.config.access import denied, writable_by_mode

    try:
        found = os.stat(directory)
    except PermissionError:
        raise UsageError(f"cannot use state directory {directory}: {denied(directory)}") from None
    except NotADirectoryError:
        # Said before the store is opened, which would only find "state.json: Not a
        # directory" inside a path that can never be made.
        verb = "create" if write else "use"
        raise UsageError(
            f"cannot {verb} state directory {directory}: a part of its path is a file"
        ) from None
    except OSError:
        return  # not there (yet): reading finds nothing, creating says why it cannot
    if not stat.S_ISDIR(found.st_mode):
        raise UsageError(f"state directory {directory} is not a directory")
    # Writing is tried for real later: a read-only mount is not a matter of permissions.
    if not os.access(directory, os.R_OK | os.X_OK, effective_ids=_EFFECTIVE):
        raise UsageError(f"cannot use state directory {directory}: {denied(directory)}")
    if write and not writable_by_mode(found):
        raise UsageError(f"cannot use state directory {directory}: {denied(directory, write=True)}")


_EFFECTIVE = os.access in os.supports_effective_ids


def _make_state_dir(directory: Path) -> None:
    existed = directory.exists()
    try:
        _, old_mode = ensure_state_dir(directory)
    except OSError as exc:
        verb = "use" if existed else "create"
        raise UsageError(
            f"cannot {verb} state directory {directory}: {exc.strerror or exc}"
        ) from None
    if old_mode is not None:
        from agentd.slog import structlog

        # Others could read (or swap) the state and the task logs until now: say so.
        structlog.get_logger("agentd").warning(
            "state_dir.permissions_changed",
            path=str(directory),
            was=f"{old_mode:04o}",
            now=f"{stat.S_IMODE(directory.stat().st_mode):04o}",
        )
    # Found now, not halfway through a sweep with tasks already run and unrecorded; a
    # real write, since access(2) misses some reasons (a read-only bind mount).
    try:
        tempfile.TemporaryFile(dir=directory, prefix=".probe.").close()
    except OSError as exc:
        raise UsageError(f"state directory {directory} is not writable: {exc.strerror}") from None
