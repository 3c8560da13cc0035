"""The read commands on a shared PostgreSQL store (issue 14, item 6): `status` shows every
host, `report` and `history` the runs of all hosts, `log` says where another host's log is.

Two hosts, each a workspace of its own (its own state directory, its own run directories
and logs) with `[state] host` naming it, sweep for real into one database; a third host
and a live claim of the second are written by store objects of their own, as those hosts'
daemons would. Then this host's commands run as real processes.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentd.state.claims import Holder
from agentd.state.postgres import PostgresStore
from tests.builders import proj, recording, write_config
from tests.helpers import Workspace, workspace_env


def host_ws(root: Path, url: str, host: str, project: str) -> Workspace:
    ws = Workspace(root, workspace_env(root))
    root.mkdir(parents=True, exist_ok=True)
    write_config(
        ws,
        {"t": recording()},
        [proj(project, "t")],
        state={"backend": "postgres", "url": url, "host": host},
    )
    ws.env["AGENTD_CONFIG"] = str(ws.config)
    return ws


def sweep(ws: Workspace) -> dict[str, Any]:
    code, report = ws.once_json()
    assert code == 0, report
    return report


@pytest.fixture
def hosts(
    tmp_path: Path, pg_url: str
) -> tuple[Workspace, Workspace, dict[str, Any], dict[str, Any]]:
    """build-1 (this host) swept api, then build-2 swept web; build-2's daemon runs and
    holds a claim on web now, build-3's daemon went silent long ago."""
    one = host_ws(tmp_path / "one", pg_url, "build-1", "api")
    two = host_ws(tmp_path / "two", pg_url, "build-2", "web")
    first = sweep(one)
    second = sweep(two)
    now = datetime.now(UTC)
    stamp = now.isoformat(timespec="seconds")
    b = PostgresStore(pg_url, host="build-2")
    c = PostgresStore(pg_url, host="build-3")
    try:
        b.set_daemon(
            {
                "pid": 4242,
                "host": "build-2",
                "started_at": stamp,
                "next_fire": (now + timedelta(hours=20)).isoformat(timespec="seconds"),
                "jitter_s": 0,
            }
        )
        holder = Holder("R-live", 4242, "build-2", stamp, stamp)
        b.claim("web", holder, second["date"], ["t"], True, now)
        c.set_daemon(
            {
                "pid": 99,
                "host": "build-3",
                "started_at": stamp,
                "next_fire": (now - timedelta(hours=5)).isoformat(timespec="seconds"),
                "jitter_s": 0,
            }
        )
    finally:
        b.close()
        c.close()
    return one, two, first, second


def test_status_shows_every_host_its_daemon_and_what_it_runs(hosts: Any) -> None:
    one, _, _, _ = hosts
    proc = one.run("status", "--json")
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    by = {h["host"]: h for h in status["hosts"]}
    assert list(by) == ["build-1", "build-2", "build-3"]
    assert by["build-1"]["this_host"] is True
    assert by["build-2"]["daemon"]["running"] is None
    assert by["build-2"]["daemon"]["stale"] is None
    assert [(c["project"], c["run_id"], c["stale"]) for c in by["build-2"]["running"]] == [
        ("web", "R-live", None)
    ]
    assert "5h" in by["build-3"]["daemon"]["stale"]
    assert [c["host"] for c in status["running"]] == ["build-2"]
    text = one.run("status").stdout
    assert "hosts:       3 share this state" in text
    assert "    runs web: run R-live, pid 4242" in text
    assert "  build-3: daemon stale (pid 99)" in text
    assert "  web: run R-live, pid 4242 on build-2" in text


