"""Every failure is recorded and reported, the rest of the sweep goes on, nothing survives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import cmd, proj, recording, sh, write_config
from tests.helpers import AGENTD, Workspace, process_gone, wait_for


def test_four_kinds_of_failure_are_all_reported_and_the_rest_runs(ws: Workspace) -> None:
    ws.project_dirs("fails", "hangs", "broken", "fine")
    write_config(
        ws,
        {
            "fail": recording("{project}-fail", 0, 3),
            "hang": cmd("sleep", 60, timeout="1s"),
            "missing": cmd("definitely-not-a-command-xyz"),
            "ok": recording("{project}-ok"),
        },
        [
            proj("fails", "fail", "ok"),
            proj("hangs", "hang", "ok"),
            proj("broken", "missing", "ok"),
            proj("gone", "ok", path="no/such/dir"),
            proj("fine", "ok"),
        ],
        dirs=False,
        run={"project_parallelism": True, "max_parallel_projects": 2, "kill_grace": "1s"},
    )
    code, report = ws.once_json()
    assert code == 1
    failures = {(f["project"], f["task"]): f for f in report["failures"]}
    assert set(failures) == {
        ("fails", "fail"),
        ("hangs", "hang"),
        ("broken", "missing"),
        ("gone", None),
    }
    assert failures[("fails", "fail")]["status"] == "failed"
    assert failures[("fails", "fail")]["message"] == "exit status 3"
    assert failures[("hangs", "hang")]["status"] == "timeout"
    assert failures[("broken", "missing")]["status"] == "error"
    assert "definitely-not-a-command-xyz" in failures[("broken", "missing")]["message"]
    assert failures[("gone", None)]["status"] == "failed"
    assert "does not exist" in failures[("gone", None)]["message"]
    # With on_task_failure = "continue", the task after each failure still ran.
    ran = {rec["label"] for rec in ws.read_records() if rec["event"] == "end"}
    assert ran == {"fails-fail", "fails-ok", "hangs-ok", "broken-ok", "fine-ok"}
    tasks = {(p["name"], t["name"]): t for p in report["projects"] for t in p["tasks"]}
    assert tasks[("fails", "fail")]["exit_code"] == 3
    assert tasks[("hangs", "hang")]["exit_code"] is None
    assert report["counts"]["tasks_failed"] == 3
    assert report["counts"]["projects_failed"] == 4
    assert report["status"] == "failed"
    # Plain-text summary names them too (stdout off a terminal).
    plain = ws.once("--force")
    assert plain.returncode == 1
    for name in ("fails/fail", "hangs/hang", "broken/missing", "gone:"):
        assert name in plain.stdout


def test_on_task_failure_stop_skips_the_rest_of_that_project(ws: Workspace) -> None:
    write_config(
        ws,
        {"first": recording("first", 0, 1), "second": recording("second")},
        [proj("p", "first", "second")],
        run={"on_task_failure": "stop"},
    )
    code, report = ws.once_json()
    assert code == 1
    second = report["projects"][0]["tasks"][1]
    assert second["status"] == "skipped"
    assert "first failed" in second["reason"]
    assert "second" not in ws.intervals()


def test_a_timeout_stops_a_stubborn_task_and_its_grandchild(ws: Workspace) -> None:
    """Both processes are in the task's group and session and carry its environment, so
    several mechanisms reach them at once; the tests after this one take each alone."""
    ws.project_dirs("p")
    pidfile = ws.root / "stubborn.pid"
    write_config(
        ws,
        {"stubborn": cmd("stubborn", pidfile, timeout="2s")},
        [proj("p", "stubborn")],
        run={"kill_grace": "1s"},
    )
    code, report = ws.once_json()
    assert code == 1
    task = report["projects"][0]["tasks"][0]
    assert task["status"] == "timeout"
    assert "SIGKILL" in task["reason"]  # it ignored SIGTERM, so the grace ran out
    assert task["output_tail"] == "stubborn: started, ignoring SIGTERM"
    leader = int(pidfile.read_text())
    grandchild = int(Path(f"{pidfile}.grandchild").read_text())
    for pid in (leader, grandchild):
        wait_for(lambda pid=pid: process_gone(pid), what=f"pid {pid} to be gone")


# A process started by a task that ignores SIGTERM, moves itself out of the task's group
# ("pgrp") or session ("session") or stays ("group"), writes where it ended up to PIDFILE,
# and sleeps far past any test. Started through `env -i` it keeps none of the task's
# environment, so the /proc search by AGENTD_RUN_ID and friends cannot find it.
ESCAPEE = """
import json, os, signal, sys, time
mode, path = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "pgrp":
    os.setpgid(0, 0)
