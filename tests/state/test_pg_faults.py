"""The PostgreSQL store against what the server refuses or does on its own: text jsonb
cannot hold, a restart under idle connections, damaged rows and metadata. On the real
server of tests/pgcluster.py."""

from __future__ import annotations

import pytest

from agentd.state import Blocked, StateError
from agentd.state.postgres import PostgresStore
from tests.state.contract import DATE, NOW, agent_run, at, mine, summary

NUL, FFFD = "\u0000", "\ufffd"


def test_nul_bytes_in_what_is_written_are_stored_as_the_replacement_character(
    pg_url: str,
) -> None:
    """jsonb refuses U+0000 ("cannot be converted to text"): a task that printed one must
    not cost the night's history. Stored as U+FFFD, in keys as in values."""
    store = PostgresStore(pg_url, host="h1")
    report = {
        "run_id": "r1",
        "projects": [{"name": "api", "tasks": [{"output": f"bin{NUL}ary", f"k{NUL}": [NUL]}]}],
    }
    run = {**summary("r1", "h1", at(9)), "projects": {f"a{NUL}pi": {"status": "ok"}}}
    store.record_run(run, 30, report)
    assert store.report_document("r1") == {
        "run_id": "r1",
        "projects": [{"name": "api", "tasks": [{"output": f"bin{FFFD}ary", f"k{FFFD}": [FFFD]}]}],
    }
    [stored] = store.read().runs()
    assert stored["projects"] == {f"a{FFFD}pi": {"status": "ok"}}
    store.claim("api", mine(store, "r2"), DATE, ["t"], False, NOW)
    store.record("api", "t", agent_run("r2", 0.1))
    store.record_blocked({"web": Blocked("api", f"dependency failed: a{NUL}pi")}, DATE, "r2", "x")
    blocked = store.read().blocked("web")
    assert blocked is not None
    assert blocked["reason"] == f"dependency failed: a{FFFD}pi"
    store.close()


def test_a_value_nested_too_deep_is_refused_with_a_message(pg_url: str) -> None:
    store = PostgresStore(pg_url, host="h1")
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(StateError, match="not stored: a value is not plain JSON"):
        store.record_run(summary("r1", "h1", at(9)), 30, {"nested": deep})
    assert store.read().runs() == []
    store.close()
