"""The daily skip guard, --force, the zone that defines "today", and claims between sweeps."""

from __future__ import annotations

import json
import os
import socket
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.builders import proj, recording, sh, write_config
from tests.helpers import Workspace

# UTC+14 and UTC-11: 25 hours apart, so at any instant their calendar dates differ.
EAST, WEST = "Pacific/Kiritimati", "Pacific/Pago_Pago"


def _config(ws: Workspace, zone: str = "UTC", fail_marker: bool = True) -> None:
    write_config(
        ws,
        {
            "ok": recording("{project}-ok"),
            # fails while the marker file exists in the project directory
            "flaky": sh("record $AGENTD_PROJECT-flaky 0 $(test -e fail && echo 1 || echo 0)"),
        },
        [proj("a", "ok", "flaky"), proj("b", "ok")],
        schedule={"timezone": zone},
    )
    if fail_marker:
        (ws.root / "a" / "fail").touch()


def _ran(ws: Workspace) -> list[str]:
    labels = [r["label"] for r in ws.read_records() if r["event"] == "end"]
    ws.records.unlink(missing_ok=True)
    return sorted(labels)


def test_second_sweep_same_day_runs_only_what_did_not_succeed(ws: Workspace) -> None:
    _config(ws)
    code, _first = ws.once_json()
    assert code == 1
    assert _ran(ws) == ["a-flaky", "a-ok", "b-ok"]

    code, second = ws.once_json()
    assert code == 1  # flaky failed again
    assert _ran(ws) == ["a-flaky"]
    by_name = {p["name"]: p for p in second["projects"]}
    assert by_name["b"]["status"] == "skipped"
    assert by_name["b"]["reason"].startswith("done today")
    assert [(t["name"], t["status"], t["reason"]) for t in by_name["a"]["tasks"]] == [
        ("ok", "skipped", "done today"),
        ("flaky", "failed", "exit status 1"),
    ]

    (ws.root / "a" / "fail").unlink()
    code, _ = ws.once_json()
    assert code == 0
    assert _ran(ws) == ["a-flaky"]

    code, fourth = ws.once_json()
    assert code == 0  # nothing to do is success
    assert _ran(ws) == []
    assert fourth["counts"]["projects_skipped"] == 2

    code, _ = ws.once_json("--force")
    assert code == 0
    assert _ran(ws) == ["a-flaky", "a-ok", "b-ok"]


def test_today_is_the_date_in_the_configured_zone(ws: Workspace) -> None:
    _config(ws, zone=EAST, fail_marker=False)
    code, first = ws.once_json()
    assert code == 0
    assert first["date"] == datetime.now(ZoneInfo(EAST)).date().isoformat()
    assert _ran(ws) == ["a-flaky", "a-ok", "b-ok"]
    stored = ws.state_doc()["projects"]["a"]["tasks"]["ok"]
    assert stored["date"] == first["date"]

    # Same instant, other side of the date line: yesterday there, so nothing is done yet.
    _config(ws, zone=WEST, fail_marker=False)
    code, second = ws.once_json()
    assert code == 0
    assert second["date"] == datetime.now(ZoneInfo(WEST)).date().isoformat()
    assert second["date"] != first["date"]
    assert _ran(ws) == ["a-flaky", "a-ok", "b-ok"]

    code, _ = ws.once_json()
    assert _ran(ws) == []


def test_two_sweeps_started_together_run_every_task_exactly_once(ws: Workspace, reap: list) -> None:
    names = [f"p{i}" for i in range(8)]
    write_config(
        ws,
        {"one": recording("{project}-one", 0.3), "two": recording("{project}-two", 0.2)},
        [proj(n, "one", "two") for n in names],
        run={"project_parallelism": True, "max_parallel_projects": 3},
    )
    procs = [ws.spawn("run", "--once", "--json", "--config", str(ws.config)) for _ in range(2)]
    reap.extend(procs)
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    runs = Counter(r["label"] for r in ws.read_records() if r["event"] == "start")
    assert runs == Counter({f"{n}-{t}": 1 for n in names for t in ("one", "two")})
    # Together the reports account for every project: run by one, skipped by the other.
    ran_by = Counter(
        p["name"] for report in reports for p in report["projects"] if p["status"] == "ok"
    )
    assert ran_by == Counter(dict.fromkeys(names, 1))
    for report in reports:
        for project in report["projects"]:
            if project["status"] == "skipped":
                assert project["reason"].startswith(("claimed by run", "done today"))
    assert ws.state_doc()["claims"] == {}