elif mode == "session":
    os.setsid()
agentd = sorted(k for k in os.environ if k.startswith("AGENTD_"))
info = {"pid": os.getpid(), "pgid": os.getpgid(0), "sid": os.getsid(0), "agentd_env": agentd}
with open(path + ".tmp", "w") as handle:
    json.dump(info, handle)
os.replace(path + ".tmp", path)
time.sleep(300)
"""


def _escapee_task(ws: Workspace, mode: str, scrub: bool, then: str, timeout: str) -> Path:
    """A config whose one task starts an ESCAPEE, waits until it has settled, then runs
    ``then``; returns the escapee's PIDFILE."""
    ws.project_dirs("p")
    script, pidfile = ws.root / "escapee.py", ws.root / "escapee.json"
    script.write_text(ESCAPEE)
    start = f"{'env -i ' if scrub else ''}{sys.executable} {script} {mode} {pidfile}"
    write_config(
        ws,
        {
            "t": sh(
                f"{start} & while [ ! -s {pidfile} ]; do sleep 0.05; done; {then}", timeout=timeout
            )
        },
        [proj("p", "t")],
        run={"kill_grace": "1s"},
    )
    return pidfile


def _escapee_gone(pidfile: Path) -> dict:
    """Where the escapee was; fails unless it is gone (and kills it, if not)."""
    info = json.loads(pidfile.read_text())
    try:
        wait_for(lambda: process_gone(info["pid"]), what=f"the escapee {info} to be gone")
    finally:
        if not process_gone(info["pid"]):
            os.kill(info["pid"], signal.SIGKILL)
    return info


def test_the_group_kill_alone_stops_what_a_finished_task_left_in_its_group(
    ws: Workspace,
) -> None:
    """The leader exits 0 and leaves a process in its group that ignores SIGTERM and has
    no AGENTD_ variables. A task that ended by itself gets no /proc search, so only the
    SIGKILL to the task's process group can stop it."""
    pidfile = _escapee_task(ws, "group", scrub=True, then="echo leaving", timeout="10m")
    code, report = ws.once_json()
    assert code == 0, report
    task = report["projects"][0]["tasks"][0]
    assert (task["status"], task["output_tail"]) == ("ok", "leaving")
    info = _escapee_gone(pidfile)
    assert info["pgid"] == info["sid"] != info["pid"]  # in the task's group
    assert info["agentd_env"] == []


def test_the_session_search_alone_stops_a_process_that_left_the_group(ws: Workspace) -> None:
    """A process in its own group (the group kill misses it) with no AGENTD_ variables
    (the environment search misses it), still in the task's session: found by session
    when the task times out."""
    pidfile = _escapee_task(ws, "pgrp", scrub=True, then="exec sleep 600", timeout="5s")
    code, report = ws.once_json()
    assert code == 1, report
    assert report["projects"][0]["tasks"][0]["status"] == "timeout"
    info = _escapee_gone(pidfile)
    assert info["pgid"] == info["pid"] != info["sid"]  # its own group, the task's session
    assert info["agentd_env"] == []


