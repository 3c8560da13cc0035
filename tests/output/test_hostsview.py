"""``agentd status`` on a shared store: the Hosts section, from state documents as a shared
store reads them (a "hosts" key, claims of several hosts). The end-to-end view, with real
PostgreSQL and the real command, is in tests/cli/test_shared_reads.py."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentd.daemon.cli.cmd_status import gather, render
from agentd.daemon.output.hostsview import gather_hosts, host_lines
from agentd.state import Snapshot
from agentd.state.claims import process_start, this_host

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def stamp(delta: float) -> str:
    return (NOW + timedelta(seconds=delta)).isoformat(timespec="seconds")


def claim(run_id: str, host: str, beat: float, pid: int = 4242) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "pid": pid,
        "host": host,
        "started_at": stamp(-600),
        "heartbeat": stamp(beat),
        "pid_start": process_start(pid) if host == this_host() else None,
    }


def daemon(host: str, next_fire: float, pid: int = 777, **extra: Any) -> dict[str, Any]:
    return {
        "pid": pid,
        "host": host,
        "started_at": stamp(-86400),
        "next_fire": stamp(next_fire),
        "jitter_s": 0,
        **extra,
    }


def shared_doc() -> dict[str, Any]:
    me = this_host()
    mine = daemon(me, 3600, pid=os.getpid(), pid_start=process_start(os.getpid()))
    return {
        "daemon": mine,
        "hosts": {
            me: {"daemon": mine, "fires": {}, "seen": stamp(-60)},
            "build-2": {"daemon": daemon("build-2", 3600), "fires": {}, "seen": stamp(-30)},
            # Its next fire was two hours ago and it holds nothing live: dead since.
            "build-3": {"daemon": daemon("build-3", -7200), "fires": {}, "seen": stamp(-90000)},
            "build-4": {
                "daemon": daemon("build-4", 3600, stopped_at=stamp(-50), stopped_by="SIGTERM"),
                "seen": stamp(-50),
            },
            "laptop": {"seen": stamp(-5000)},  # swept by hand, never ran a daemon
        },
        "claims": {
            "api": claim("R1", me, -5, pid=os.getpid()),
            "web": claim("R2", "build-2", -12),
            "db": claim("R3", "build-3", -7300),
        },
    }


def test_a_store_of_one_host_has_no_hosts_section(tmp_path: Path) -> None:
    doc = {"daemon": None, "claims": {"api": claim("R1", this_host(), -5, pid=os.getpid())}}
    assert gather_hosts(Snapshot(doc), tmp_path, NOW, 300) == []
    status = gather(None, Snapshot(doc), tmp_path, NOW)
    assert "hosts" not in status
    assert "hosts:" not in render(status)


def test_every_host_with_its_daemon_next_fire_and_claims(tmp_path: Path) -> None:
    hosts = gather_hosts(Snapshot(shared_doc()), tmp_path, NOW, 300)
    by = {h["host"]: h for h in hosts}
    assert [h["host"] for h in hosts] == [this_host(), "build-2", "build-3", "build-4", "laptop"]
    mine = by[this_host()]
    assert mine["this_host"] is True
    assert mine["daemon"]["running"] is True  # checked by its pid: this very process
    assert mine["next_fire"] == stamp(3600)
    assert [c["project"] for c in mine["running"]] == ["api"]
    assert mine["running"][0]["stale"] is None
    live = by["build-2"]
    assert live["daemon"]["running"] is None  # another host's pid is not checked
    assert live["daemon"]["stale"] is None
    assert live["next_fire"] == stamp(3600)
    assert live["seen"] == stamp(-30)
    assert live["running"][0]["heartbeat_age_s"] == 12.0
    dead = by["build-3"]
    assert "is 2h past" in dead["daemon"]["stale"]
    assert dead["running"][0]["stale"] == "no heartbeat for 7300s"
    assert by["build-4"]["daemon"]["running"] is False
    assert by["build-4"]["next_fire"] is None
    assert by["laptop"]["daemon"] == {"running": False}
    assert by["laptop"]["running"] == []


def test_a_daemon_past_its_fire_but_holding_live_claims_is_sweeping_not_stale(
    tmp_path: Path,
) -> None:
    doc = shared_doc()
    doc["claims"]["db"] = claim("R3", "build-3", -20)
    hosts = {h["host"]: h for h in gather_hosts(Snapshot(doc), tmp_path, NOW, 300)}
    assert hosts["build-3"]["daemon"]["stale"] is None


def test_the_stale_time_is_the_stores(tmp_path: Path) -> None:
    """A heartbeat 12 s old is live under the default 5 minutes, stale under 10 s."""
    hosts = {h["host"]: h for h in gather_hosts(Snapshot(shared_doc()), tmp_path, NOW, 10)}
    assert hosts["build-2"]["running"][0]["stale"] == "no heartbeat for 12s"
    status = gather(None, Snapshot(shared_doc()), tmp_path, NOW, stale_after=10)
    running = {c["project"]: c for c in status["running"]}
    assert running["web"]["stale"] == "no heartbeat for 12s"
    assert running["web"]["host"] == "build-2"


def test_the_text_names_each_host_and_what_it_runs(tmp_path: Path) -> None:
    status = gather(None, Snapshot(shared_doc()), tmp_path, NOW)
    assert [h["host"] for h in status["hosts"]][1:] == ["build-2", "build-3", "build-4", "laptop"]
    text = render(status)
    lines = host_lines(status["hosts"])
    assert lines[0] == "hosts:       5 share this state"
    assert "\n".join(lines) in text
    me = this_host()
    assert f"  {me} (this host): daemon running, pid {os.getpid()}; next fire {stamp(3600)}" in text
    assert f"    runs api: run R1, pid {os.getpid()}, since {stamp(-600)}, heartbeat 5s ago" in text
    assert (
        f"  build-2: daemon as published: pid 777, started {stamp(-86400)} (cannot be "
        f"checked from here); next fire {stamp(3600)}; last seen {stamp(-30)}"
    ) in text
    assert "    runs web: run R2, pid 4242" in text
    assert "  build-3: daemon stale (pid 777): its next fire" in text
    assert "[stale: no heartbeat for 7300s]" in text
    assert f"  build-4: no daemon running (stopped at {stamp(-50)} on SIGTERM)" in text
    assert f"  laptop: no daemon running; last seen {stamp(-5000)}\n    runs nothing now" in text
    # The claims section names each claim's host too.
    assert f"  web: run R2, pid 4242 on build-2, since {stamp(-600)}" in text


def test_hostile_names_and_stamps_do_not_reach_the_terminal_raw(tmp_path: Path) -> None:
    doc = shared_doc()
    doc["hosts"]["evil\x1b[2J"] = {"daemon": {"next_fire": "soon\x07", "pid": "x"}, "seen": 5}
    doc["hosts"]["broken"] = "not an object"
    doc["hosts"]["build-2"]["daemon"]["jitter_s"] = float("inf")
    text = render(gather(None, Snapshot(doc), tmp_path, NOW))
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "evil\\x1b[2J" in text
    assert "  broken: no daemon running" in text


def test_the_last_sweep_of_another_host_says_where_it_ran_and_lists_no_local_logs(
    tmp_path: Path,
) -> None:
    doc = shared_doc()
    summary = {"run_id": "R9", "trigger": "schedule", "status": "failed", "host": "build-2"}
    doc["runs"] = [summary]
    status = gather(None, Snapshot(doc), tmp_path, NOW)
    assert status["last_sweep"]["run_dir"] is None
    text = render(status)
    assert "last sweep:  R9 (schedule, on host build-2) failed" in text
    assert "run directory" not in text
    doc["runs"] = [{**summary, "host": this_host()}]
    status = gather(None, Snapshot(doc), tmp_path, NOW)
    assert status["last_sweep"]["run_dir"] == str(tmp_path / "runs" / "R9")
    assert "last sweep:  R9 (schedule) failed" in render(status)
