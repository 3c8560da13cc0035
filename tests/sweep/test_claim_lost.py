"""A sweep whose claim another sweep took over (believing it dead) stops working on that
project: its next write gets ClaimLost, and the project's remaining tasks are the new
holder's to run, not run a second time here.

The takeover is a real one: the project's first task takes the claim with a second store
of its own, as a host that no longer hears this sweep's heartbeat would.
"""

from __future__ import annotations

import json
import sys

from tests.builders import cmd, proj, sh, write_config
from tests.helpers import Workspace

# Takes the claim of the task's own project as host build-9, an hour in the future: to
# that host this sweep's heartbeat is an hour old, so its claim is stale and taken over.
STEAL = """
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agentd.state import Claimed, JsonFileStore
from agentd.state.claims import me, set_host

set_host("build-9")
store = JsonFileStore(Path(os.environ["AGENTD_STATE_DIR"]), stale_after=60)
now = datetime.now(UTC) + timedelta(hours=1)
project = os.environ["AGENTD_PROJECT"]
answer = store.claim(project, me("run-thief", now), os.environ["AGENTD_DATE"], ["x"], True, now)
assert isinstance(answer, Claimed), answer
"""


def _configure(ws: Workspace, *tasks: str) -> None:
    write_config(
        ws,
        {
            "steal": cmd(sys.executable, "-c", STEAL),
            "after": sh("touch $AGENTD_PROJECT_DIR/after-ran"),
            "third": sh("touch $AGENTD_PROJECT_DIR/third-ran"),
        },
        [proj("p", *tasks), proj("q", "after")],
    )


def test_a_project_whose_claim_was_taken_over_runs_no_further_task(ws: Workspace) -> None:
    _configure(ws, "steal", "after", "third")
    proc = ws.once("--json")
    assert proc.returncode == 0, proc.stderr
    assert not (ws.root / "p" / "after-ran").exists(), "a task ran after the claim was lost"
    assert not (ws.root / "p" / "third-ran").exists()
    assert (ws.root / "q" / "after-ran").exists(), "another project is not affected"

    report = json.loads(proc.stdout)
    assert report["status"] == "ok"
    [p, q] = report["projects"]
    assert p["status"] == "skipped"
    assert p["reason"].startswith("claim taken over by another sweep: run run-thief")
    assert "on build-9" in p["reason"]
    steal, after, third = p["tasks"]
    assert steal["status"] == "ok"  # it ran here; its outcome is not recorded
    for task in (after, third):
        assert (task["status"], task["reason"]) == ("skipped", p["reason"])
    assert q["status"] == "ok"
    assert report["failures"] == []
    warnings = [line for line in proc.stderr.splitlines() if "claim_lost" in line]
    assert len(warnings) == 1, proc.stderr
    assert "build-9" in warnings[0]

    # The new holder keeps its claim, and nothing this sweep did on p counts.
    state = ws.state_doc()
    assert state["claims"]["p"]["run_id"] == "run-thief"
    assert "steal" not in state.get("projects", {}).get("p", {}).get("tasks", {})


def test_a_claim_lost_at_the_last_task_is_no_error(ws: Workspace) -> None:
    _configure(ws, "after", "steal")
    proc = ws.once("--json")
    assert proc.returncode == 0, proc.stderr
    [p, _] = json.loads(proc.stdout)["projects"]
    assert p["status"] == "skipped"
    assert "on build-9" in p["reason"]
    assert [t["status"] for t in p["tasks"]] == ["ok", "ok"]
    assert ws.state_doc()["claims"]["p"]["run_id"] == "run-thief"
