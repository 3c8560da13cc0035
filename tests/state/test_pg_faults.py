"""The PostgreSQL store against what the server refuses or does on its own: text jsonb
cannot hold, a restart under idle connections, damaged rows and metadata. On the real
server of tests/pgcluster.py."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import psycopg
import pytest
from structlog.testing import capture_logs

from agentd.state import Blocked, JsonFileStore, StateCorrupt, StateError
from agentd.state.base import Refused
from agentd.state.postgres import PostgresStore
from agentd.state.transfer import import_json
from tests.pgcluster import Cluster
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


def test_after_a_restart_the_next_write_drops_every_dead_connection_at_once(
    pg_url: str, pg_cluster: Cluster
) -> None:
    """A restart kills every kept connection: the first one that fails has them all
    dropped and the write goes on at once on a new connection. One backoff per dead
    connection (0.2 s, 0.4 s, ...) would exhaust this retry_for, and the log shows the
    two attempts: one warning, one recovery."""
    store = PostgresStore(pg_url, host="h1", retry_for=0.5)
    readers = 6
    gate = threading.Barrier(readers)

    def read() -> None:
        gate.wait(timeout=60)
        store.read()

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    kept = len(store.db._idle)
    assert kept >= 2, "the readers did not overlap: nothing kept to go stale"
    pg_cluster.restart("fast")
    with capture_logs() as logs:
        store.set_daemon({"pid": 1})
    assert store.read().daemon() == {"pid": 1}
    assert [(e["log_level"], e["event"]) for e in logs] == [
        (
            "warning",
            f"{store.where} unreachable, retrying for 0.5s: {logs[0]['event'].split(': ', 1)[1]}",
        ),
        ("info", f"{store.where} reachable again"),
    ]
    assert logs[1]["attempts"] == 2
    assert logs[0]["pending"] == "the daemon's status not published"
    store.close()


def test_a_server_that_is_down_is_named_with_libpqs_lines_kept_apart(
    pg_url: str, pg_cluster: Cluster
) -> None:
    store = PostgresStore(pg_url, host="h1", retry_for=0.3)
    pg_cluster.stop()
    try:
        with capture_logs() as logs, pytest.raises(StateError) as raised:
            store.set_daemon({"pid": 1})
    finally:
        pg_cluster.start()
    message = str(raised.value)
    assert "No such file or directory; Is the server running locally" in message, message
    # The first attempt met the kept connection the stop had closed.
    assert [e["log_level"] for e in logs] == ["warning"]
    assert "; This probably means the server terminated abnormally" in logs[0]["event"]
    store.close()


def test_an_import_skips_unusable_reports_naming_each(pg_url: str, tmp_path: Path) -> None:
    """One report.json nested too deep for a parser, one with NaN (not JSON; jsonb
    refuses it) and one with a NUL byte (stored as U+FFFD): the first two are skipped
    with a warning naming them, their runs imported all the same, never a traceback."""
    directory = tmp_path / "state"
    source = JsonFileStore(directory)
    bodies = {
        "r1": b"[" * 100_000 + b"]" * 100_000,
        "r2": b'{"run_id": "r2", "spend_usd": NaN}',
        "r3": json.dumps({"run_id": "r3", "output": f"a{NUL}b"}).encode(),
    }
    for n, (run_id, body) in enumerate(bodies.items()):
        source.record_run(summary(run_id, source.host, at(n)), 30)
        (directory / "runs" / run_id).mkdir(parents=True)
        (directory / "runs" / run_id / "report.json").write_bytes(body)
    store = PostgresStore(pg_url, host="h1")
    with capture_logs() as logs:
        counts = import_json(directory, store)
    assert counts["runs"] == 3
    assert counts["reports"] == 1
    assert counts["reports skipped"] == 2
    assert [(e["log_level"], e["event"]) for e in logs] == [
        (
            "warning",
            f"{directory}/runs/r1/report.json not imported (nested too deep): "
            "run r1 is imported without it",
        ),
        (
            "warning",
            f"{directory}/runs/r2/report.json not imported (not valid JSON: NaN is not a "
            "JSON number): run r2 is imported without it",
        ),
    ]
    assert store.report_document("r3") == {"run_id": "r3", "output": f"a{FFFD}b"}
    assert store.report_document("r1") is None
    store.close()


def _damage(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement.encode())


def test_a_damaged_row_is_named_with_what_to_do_about_a_database(pg_url: str) -> None:
    """Not a state file's advice ("move it aside"): the server, the table, the row's key,
    and fix or delete that row, or restore the database."""
    store = PostgresStore(pg_url, host="h1")
    store.claim("api", mine(store, "r1"), DATE, ["t"], False, NOW)
    store.record("api", "t", agent_run("r1", 0.1))
    _damage(pg_url, """UPDATE agentd.spend SET entry = jsonb_set(entry, '{cost_usd}', '"x"')""")
    hint = "it is left untouched: delete or fix that row, or restore the database"
    with pytest.raises(StateCorrupt) as raised:
        store.read()
    assert str(raised.value) == (
        f"{store.where}, table agentd.spend, row ('{DATE}', 'r1/api/t'): "
        f"'spend' has the wrong shape; {hint}"
    )
    with pytest.raises(StateCorrupt) as raised:
        store.reserve("api", "t", "r1", lambda snapshot: Refused("no"), NOW)
    assert f"table agentd.spend, row ('{DATE}', 'r1/api/t')" in str(raised.value)
    _damage(pg_url, "DELETE FROM agentd.spend")
    _damage(pg_url, """UPDATE agentd.hosts SET fires = '"x"'""")
    with pytest.raises(
        StateCorrupt, match=r"table agentd\.hosts, row 'h1': 'fires' should be a dict; it is left"
    ):
        store.read()
    store.close()


def test_an_unreadable_schema_version_names_the_server(pg_url: str) -> None:
    store = PostgresStore(pg_url, host="h1")
    where = store.where
    store.close()
    _damage(pg_url, "UPDATE agentd.meta SET value = 'two' WHERE key = 'schema_version'")
    with pytest.raises(StateCorrupt) as raised:
        PostgresStore(pg_url, host="h1")
    assert str(raised.value) == (
        f"{where}: agentd.meta has an unreadable schema_version 'two'; "
        "fix that row, or restore the database"
    )
