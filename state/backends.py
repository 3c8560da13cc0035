"""Which state store a configuration asks for: ``[state] backend``."""

from __future__ import annotations

from pathlib import Path

from agentd.state.base import StateError, StateStore


def open_backend(
    backend: str, directory: Path, url: str | None, stale_after: float, retry_for: float
) -> StateStore:
    """The store of ``backend``: "json" (the state directory's state.json) or "postgres"
    (``url``, shared by several hosts). psycopg is imported only for the latter: the JSON
    store's commands start without it."""
    if backend == "json":
        from agentd.state.jsonfile import JsonFileStore

        return JsonFileStore(directory, stale_after=stale_after)
    if backend == "postgres":
        if not url:
            raise StateError('[state] backend = "postgres" needs [state] url')
        from agentd.state.postgres import PostgresStore

        return PostgresStore(url, stale_after=stale_after, retry_for=retry_for)
    raise StateError(f'[state] backend {backend!r} is not one of "json", "postgres"')
