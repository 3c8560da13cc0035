"""SIGKILL of agentd at many points: nothing lost, nothing run twice, no orphan left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ROOT, Workspace, process_gone, wait_for

PROJECTS = ["p1", "p2", "p3", "p4"]
TASKS = ["t1", "t2", "t3"]
# Kill points from before the first task to after the last one (a sweep takes ~2.5 s).
DELAYS = [0.0, 0.15, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.6, 1.9, 2.2, 2.6, 3.2]


def _config(ws: Workspace) -> None:
    ws.project_dirs(*PROJECTS)
    tasks = "".join(
        f'[tasks.{t}]\ncommand = ["record", "{{project}}-{t}", "0.25"]\n' for t in TASKS
    )
    projects = "".join(
        f'[[projects]]\nname = "{p}"\npath = "{p}"\ntasks = {json.dumps(TASKS)}\n' for p in PROJECTS
    )
    ws.write_config(
        '[run]\nproject_parallelism = true\nmax_parallel_projects = 2\nkill_grace = "1s"\n'
        + tasks
        + projects
    )


def _succeeded(ws: Workspace) -> set[str]:
    doc = ws.state_doc()
    return {
        f"{project}-{task}"
        for project, entry in doc.get("projects", {}).items()
        for task, record in entry.get("tasks", {}).items()
        if record.get("status") == "ok"
    }


@pytest.mark.parametrize("delay", DELAYS)
def test_sigkill_at_any_point_then_the_next_sweep_runs_exactly_what_is_left(
    ws: Workspace, reap: list, delay: float
) -> None:
    _config(ws)
    first = ws.spawn("run", "--once", "--config", str(ws.config))
    reap.append(first)
    time.sleep(delay)  # the kill point under test, not a wait for something
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)

    if (ws.state / "state.json").exists():
        json.loads((ws.state / "state.json").read_text())  # never torn
    done_before = _succeeded(ws)
    killed_run = {r["run_id"] for r in ws.read_records()}
    orphan_pids = {r["pid"] for r in ws.read_records() if r["event"] == "start"}

    code, report = ws.once_json()
    assert code == 0, report["failures"]
    everything = {f"{p}-{t}" for p in PROJECTS for t in TASKS}
    second_run = [r for r in ws.read_records() if r["run_id"] == report["run_id"]]
    ran_now = {r["label"] for r in second_run if r["event"] == "start"}
    assert ran_now == everything - done_before
    assert _succeeded(ws) == everything
    assert ws.state_doc()["claims"] == {}
    # A task recorded as succeeded never ran again; one in flight at the kill ran again,
    # since its outcome died with agentd. Nothing started more than twice.
    starts = Counter(r["label"] for r in ws.read_records() if r["event"] == "start")
    for label in done_before:
        assert starts[label] == 1, label
    assert set(starts) == everything
    assert max(starts.values()) <= 2
    assert len(killed_run) <= 1
    for pid in orphan_pids:
        assert process_gone(pid)


def test_an_orphaned_task_is_stopped_before_its_project_runs_again(
    ws: Workspace, reap: list
) -> None:
    ws.project_dirs("p")
    pidfile = ws.root / "stubborn.pid"
    ws.write_config(
        f"""
        [run]
        kill_grace = "1s"
        [tasks.stubborn]
        shell = "test -e {ws.root}/second && exec record again 0 || exec stubborn {pidfile}"
        [[projects]]
        name = "p"
        path = "p"
        tasks = ["stubborn"]
        """
    )
    first = ws.spawn("run", "--once", "--config", str(ws.config))
    reap.append(first)
    wait_for(lambda: Path(f"{pidfile}.grandchild").exists(), what="the task to start")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    leader, grandchild = int(pidfile.read_text()), int(Path(f"{pidfile}.grandchild").read_text())
    # What an operator sees after a SIGKILL: the task runs on, reparented away from agentd.
    assert not process_gone(leader)
    assert not process_gone(grandchild)

    (ws.root / "second").touch()
    proc = ws.once("--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert process_gone(leader)
    assert process_gone(grandchild)
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert (
        names.index("claim.taken_over")
        < names.index("orphan.stopping")
        < names.index("task.finish")
    )
    stopped = next(e for e in events if e["event"] == "orphan.stopping")
    assert {leader, grandchild} <= set(stopped["pids"])
    assert report["projects"][0]["tasks"][0]["status"] == "ok"


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from state import JsonFileStore, TaskRecord
    from datetime import datetime, UTC
    from state.claims import me
    store = JsonFileStore(Path(sys.argv[1]))
    now = datetime.now(UTC)
    for p in range(50):
        store.claim(f"p{p}", me("w", now), "2026-11-22", ["t"], True, now)
    i = 0
    while True:
        record = TaskRecord("ok", "2026-11-22", "w", None, None, 0.1, 0)
        store.record(f"p{i % 50}", f"t{i % 7}", record)
        i += 1
    """
)


def test_sigkill_during_state_writes_never_leaves_a_torn_file(tmp_path: Path) -> None:
    """A writer records as fast as it can (journal appends, and now and then a compaction
    that replaces state.json); it is killed at 40 moments."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    kills = 0
    for i in range(40):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], env=env)
        wait_for((tmp_path / "state.json").exists, what="a first write")
        time.sleep(0.01 * (i % 10))  # the kill point under test
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        kills += 1
        doc = json.loads((tmp_path / "state.json").read_text())
        assert doc["version"] in (1, 2)  # a first write keeps the seed; a rewrite makes 2
        # The journal may end in a line the kill cut short: it is ignored, never an error.
        from state import JsonFileStore

        assert JsonFileStore(tmp_path).read().doc["version"] in (1, 2)
    assert kills == 40
    # A killed writer may leave its temporary file; the next writer removes them.
    from state import JsonFileStore

    JsonFileStore(tmp_path).reap(datetime.now(UTC))  # any write will do: the writer is dead
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "state.journal",
        "state.json",
        "state.json.lock",
    ]
