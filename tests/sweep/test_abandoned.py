"""Tasks a dead sweep left running of a project another sweep has taken over are stopped
by this host's next sweep; a live sweep's tasks never are, claim or no claim.

On a shared store another host takes a dead sweep's claims over; here the takeover is made
with the JSON store by a claim of host build-9 (fresh: this host's sweeps leave it alone),
so no claim of the dead run is left for this host's next sweep to reap.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import UTC, datetime

from agentd.daemon.tasks import orphans
from agentd.state import Claimed, JsonFileStore
from agentd.state.claims import Holder
from tests.builders import cmd, proj, sh, write_config
from tests.helpers import DEADLINE, Workspace, process_gone, wait_for

# Holds until the test writes the release file; STEAL first takes its own project's claim
# as build-9 (see test_claim_lost), so the sweep running it holds no claim while it runs.
HOLD = "touch started; while [ ! -e release ]; do sleep 0.05; done; touch ended"
STEAL = """
import os, subprocess
from datetime import UTC, datetime
from pathlib import Path
from agentd.state import JsonFileStore
from agentd.state.claims import Holder
now = datetime.now(UTC)
stamp = now.isoformat(timespec="seconds")
thief = Holder("run-thief", 1, "build-9", stamp, stamp)
store = JsonFileStore(Path(os.environ["AGENTD_STATE_DIR"]), stale_after=3600)
project = os.environ["AGENTD_PROJECT"]
store._update(lambda doc: (None, [["set", ["claims", project], thief.to_dict()]]))
subprocess.run(["/bin/sh", "-c", os.environ["HOLD"]], check=True)
"""


def _configure(ws: Workspace, slow: dict[str, object]) -> None:
    write_config(
        ws,
        {"slow": slow, "quick": sh("touch quick-ran")},
        [proj("slow", "slow"), proj("quick", "quick")],
        run={"kill_grace": "1s", "env": {"HOLD": HOLD}},
    )


def _take_over(ws: Workspace, project: str) -> None:
    """build-9 claims ``project``, as a host that found its holder's heartbeat stale."""
    now = datetime.now(UTC)
    stamp = now.isoformat(timespec="seconds")
    thief = Holder("run-thief", 1, "build-9", stamp, stamp)
    answer = JsonFileStore(ws.state).claim(project, thief, "2000-01-01", ["slow"], True, now)
    assert isinstance(answer, Claimed), answer


def _alive(found: list[orphans.Found]) -> bool:
    return not all(process_gone(p.pid) for p in found)


def test_a_dead_sweeps_tasks_are_stopped_once_another_holds_their_project(
    ws: Workspace,
) -> None:
    _configure(ws, sh(HOLD))
    first = ws.spawn("run", "--once", "--config", str(ws.config), "--project", "slow")
    wait_for((ws.root / "slow" / "started").exists, what="the slow task to start")
    run_id = ws.state_doc()["claims"]["slow"]["run_id"]
    first.send_signal(signal.SIGKILL)  # agentd alone: its task runs on
    first.communicate(timeout=DEADLINE)
    left = orphans.find(run_id, "slow")
    assert left
    assert _alive(left), "the dead sweep's task runs on"
    _take_over(ws, "slow")  # the dead run holds no claim now: nothing for reaping to find

    proc = ws.once("--json")
    assert proc.returncode == 0, proc.stderr
    wait_for(lambda: not _alive(left), what="the next sweep to stop the abandoned task")
    assert not (ws.root / "slow" / "ended").exists()
    [slow, quick] = json.loads(proc.stdout)["projects"]
    assert slow["status"] == "skipped"
    assert "on build-9" in slow["reason"]
    assert quick["status"] == "ok"
    stopping = [json.loads(x) for x in proc.stderr.splitlines() if '"orphan.stopping"' in x]
    assert [(e["run"], e["projects"], e["level"]) for e in stopping] == [
        (run_id, ["slow"], "warning")
    ]
    # The task's shell, found by both (its sleep children come and go).
    assert min(p.pid for p in left) in stopping[0]["pids"]


def test_a_live_sweeps_tasks_are_never_stopped_even_without_a_claim(ws: Workspace) -> None:
    _configure(ws, cmd(sys.executable, "-c", STEAL))
    first = ws.spawn("run", "--once", "--json", "--config", str(ws.config), "--project", "slow")
    try:
        wait_for((ws.root / "slow" / "started").exists, what="the slow task to start")
        assert ws.state_doc()["claims"]["slow"]["run_id"] == "run-thief"
        running = [t for t in orphans.every_task() if t.project == "slow"]
        assert running
        assert {t.run_id for t in running} != {"run-thief"}

        # A second sweep on this host: the first's run holds no claim and has no report,
        # but its sweep lives: its task is not the second's to stop.
        proc = ws.once("--json", "--project", "quick")
        assert proc.returncode == 0, proc.stderr
        assert "orphan.stopping" not in proc.stderr
        assert _alive([t.process for t in running])
        (ws.root / "slow" / "release").touch()
        out, err = first.communicate(timeout=DEADLINE)
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGKILL)
    assert first.returncode == 0, err
    assert (ws.root / "slow" / "ended").exists(), "the task ran to its end"
    [slow] = json.loads(out)["projects"]
    assert slow["status"] == "skipped"
    assert "on build-9" in slow["reason"]
    assert slow["tasks"][0]["status"] == "ok"
