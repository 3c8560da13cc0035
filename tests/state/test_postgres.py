"""What only the PostgreSQL store has: a server that may be away, a schema with a version,
several processes on one database, and the import of a JSON state. On the real server of
tests/pgcluster.py (the behaviours both stores share are in test_contract*.py)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psycopg
import pytest

from agentd.state import Claimed, JsonFileStore, StateCorrupt, StateError
from agentd.state.base import AllDone, Busy, ProjectRecord, StateUnreachable, TaskRecord
from agentd.state.claims import me
from agentd.state.pgschema import SCHEMA_VERSION, current_version, migrate_database
from agentd.state.postgres import PostgresStore
from agentd.state.transfer import import_json
from tests.helpers import ROOT, wait_for
from tests.pgcluster import Cluster
from tests.state.contract import DATE, NOW, at, far, ok, stamp

SECRET = "s3cret-pw-9431"


def _agent_run(run_id: str, cost: float) -> TaskRecord:
    usage = {"known": True, "cost_usd": cost, "tokens": 1000}
    return TaskRecord("ok", DATE, run_id, stamp(NOW), stamp(at(5)), 5.0, 0, "claude", usage)


def _version(url: str) -> int | None:
    with psycopg.connect(url, autocommit=True) as conn:
        return current_version(conn)


@pytest.mark.parametrize(
    "url",
    [
        f"host=/nonexistent/agentd-sock port=5499 dbname=nightly user=agentd password={SECRET}",
        f"postgresql://agentd:{SECRET}@127.0.0.1:1/nightly?connect_timeout=5",
    ],
    ids=["socket", "tcp"],
)
def test_an_unreachable_server_at_open_is_named_without_the_password(url: str) -> None:
    with pytest.raises(StateUnreachable) as raised:
        PostgresStore(url, host="h1")
    message = str(raised.value)
    where = "/nonexistent/agentd-sock:5499" if "5499" in url else "127.0.0.1:1"
    assert f"cannot reach PostgreSQL at {where}, database nightly: " in message
    assert SECRET not in message
    assert "\n" not in message


def test_a_url_that_is_not_one_is_refused_without_echoing_it() -> None:
    with pytest.raises(StateError, match="not a PostgreSQL connection string") as raised:
        PostgresStore(f"host=db1 password={SECRET} nonsense", host="h1")
    assert SECRET not in str(raised.value)


def test_the_schema_is_created_on_first_use_and_migrate_then_has_nothing_to_do(
    pg_url: str,
) -> None:
    assert _version(pg_url) is None
    PostgresStore(pg_url, host="h1").close()
    assert _version(pg_url) == SCHEMA_VERSION
    assert migrate_database(pg_url) == (SCHEMA_VERSION, SCHEMA_VERSION)


def test_migrate_creates_the_schema_of_an_empty_database(pg_url: str) -> None:
    assert migrate_database(pg_url) == (0, SCHEMA_VERSION)
    assert _version(pg_url) == SCHEMA_VERSION


def _set_version(url: str, version: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE agentd.meta SET value = %s WHERE key = 'schema_version'", (str(version),)
        )


def test_a_database_of_a_newer_agentd_is_refused(pg_url: str) -> None:
    PostgresStore(pg_url, host="h1").close()
    _set_version(pg_url, SCHEMA_VERSION + 1)
    expected = f"schema version {SCHEMA_VERSION + 1}, this agentd knows only {SCHEMA_VERSION}"
    with pytest.raises(StateCorrupt, match=expected) as raised:
        PostgresStore(pg_url, host="h1")
    assert "upgrade agentd" in str(raised.value)
    with pytest.raises(StateCorrupt, match=expected):
        migrate_database(pg_url)
    assert _version(pg_url) == SCHEMA_VERSION + 1  # left as it was


def test_a_database_of_an_older_schema_waits_for_agentd_state_migrate(pg_url: str) -> None:
    PostgresStore(pg_url, host="h1").close()
    _set_version(pg_url, SCHEMA_VERSION - 1)
    with pytest.raises(StateError, match="run `agentd state migrate`"):
        PostgresStore(pg_url, host="h1")


def test_a_write_waits_for_a_restarted_server_and_lands_once(
    pg_url: str, pg_cluster: Cluster
) -> None:
    store = PostgresStore(pg_url, host="h1", retry_for=120)
    store.claim("api", me("r1", NOW), DATE, ["lint"], False, NOW)
    pg_cluster.stop()  # every connection dropped, as in a crash
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            store.record("api", "lint", _agent_run("r1", 0.25))
        except BaseException as exc:  # the assertion below shows it
            errors.append(exc)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    pg_cluster.start()
    assert done.wait(120), "the write never came back"
    writer.join()
    assert errors == []
    snapshot = store.read()
    assert snapshot.task("api", "lint") == _agent_run("r1", 0.25).to_dict()
    assert list(snapshot.spend_day(DATE)) == ["r1/api/lint"]
    store.release("api", "r1", ProjectRecord("ok", DATE, "r1", None, None))
    assert isinstance(store.claim("api", me("r2", NOW), DATE, ["lint"], False, NOW), AllDone)
    store.close()


def test_a_server_away_longer_than_retry_for_fails_the_write_naming_it(
    pg_url: str, pg_cluster: Cluster
) -> None:
    store = PostgresStore(pg_url, host="h1", retry_for=1.0)
    store.claim("api", me("r1", NOW), DATE, ["lint"], False, NOW)
    pg_cluster.stop()
    started = time.monotonic()
    try:
        with pytest.raises(StateError) as raised:
            store.record("api", "lint", ok("r1"))
    finally:
        pg_cluster.start()
    assert time.monotonic() - started < 30
    message = str(raised.value)
    assert message.startswith("task lint of project api not recorded: PostgreSQL at ")
    assert f"{pg_cluster.socket_dir}:5432, database " in message
    assert " unreachable for 1s: " in message
    assert store.read().task("api", "lint") is None  # nothing half-written
    store.close()


def _json_state(directory: Path) -> JsonFileStore:
    """A single host's state as a few nights leave it: a skip guard, a spend ledger, a run
    in the history with its report.json, a handled fire."""
    source = JsonFileStore(directory)
    source.claim("api", me("r1", NOW), DATE, ["lint", "review"], False, NOW)
    source.record("api", "lint", ok("r1"))
    source.record("api", "review", _agent_run("r1", 0.40))
    source.release("api", "r1", ProjectRecord("ok", DATE, "r1", stamp(NOW), stamp(at(9))))
    summary = {"run_id": "r1", "date": DATE, "finished_at": stamp(at(9)), "status": "ok"}
    source.record_run(summary, 30)
    (directory / "runs" / "r1").mkdir(parents=True)
    (directory / "runs" / "r1" / "report.json").write_text(json.dumps({"run_id": "r1"}))
    source.record_fire(stamp(NOW), True, None, NOW)
    source.checkpoint()
    return source


def test_a_json_state_is_imported_once_however_often_it_is_imported(
    pg_url: str, tmp_path: Path
) -> None:
    _json_state(tmp_path / "state")
    store = PostgresStore(pg_url, host="build-1")
    counts = import_json(tmp_path / "state", store)
    assert counts == {"projects": 1, "runs": 1, "spend": 1, "reports": 1, "fires": 1}
    again = import_json(tmp_path / "state", store)
    assert again == {"projects": 0, "runs": 0, "spend": 0, "reports": 0, "fires": 0}
    snapshot = store.read()
    assert snapshot.task("api", "lint") == ok("r1").to_dict()
    assert snapshot.project("api")["last_ok"]["run_id"] == "r1"
    assert [(r["run_id"], r["host"]) for r in snapshot.runs()] == [("r1", "build-1")]
    assert [e["cost_usd"] for e in snapshot.spend([DATE])] == [0.40]
    assert snapshot.fires()["last_handled"] == stamp(NOW)
    assert store.report_document("r1") == {"run_id": "r1"}
    # The skip guard came along: tonight's finished tasks are not run again on any host.
    other = PostgresStore(pg_url, host="build-2")
    claimed = other.claim("api", far("r2", host="build-2"), DATE, ["lint", "review"], False, NOW)
    assert isinstance(claimed, AllDone)
    other.close()
    store.close()


def test_an_import_keeps_outcomes_newer_than_the_imported_ones(pg_url: str, tmp_path: Path) -> None:
    _json_state(tmp_path / "state")
    store = PostgresStore(pg_url, host="build-1")
    store.claim("api", far("r9", host="build-2"), "2026-11-23", ["lint"], False, NOW)
    store.record("api", "lint", ok("r9", "2026-11-23"))
    import_json(tmp_path / "state", store)
    snapshot = store.read()
    assert snapshot.task("api", "lint") == ok("r9", "2026-11-23").to_dict()
    assert snapshot.task("api", "review") == _agent_run("r1", 0.40).to_dict()
    store.close()


def test_a_json_state_with_a_sweep_running_is_not_imported(pg_url: str, tmp_path: Path) -> None:
    source = JsonFileStore(tmp_path / "state")
    source.claim("web", me("r5", NOW), DATE, ["lint"], False, NOW)  # this process: alive
    store = PostgresStore(pg_url, host="build-1")
    with pytest.raises(StateError, match=r"has live claims \(project web by run r5 .*import once"):
        import_json(tmp_path / "state", store)
    assert store.read().doc["projects"] == {}
    store.close()


RACER = """
import sys, time
from pathlib import Path
from datetime import UTC, datetime
from agentd.state.claims import Holder
from agentd.state.postgres import PostgresStore
url, host, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = PostgresStore(url, host=host)
Path(sys.argv[3] + "." + host).touch()
while not go.exists():
    time.sleep(0.005)
now = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)
stamp = now.isoformat()
holder = Holder("run-" + host, 4242, host, stamp, stamp)
print(type(store.claim("api", holder, "2026-11-22", ["t"], False, now)).__name__)
"""


def test_racing_processes_on_an_empty_database_give_the_claim_to_exactly_one(
    pg_url: str, tmp_path: Path
) -> None:
    """Hosts starting together: the schema is created once, then one claim wins."""
    go = tmp_path / "go"
    hosts = [f"h{i}" for i in range(8)]
    script = textwrap.dedent(RACER)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", script, pg_url, host, str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for host in hosts
    ]
    try:
        wait_for(
            lambda: all(
                Path(f"{go}.{h}").exists() or r.poll() is not None
                for h, r in zip(hosts, racers, strict=True)
            ),
            what="every racer's store open",
        )
        go.touch()
        outs = [racer.communicate(timeout=120) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    assert [r.returncode for r in racers] == [0] * len(racers), outs
    answers = sorted(out.strip() for out, _ in outs)
    assert answers == ["Busy"] * (len(hosts) - 1) + ["Claimed"], outs
    assert _version(pg_url) == SCHEMA_VERSION


def test_racing_threads_of_one_store_give_the_claim_to_exactly_one(pg_url: str) -> None:
    # Every racer is another host's claimant (h0..h11), none of them the store's own host:
    # a claim of this host is judged by its pid, and 4242 is nobody's, so the next racer
    # would rightly take it over (this test once named the store "h1" and failed so).
    store = PostgresStore(pg_url, host="here")
    barrier = threading.Barrier(12)
    results: list[object] = [None] * 12

    def racer(i: int) -> None:
        barrier.wait(60)
        holder = far(f"run-{i}", host=f"h{i}")
        results[i] = store.claim("api", holder, DATE, ["t"], False, NOW)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(type(r).__name__ for r in results) == ["Busy"] * 11 + ["Claimed"]
    winner = next(i for i, r in enumerate(results) if isinstance(r, Claimed))
    assert all(r.holder.run_id == f"run-{winner}" for r in results if isinstance(r, Busy))
    store.close()


COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"  # the simple-query message psycopg commits with


class CommitCutter:
    """A loopback TCP relay to the cluster's socket that, once armed, passes one COMMIT on
    to the server and then cuts the client's connection before the answer: the client
    cannot know whether its transaction landed (it did)."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = threading.Event()
        self.cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX)
            server.connect(str(self.socket_path))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                if upstream and COMMIT in data and self.armed.is_set() and not self.cut.is_set():
                    self.cut.set()
                    source.shutdown(socket.SHUT_RDWR)  # the answer never comes back
                    return
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.close()

    def close(self) -> None:
        self.listener.close()


