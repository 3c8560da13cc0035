"""Many sweepers on one state directory: four `run --once` and a daemon catching up."""

from __future__ import annotations

import json
import signal
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta

from tests.builders import proj, recording, write_config
from tests.helpers import AGENTD, Workspace, wait_for

PROJECTS = [f"p{i:02d}" for i in range(20)]


def test_five_sweepers_run_every_task_exactly_once(ws: Workspace, reap: list) -> None:
    write_config(
        ws,
        {"one": recording("{project}-one", 0.2), "two": recording("{project}-two", 0.1)},
        [proj(p, "one", "two") for p in PROJECTS],
        schedule={"cron": "0 * * * *", "timezone": "UTC"},
        run={"project_parallelism": True, "max_parallel_projects": 3},
    )
    # The daemon finds a fire missed two hours ago and catches up at once.
    ws.state.mkdir(mode=0o700)
    last = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds")
    (ws.state / "state.json").write_text(
        json.dumps(
            {
                "version": 1,
                "projects": {},
                "claims": {},
                "runs": [],
                "fires": {"last_handled": last},
            }
        )
    )
    daemon = subprocess.Popen(
        [AGENTD, "run", "--config", str(ws.config)],
        cwd=ws.root,
        env=ws.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reap.append(daemon)
    once = []
    for _ in range(4):
        # Staggered: later sweepers plan from a snapshot that ages while they wait for
        # claims, so they meet projects finished since (the claim re-reads the guard).
        once.append(ws.spawn("run", "--once", "--json", "--config", str(ws.config)))
        reap.append(once[-1])
        wait_for(lambda: len(ws.read_records()) >= 4 * len(once), what="the sweep to get going")
    reports = []
    for proc in once:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    catch_up = wait_for(
        lambda: [
            json.loads(p.read_text())
            for p in (ws.state / "runs").glob("*/report.json")
            if json.loads(p.read_text())["trigger"] == "catch-up"
        ],
        what="the daemon's catch-up report",
    )
    reports += catch_up
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=60)
    assert daemon.returncode == 0

    starts = Counter(r["label"] for r in ws.read_records() if r["event"] == "start")
    assert starts == Counter({f"{p}-{t}": 1 for p in PROJECTS for t in ("one", "two")})
    # Together, the five reports account for every project: run by exactly one of them,
    # and skipped by the others for a reason that says so.
    ran = Counter(p["name"] for r in reports for p in r["projects"] if p["status"] == "ok")
    assert ran == Counter(dict.fromkeys(PROJECTS, 1))
    for report in reports:
        assert {p["name"] for p in report["projects"]} == set(PROJECTS)
        for project in report["projects"]:
            assert project["status"] in ("ok", "skipped"), project
            if project["status"] == "skipped":
                assert project["reason"].startswith(("claimed by run", "done today")), project
    # (The claim's re-read of the skip guard, which makes the later sweepers skip projects
    # finished after they planned, is proved deterministically in test_state_store.py.)
    assert ws.state_doc()["claims"] == {}