def test_the_environment_search_alone_stops_a_process_that_left_the_session(
    ws: Workspace,
) -> None:
    """A process that left the task's group and session (setsid), so neither the group
    kill nor the session search reaches it, but kept its environment: found by
    AGENTD_RUN_ID, AGENTD_PROJECT and AGENTD_TASK when the task times out."""
    pidfile = _escapee_task(ws, "session", scrub=False, then="exec sleep 600", timeout="5s")
    code, report = ws.once_json()
    assert code == 1, report
    assert report["projects"][0]["tasks"][0]["status"] == "timeout"
    info = _escapee_gone(pidfile)
    assert info["sid"] == info["pgid"] == info["pid"]  # a session of its own
    assert {"AGENTD_PROJECT", "AGENTD_RUN_ID", "AGENTD_TASK"} <= set(info["agentd_env"])


def test_a_background_process_left_by_a_finished_task_is_killed(ws: Workspace) -> None:
    write_config(
        ws, {"leaky": sh("sleep 300 & echo $! > bg.pid; echo leaving")}, [proj("p", "leaky")]
    )
    code, report = ws.once_json()
    assert code == 0
    assert report["projects"][0]["tasks"][0]["status"] == "ok"
    pid = int((ws.root / "p" / "bg.pid").read_text())
    wait_for(lambda: process_gone(pid), what="the background sleep to be killed")


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_once_stops_tasks_writes_report_and_exits_128_plus_signal(
    ws: Workspace, reap: list, sig: int, status: int
) -> None:
    ws.project_dirs("p", "q")
    pidfile = ws.root / "stubborn.pid"
    write_config(
        ws,
        {"stubborn": cmd("stubborn", pidfile), "after": recording("after")},
        [proj("p", "stubborn", "after"), proj("q", "after")],
        run={"kill_grace": "1s"},
    )
    proc = ws.spawn("run", "--once", "--json", "--config", str(ws.config))
    reap.append(proc)
    wait_for(lambda: Path(f"{pidfile}.grandchild").exists(), what="the task to start")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    report = json.loads(out)
    assert report["status"] == "interrupted"
    project = report["projects"][0]
    assert project["status"] == "interrupted"
    assert [t["status"] for t in project["tasks"]] == ["interrupted", "skipped"]
    assert report["projects"][1]["status"] == "skipped"  # never started
    assert report["failures"][0]["status"] == "interrupted"
    run_dir = ws.state / "runs" / report["run_id"]
    assert json.loads((run_dir / "report.json").read_text())["status"] == "interrupted"
    for path in (pidfile, Path(f"{pidfile}.grandchild")):
        pid = int(path.read_text())
        assert process_gone(pid), f"pid {pid} survived the interrupted sweep"
    assert ws.state_doc()["claims"] == {}  # released
    assert not ws.read_records()  # "after" never ran


def test_a_command_that_cannot_start_is_an_error_not_a_crash(ws: Workspace) -> None:
    ws.project_dirs("p")
    script = ws.root / "p" / "not-executable.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    os.chmod(script, 0o644)
    write_config(
        ws,
        {"noexec": cmd("./not-executable.sh"), "ok": recording("ok")},
        [proj("p", "noexec", "ok")],
        dirs=False,
    )
    code, report = ws.once_json()
    assert code == 1
    first, second = report["projects"][0]["tasks"]
    assert first["status"] == "error"
    assert "permission denied" in first["reason"]
    assert second["status"] == "ok"
    log = ws.state / "runs" / report["run_id"] / "p" / "noexec.log"
    assert "permission denied" in log.read_text()


def test_failures_are_listed_in_the_order_they_happened(ws: Workspace) -> None:
    write_config(
        ws,
        {
            "fail": recording("{project}", 0, 1),
            "slow": recording("{project}-wait", 1.5),
            "medium": recording("{project}-wait", 0.7),
        },
        [proj("slow", "slow", "fail"), proj("medium", "medium", "fail"), proj("quick", "fail")],
        run={"project_parallelism": True, "max_parallel_projects": 3},
    )
    code, report = ws.once_json()
    assert code == 1
    spans = ws.intervals()
    happened = sorted(("slow", "medium", "quick"), key=lambda name: spans[name][1])
    assert happened == ["quick", "medium", "slow"]
    assert [f["project"] for f in report["failures"]] == happened
    # The projects themselves are listed in file order.
    assert [p["name"] for p in report["projects"]] == ["slow", "medium", "quick"]


