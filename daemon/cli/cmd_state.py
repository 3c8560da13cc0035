"""``agentd state migrate`` and ``agentd state import DIR``: the shared PostgreSQL store's
schema, and a single host's JSON state moved into it.

Both need a valid configuration: its ``[state]`` says which database. With the JSON backend
there is no schema to migrate (exit 0, said so) and nowhere to import into (exit 2).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from agentd.daemon.cli.exits import EXIT_OK, UsageError
from agentd.daemon.cli.setup import (
    load,
    open_store,
    setup_logging,
    state_dir,
    user_path,
    without_secrets,
)
from agentd.daemon.output.textout import harmless
from agentd.state import StateError

if TYPE_CHECKING:
    from agentd.config import Config


def state_command(args: argparse.Namespace) -> int:
    # The store's warnings (a report skipped by import, a server retried) are log lines:
    # on stderr like every command's, never mixed into what is printed on stdout.
    config = load(args)
    setup_logging(args, config)
    if args.state_command == "migrate":
        return _migrate(args, config)
    return _import(args, config)


def _migrate(args: argparse.Namespace, config: Config) -> int:
    state = config.settings.state
    if state.backend == "json" or state.url is None:
        directory = state_dir(args, config)
        print(
            harmless(
                f"[state] backend is json (the state directory {directory}): nothing to migrate"
            )
        )
        return EXIT_OK
    from agentd.state.claims import set_host
    from agentd.state.postgres import migrate_database

    set_host(state.host)
    try:
        before, after = migrate_database(state.url)
    except StateError as exc:
        raise UsageError(without_secrets(str(exc), state.url)) from None
    where = _where(state.url)
    if before == after:
        print(harmless(f"{where}: schema version {after}, already current"))
    else:
        print(harmless(f"{where}: schema version {before} -> {after}"))
    return EXIT_OK


def _import(args: argparse.Namespace, config: Config) -> int:
    state = config.settings.state
    if state.backend == "json" or state.url is None:
        raise UsageError(
            "state import copies a JSON state directory into PostgreSQL: set [state] backend = "
            '"postgres" and its url first (the configured backend is json)'
        )
    source = user_path(args.directory)
    if not source.is_dir():
        raise UsageError(f"{source} is not a directory")
    from agentd.state.transfer import import_json

    store, _ = open_store(state_dir(args, config), state)
    try:
        counts = import_json(source, store)
    except StateError as exc:
        raise UsageError(without_secrets(str(exc), state.url)) from None
    finally:
        store.close()
    copied = ", ".join(f"{what} {count}" for what, count in counts.items())
    print(harmless(f"imported {source} into {_where(state.url)}: {copied or 'nothing'}"))
    return EXIT_OK


def _where(url: str) -> str:
    """The server and database, as the store's own messages name them (no password)."""
    from agentd.config.conninfo import parse
    from agentd.state.pgconn import describe

    return describe(parse(url))
