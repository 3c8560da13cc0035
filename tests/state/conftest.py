"""The store backends every contract test runs on (tests/state/test_contract*.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentd.state import JsonFileStore, StateStore
from tests.state.contract import STALE, StoreFactory


@pytest.fixture(params=["json", "postgres"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[StateStore] = []
    if request.param == "json":

        def make(host: str = "h1", stale_after: float = STALE) -> StateStore:
            store = JsonFileStore(tmp_path / "state", stale_after=stale_after)
            # The name [state] host would give it (claims.set_host is process-wide; one
            # test plays several hosts).
            store.host = host
            opened.append(store)
            return store

    else:
        try:
            from agentd.state.postgres import PostgresStore
        except ImportError as exc:
            pytest.skip(f"no PostgreSQL backend to test: {exc}")
        try:
            url = request.getfixturevalue("pg_url")
        except pytest.FixtureLookupError:
            pytest.skip("no pg_url fixture (tests/pgcluster.py) to start a PostgreSQL server")

        def make(host: str = "h1", stale_after: float = STALE) -> StateStore:
            store = PostgresStore(url, host=host, stale_after=stale_after)
            opened.append(store)
            return store

    yield make
    for store in opened:
        store.close()