def test_kill_grace_lets_a_task_clean_up_after_sigterm(ws: Workspace) -> None:
    write_config(
        ws,
        {
            "tidy": sh(
                "trap 'sleep 1; echo cleaned > cleaned; exit 0' TERM; echo ready; sleep 60 & wait",
                timeout="1s",
            )
        },
        [proj("p", "tidy")],
        run={"kill_grace": "20s"},
    )
    code, report = ws.once_json()
    assert code == 1
    task = report["projects"][0]["tasks"][0]
    assert task["status"] == "timeout"
    assert task["reason"] == "timed out after 1s; stopped by SIGTERM"
    assert (ws.root / "p" / "cleaned").read_text() == "cleaned\n"  # it had its grace period
    assert task["duration_s"] < 15  # and the grace ended when it exited, not after 20 s


def test_a_missing_project_directory_fails_it_and_skips_its_dependants(ws: Workspace) -> None:
    ws.project_dirs("app", "file-parent")
    (ws.root / "a-file").write_text("not a directory")
    write_config(
        ws,
        {"t": recording()},
        [
            proj("lib", "t", path="no-such-dir"),
            proj("app", "t", depends_on=["lib"]),
            proj("plain", "t", path="a-file"),
        ],
        dirs=False,
    )
    code, report = ws.once_json()
    assert code == 1
    by_name = {p["name"]: p for p in report["projects"]}
    assert by_name["lib"]["status"] == "failed"
    assert by_name["lib"]["reason"] == f"project directory {ws.root / 'no-such-dir'} does not exist"
    assert by_name["app"]["status"] == "skipped"
    assert by_name["app"]["reason"] == "dependency failed: lib"
    assert by_name["plain"]["status"] == "failed"
    assert by_name["plain"]["reason"] == f"project path {ws.root / 'a-file'} is not a directory"
    assert not ws.read_records()


def test_tasks_read_stdin_from_dev_null(ws: Workspace) -> None:
    write_config(
        ws,
        {"stdin": sh("readlink /proc/self/fd/0; cat; echo end-of-input", timeout="20s")},
        [proj("p", "stdin")],
    )
    # agentd's own stdin is a pipe that stays open: a task inheriting it would block in cat.
    with subprocess.Popen(
        [AGENTD, "run", "--once", "--json", "--config", str(ws.config)],
        cwd=ws.root,
        env=ws.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        output = proc.stdout.read()  # stdin is left open until agentd is done
    report = json.loads(output)
    task = report["projects"][0]["tasks"][0]
    assert task["status"] == "ok"
    assert task["output_tail"] == "/dev/null\nend-of-input"


def test_a_second_signal_kills_at_once(ws: Workspace, reap: list) -> None:
    ws.project_dirs("p")
    pidfile = ws.root / "stubborn.pid"
    write_config(
        ws,
        {"stubborn": cmd("stubborn", pidfile)},
        [proj("p", "stubborn")],
        run={"kill_grace": "10m"},
    )
    errors = ws.root / "stderr.log"
    with errors.open("w") as stderr:
        proc = subprocess.Popen(
            [AGENTD, "run", "--once", "--json", "--config", str(ws.config)],
            cwd=ws.root,
            env=ws.env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    reap.append(proc)
    wait_for(lambda: Path(f"{pidfile}.grandchild").exists(), what="the task to start")
    proc.send_signal(signal.SIGINT)
    # Python runs one handler for signals that arrive together: wait until the first one
    # has been acted on (the task was sent SIGTERM, which it ignores) before the second.
    wait_for(lambda: "task.terminating" in errors.read_text(), what="the first stop to act")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)  # far less than the 10 minute grace
    assert proc.returncode == 130, errors.read_text()
    task = json.loads(out)["projects"][0]["tasks"][0]
    assert task["status"] == "interrupted"
    assert task["reason"] == "agentd was asked to stop; SIGKILL at a second stop request"
    assert process_gone(int(pidfile.read_text()))
