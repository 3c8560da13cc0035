"""The shared database failing: restarted mid-sweep, unreachable at start, down for longer
than ``[state] retry_for``. Running tasks are never cut short by it, what ends while it is
away is written once it is back (and once only), and what cannot be written is said."""

from __future__ import annotations

import socket
from collections import Counter
from typing import Any

from tests.builders import cmd, proj, write_config
from tests.helpers import DEADLINE, Workspace, wait_for
from tests.hosts.conftest import Boot
from tests.hosts.harness import events, once, read_trace, shared_state
from tests.pgcluster import Cluster


def _configure(ws: Workspace, url: str, projects: list[str], **state: str) -> None:
    write_config(
        ws,
        {"held": cmd("hosttrace", "hold"), "quick": cmd("hosttrace", 0)},
        [proj(p, "held" if p.startswith("h") else "quick") for p in projects],
        run={"project_parallelism": True, "max_parallel_projects": 2},
        state=shared_state(url, **state),
    )


def _trace(ws: Workspace) -> list[dict[str, Any]]:
    return read_trace(ws.root / "trace.jsonl")


def _count(ws: Workspace, event: str) -> int:
    return len(events(_trace(ws), event))


def _snapshot(url: str) -> Any:
    from agentd.state.postgres import PostgresStore

    store = PostgresStore(url, host="observer")
    try:
        return store.read()
    finally:
        store.close()


def test_tasks_ending_while_the_server_restarts_are_recorded_once_it_is_back(
    ws: Workspace, hosts: Boot, pg_url: str, pg_cluster: Cluster
) -> None:
    projects = ["h1", "h2", "q1", "q2"]
    _configure(ws, pg_url, projects)
    [host] = hosts("build-1")
    run = host.start(*once(ws.config))
    wait_for(lambda: _count(ws, "start") == 2, what="two held tasks to start")
    # "fast": every connection dropped, as a restart does. Not "immediate": the tests'
    # server runs with synchronous_commit off, so a crash would lose the claims just
    # committed, which a real server (synchronous_commit on) keeps.
    pg_cluster.stop("fast")
    try:
        (ws.root / "release").touch()
        wait_for(lambda: _count(ws, "end") == 2, what="the held tasks to end, server down")
    finally:
        pg_cluster.start()
    assert run.wait(timeout=2 * DEADLINE) == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    report = run.report()
    assert report["status"] == "ok", report["failures"]
    assert [p["status"] for p in report["projects"]] == ["ok"] * 4

    trace = _trace(ws)
    every = Counter({(p, "held" if p.startswith("h") else "quick"): 1 for p in projects})
    assert Counter(events(trace, "start")) == every
    assert Counter(events(trace, "end")) == every
    snapshot = _snapshot(pg_url)
    for project in projects:
        [(task, record)] = snapshot.project(project)["tasks"].items()
        assert record["status"] == "ok", (project, task, record)
        assert record["run_id"] == report["run_id"]
    assert [r["run_id"] for r in snapshot.runs()] == [report["run_id"]]
    assert snapshot.claims() == {}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_an_unreachable_server_at_start_runs_nothing(ws: Workspace, hosts: Boot) -> None:
    port = _free_port()
    url = f"postgresql://agentd:s3cret-pw@127.0.0.1:{port}/nightly"
    _configure(ws, url, ["q1", "q2"])
    [host] = hosts("build-1")
    run = host.start(*once(ws.config))
    assert run.wait() == 2
    err = run.stderr
    assert "Traceback" not in err
    assert f"127.0.0.1:{port}" in err
    assert "nightly" in err
    assert "s3cret-pw" not in err + run.stdout
    assert _trace(ws) == []


def test_a_server_down_past_retry_for_ends_the_sweep_saying_what_was_not_recorded(
    ws: Workspace, hosts: Boot, pg_url: str, pg_cluster: Cluster
) -> None:
    _configure(ws, pg_url, ["h1", "h2", "q1"], retry_for="1s")
    [host] = hosts("build-1")
    run = host.start(*once(ws.config))
    wait_for(lambda: _count(ws, "start") == 2, what="two held tasks to start")
    pg_cluster.stop("immediate")
    try:
        (ws.root / "release").touch()
        code = run.wait(timeout=2 * DEADLINE)
    finally:
        pg_cluster.start()
    err = run.stderr
    assert code == 1, err[-3000:]
    assert "Traceback" not in err
    report = run.report()
    assert report["status"] == "failed"
    failures = "\n".join(f"{f['project']}/{f['task']}: {f['message']}" for f in report["failures"])
    for project in ("h1", "h2"):
        said = f"{project}/held: outcome of held not saved: task held of project {project}"
        assert f"{said} not recorded: PostgreSQL at " in failures
    assert "unreachable for 1s" in failures
    # q1 never started: it could not be claimed with the server away.
    assert ("q1", "quick") not in events(_trace(ws), "start")
    assert _count(ws, "end") == 2
    # Nothing of the held tasks reached the database: the next sweep runs them again.
    snapshot = _snapshot(pg_url)
    assert all(not snapshot.done_today(p, "held", report["date"]) for p in ("h1", "h2"))
