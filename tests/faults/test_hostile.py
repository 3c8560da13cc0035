"""Hostile tasks: each is recorded as what it did, and none of its processes survives."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from tests.builders import cmd, proj, sh, write_config
from tests.helpers import Workspace, process_gone, wait_for

TREE = textwrap.dedent(
    """
    import os, signal, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pids = open(sys.argv[1], "a")
    def spawn(depth):
        for _ in range(2):
            if os.fork() == 0:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                pids.write(f"{os.getpid()}\\n"); pids.flush()
                if depth:
                    spawn(depth - 1)
                time.sleep(600)
                os._exit(0)
    pids.write(f"{os.getpid()}\\n"); pids.flush()
    spawn(2)
    print("tree of 15 processes, all ignoring SIGTERM", flush=True)
    time.sleep(600)
    """
)


def test_hostile_tasks_are_recorded_right_and_leave_nothing(ws: Workspace) -> None:
    ws.project_dirs("p")
    (ws.root / "tree.py").write_text(TREE)
    pids = ws.root / "pids"
    write_config(
        ws,
        {
            "tree": cmd("python3", ws.root / "tree.py", pids, timeout="3s"),
            "closes_stdout": sh(f"exec 1>&- 2>&-; echo $$ >> {pids}; sleep 0.5; exit 0"),
            "sleeps_past_timeout": sh(f"echo $$ >> {pids}; exec sleep 600", timeout="1s"),
            "stderr_only": sh(f"echo $$ >> {pids}; echo 'warning: all on stderr' >&2; exit 0"),
            "execs_missing": sh(f"echo $$ >> {pids}; exec /nonexistent/tool --flag"),
            "missing_program": cmd("/nonexistent/tool", "--flag"),
            # GNU timeout moves itself into a group of its own; setsid leaves the session too
            "leaves_its_group": sh(
                f"timeout 600 sh -c 'echo $$ >> {pids}; exec sleep 600' &\n"
                f"setsid sh -c 'echo $$ >> {pids}; exec sleep 600' &\n"
                "sleep 600",
                timeout="2s",
            ),
        },
        [
            proj("tree", "tree", path="p"),
            proj("closes", "closes_stdout", path="p"),
            proj("sleeps", "sleeps_past_timeout", path="p"),
            proj("stderr", "stderr_only", path="p"),
            proj("execs", "execs_missing", "missing_program", path="p"),
            proj("escapes", "leaves_its_group", path="p"),
        ],
        run={"project_parallelism": True, "max_parallel_projects": 6, "kill_grace": "1s"},
    )
    code, report = ws.once_json()
    assert code == 1
    tasks = {t["name"]: t for p in report["projects"] for t in p["tasks"]}
    assert tasks["tree"]["status"] == "timeout"
    assert tasks["tree"]["reason"] == "timed out after 3s; SIGKILL after 1s"
    assert tasks["tree"]["output_tail"] == "tree of 15 processes, all ignoring SIGTERM"
    assert tasks["closes_stdout"]["status"] == "ok"
    assert tasks["closes_stdout"]["output_tail"] == ""
    assert tasks["sleeps_past_timeout"]["status"] == "timeout"
    assert tasks["sleeps_past_timeout"]["reason"] == "timed out after 1s; stopped by SIGTERM"
    assert tasks["stderr_only"]["status"] == "ok"
    assert tasks["stderr_only"]["output_tail"] == "warning: all on stderr"
    assert tasks["execs_missing"]["status"] == "failed"
    assert tasks["execs_missing"]["exit_code"] == 127
    assert "/nonexistent/tool" in tasks["execs_missing"]["output_tail"]
    assert tasks["missing_program"]["status"] == "error"
    assert tasks["missing_program"]["reason"] == "command not found: /nonexistent/tool"
    assert tasks["leaves_its_group"]["status"] == "timeout"
    recorded = [int(line) for line in pids.read_text().split()]
    assert len(recorded) == 15 + 4 + 2  # the tree, one per shell task, the two escapees
    for pid in recorded:
        wait_for(lambda pid=pid: process_gone(pid), what=f"pid {pid} to be gone")
    assert not any(Path(ws.state / "runs" / report["run_id"]).rglob("*.pid"))
    assert os.path.exists(ws.state / "runs" / report["run_id"] / "execs" / "missing_program.log")