def test_report_of_another_hosts_run_comes_from_the_store_and_says_where_its_logs_are(
    hosts: Any,
) -> None:
    one, two, first, second = hosts
    run_dir = two.state / "runs" / second["run_id"]
    proc = one.run("report", second["run_id"])
    assert proc.returncode == 0, proc.stderr
    head = proc.stdout.splitlines()[0]
    assert head == (
        f"> run {second['run_id']} of host build-2; its logs are on build-2 at {run_dir}"
    )
    assert "web" in proc.stdout
    # The night's other host's run is named, to read the whole night.
    assert f"{first['run_id']} (build-1)" in proc.stderr
    as_json = one.run("report", second["run_id"][:-1], "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["run_id"] == second["run_id"]
    assert f"its logs are on build-2 at {run_dir}" in as_json.stderr
    # Without a run id: the latest sweep of any host, here build-2's.
    latest = one.run("report")
    assert latest.stdout.splitlines()[0] == head
    # This host's own run is read from its disk as ever: no note.
    own = one.run("report", first["run_id"])
    assert own.returncode == 0, own.stderr
    assert not own.stdout.startswith(">")


def test_report_html_of_another_hosts_run_is_made_in_the_users_cache(hosts: Any) -> None:
    one, _, _, second = hosts
    proc = one.run("report", second["run_id"], "--html")
    assert proc.returncode == 0, proc.stderr
    page = Path(proc.stdout.strip())
    cache = Path(one.env["HOME"]) / ".cache" / "agentd" / "reports"
    assert page == cache / "build-2" / second["run_id"] / "report.html"
    assert second["run_id"] in page.read_text()
    assert page.parent.stat().st_mode & 0o077 == 0


def test_history_shows_the_night_both_hosts_split_with_each_projects_host(hosts: Any) -> None:
    one, _, first, _ = hosts
    proc = one.run("history", "--json", "--nights", "1", "--until", first["date"])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    cells = {p["name"]: (p["nights"], p["hosts"]) for p in doc["projects"]}
    assert cells["api"] == (["ok"], ["build-1"])
    assert cells["web"] == (["ok"], ["build-2"])
    assert doc["hosts"] == ["build-1", "build-2"]
    assert doc["sweeps"][0]["count"] == 2
    grid = one.run("history", "--nights", "1", "--until", first["date"]).stdout
    assert re.search(r"^web\s+build-2\s+\S", grid, re.M), grid


def test_log_of_another_hosts_run_says_where_it_is(hosts: Any) -> None:
    one, two, _, second = hosts
    proc = one.run("log", second["run_id"], "web", "t")
    assert proc.returncode == 2
    log = two.state / "runs" / second["run_id"] / "web" / "t.log"
    assert log.is_file()  # there, on that host
    assert f"run {second['run_id']} ran on host build-2; its log is there at {log}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_run_the_store_has_no_report_of_or_a_hostile_name_is_refused_clearly(
    hosts: Any, pg_url: str
) -> None:
    one, _, _, second = hosts
    summary = {**{k: second[k] for k in ("date", "status", "counts", "mode")}}
    bare = PostgresStore(pg_url, host="build-4")
    evil = PostgresStore(pg_url, host="../../evil")
    try:
        bare.record_run(
            {
                **summary,
                "run_id": "29990101T000000Z-0001",
                "finished_at": "2999-01-01T00:00:00+00:00",
            },
            5,
        )
        evil.record_run(
            {
                **summary,
                "run_id": "29990101T000000Z-0002",
                "finished_at": "2999-01-01T00:00:01+00:00",
            },
            5,
            report={**second, "run_id": "29990101T000000Z-0002", "run_dir": "/x\x1b[2J"},
        )
    finally:
        bare.close()
        evil.close()
    none = one.run("report", "29990101T000000Z-0001")
    assert none.returncode == 2
    assert (
        "run 29990101T000000Z-0001 ran on host build-4, and the store keeps no report"
        in none.stderr
    )
    log = one.run("log", "29990101T000000Z-0001", "web", "t")
    assert log.returncode == 2
    assert (
        "its log is there, in its state directory's runs/29990101T000000Z-0001/web/" in log.stderr
    )
    page = one.run("report", "29990101T000000Z-0002", "--html")
    assert page.returncode == 2
    assert "not a plain name" in page.stderr
    assert not (Path(one.env["HOME"]) / ".cache" / "evil").exists()
    text = one.run("report", "29990101T000000Z-0002")
    assert text.returncode == 0, text.stderr
    assert "\x1b" not in text.stdout
    assert text.stdout.startswith("> run 29990101T000000Z-0002 of host ../../evil; its logs")
    ambiguous = one.run("report", "29990101T000000Z-000")
    assert ambiguous.returncode == 2
    assert "matches 2 runs of other hosts" in ambiguous.stderr