def _seed_claim(ws: Workspace, pid: int, heartbeat: datetime, host: str | None = None) -> None:
    ws.state.mkdir(mode=0o700, exist_ok=True)
    claim = {
        "run_id": "20260101T000000Z-dead",
        "pid": pid,
        "host": host or socket.gethostname(),
        "started_at": heartbeat.isoformat(),
        "heartbeat": heartbeat.isoformat(),
    }
    doc = {"version": 1, "projects": {}, "claims": {"a": claim}, "runs": []}
    (ws.state / "state.json").write_text(json.dumps(doc))


def test_claim_of_a_live_process_makes_the_project_skip(ws: Workspace) -> None:
    _config(ws, fail_marker=False)
    _seed_claim(ws, os.getpid(), datetime.now(UTC))  # this test process is alive
    code, report = ws.once_json()
    assert code == 0
    a = report["projects"][0]
    assert a["status"] == "skipped"
    assert (
        a["reason"]
        == f"claimed by run 20260101T000000Z-dead (pid {os.getpid()} on {socket.gethostname()})"
    )
    assert _ran(ws) == ["b-ok"]
    assert ws.state_doc()["claims"]["a"]["pid"] == os.getpid()  # left alone


def test_claim_of_a_dead_process_is_taken_over_with_a_warning(ws: Workspace) -> None:
    _config(ws, fail_marker=False)
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    _seed_claim(ws, dead, datetime.now(UTC))
    proc = ws.once("--json")
    assert proc.returncode == 0
    assert _ran(ws) == ["a-flaky", "a-ok", "b-ok"]
    warning = next(
        json.loads(line) for line in proc.stderr.splitlines() if "claim.taken_over" in line
    )
    assert warning["level"] == "warning"
    assert f"process {dead} is gone" in warning["why"]
    assert ws.state_doc()["claims"] == {}


def test_claim_with_an_old_heartbeat_is_taken_over_even_from_another_host(ws: Workspace) -> None:
    _config(ws, fail_marker=False)
    _seed_claim(ws, 1, datetime.now(UTC) - timedelta(minutes=6), host="elsewhere.example")
    proc = ws.once("--json")
    assert proc.returncode == 0
    assert "a-ok" in _ran(ws)
    assert "no heartbeat for" in proc.stderr


def test_fresh_claim_from_another_host_is_respected(ws: Workspace) -> None:
    _config(ws, fail_marker=False)
    _seed_claim(ws, 1, datetime.now(UTC) - timedelta(minutes=4), host="elsewhere.example")
    _code, report = ws.once_json()
    assert report["projects"][0]["status"] == "skipped"
    assert "elsewhere.example" in report["projects"][0]["reason"]


def test_a_dead_claim_on_a_project_done_today_is_cleared(ws: Workspace) -> None:
    """A sweep killed after its last task but before releasing leaves such a claim."""
    _config(ws, fail_marker=False)
    code, _ = ws.once_json()
    assert code == 0
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    doc = ws.state_doc()
    doc.pop("journal", None)  # a snapshot of our own making: no journal to replay on top
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    doc["claims"]["a"] = {
        "run_id": "20260101T000000Z-dead",
        "pid": dead,
        "host": socket.gethostname(),
        "started_at": stamp,
        "heartbeat": stamp,
    }
    (ws.state / "state.json").write_text(json.dumps(doc))
    proc = ws.once("--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["projects"][0]["reason"].startswith("done today")
    assert ws.state_doc()["claims"] == {}
    assert "claim.taken_over" in proc.stderr
