"""open_backend: the store a configuration names, and nothing imported it does not need."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentd.state import JsonFileStore, StateError
from agentd.state.backends import open_backend
from agentd.state.postgres import PostgresStore
from tests.helpers import ROOT


def test_json_is_the_state_directory_and_never_loads_psycopg(tmp_path: Path) -> None:
    """The read commands of a single host start without the PostgreSQL driver."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from agentd.state.backends import open_backend
        store = open_backend("json", Path({str(tmp_path)!r}), None, 42.0, 5.0)
        print(type(store).__name__, store.stale_after, store.read().claims())
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("psycopg", "psycopg_pool")))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["JsonFileStore 42.0 {}", "[]"]


def test_postgres_opens_the_database_of_the_url(pg_url: str, tmp_path: Path) -> None:
    store = open_backend("postgres", tmp_path, pg_url, 42.0, 5.0)
    assert isinstance(store, PostgresStore)
    assert (store.shared, store.stale_after) == (True, 42.0)
    assert store.read().claims() == {}
    store.close()


def test_postgres_without_a_url_and_an_unknown_backend_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StateError, match=r"needs \[state\] url"):
        open_backend("postgres", tmp_path, None, 300.0, 60.0)
    with pytest.raises(StateError, match="'sqlite' is not one of"):
        open_backend("sqlite", tmp_path, None, 300.0, 60.0)
    assert isinstance(open_backend("json", tmp_path, None, 300.0, 60.0), JsonFileStore)