def test_a_write_whose_commit_answer_was_lost_is_not_applied_twice(
    pg_url: str, pg_cluster: Cluster
) -> None:
    """Retried after a lost COMMIT answer, a claim must not find itself there and answer
    Busy (its own live process holds it): the retry sees its write landed and says so."""
    cutter = CommitCutter(pg_cluster.socket_dir / ".s.PGSQL.5432")
    url = psycopg.conninfo.make_conninfo(pg_url, host="127.0.0.1", port=cutter.port)
    store = PostgresStore(url, host="h1", retry_for=60)
    cutter.armed.set()
    result = store.claim("api", me("r1", NOW), DATE, ["lint"], False, NOW)
    assert cutter.cut.is_set(), "the COMMIT was never cut: the test proved nothing"
    assert result == Claimed(frozenset())
    assert store.read().claims()["api"].run_id == "r1"
    store.close()
    cutter.close()


def test_a_claim_row_another_program_damaged_is_refused_naming_it(pg_url: str) -> None:
    """The database is input like a state file: a claim whose pid is not a number is
    StateCorrupt naming the row, not a traceback in the middle of a sweep."""
    store = PostgresStore(pg_url, host="h1")
    store.claim("api", far("r1"), DATE, ["lint"], False, NOW)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE agentd.projects SET claim = jsonb_set(claim, '{pid}', '\"x\"')")
    with pytest.raises(StateCorrupt, match=r"agentd.projects, row 'api': the claim on project"):
        store.claim("api", far("r2", host="h2"), DATE, ["lint"], False, NOW)
    with pytest.raises(StateCorrupt, match="the claim on project 'api' has the wrong shape"):
        store.read()
    store.close()
