"""``agentd log``, and where the report and status say the logs are: real sweeps, then the
command as a person runs it (a pipe, a terminal, a follower stopped with Ctrl-C)."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agentd.daemon.output.logview import LogOutput
from agentd.state.base import STATE_VERSION
from tests.builders import ask, cmd, proj, sh, write_config
from tests.helpers import AGENTD, DEADLINE, Workspace, read_pty, wait_for

HOSTILE = b"plain\n\x1b[2J\x1b]0;owned\x07title\rhidden\n\xff\xfe not utf-8\n"


def _two_projects(ws: Workspace) -> tuple[int, dict[str, Any]]:
    """p: a task that prints hostile bytes, then one that fails; q: one task."""
    (ws.root / "hostile.bin").write_bytes(HOSTILE)
    write_config(
        ws,
        {"show": sh(f"cat {ws.root / 'hostile.bin'}"), "fail": sh("echo broken >&2; exit 3")},
        [proj("p", "show", "fail"), proj("q", "show")],
    )
    return ws.once_json()


def _run_dir(ws: Workspace, report: dict[str, Any]) -> Path:
    return ws.state / "runs" / report["run_id"]


def test_a_projects_only_task_is_printed_byte_for_byte_into_a_pipe(ws: Workspace) -> None:
    code, report = _two_projects(ws)
    assert code == 1
    proc = subprocess.run([AGENTD, "log", "q"], env=ws.env, capture_output=True, timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == HOSTILE  # a pipe gets the bytes as the task wrote them
    log = _run_dir(ws, report) / "q" / "show.log"
    assert str(log) in proc.stderr.decode()  # which run and file, on stderr
    assert report["run_id"] in proc.stderr.decode()


def test_a_project_of_several_tasks_lists_them_with_status_and_path(ws: Workspace) -> None:
    _, report = _two_projects(ws)
    run_dir = _run_dir(ws, report)
    proc = ws.run("log", "p")
    assert proc.returncode == 2
    assert "name one" in proc.stderr
    assert f"show  ok      {run_dir / 'p' / 'show.log'}" in proc.stderr
    assert f"fail  failed  {run_dir / 'p' / 'fail.log'}" in proc.stderr
    assert proc.stdout == ""
    named = ws.run("log", "p", "fail")
    assert named.returncode == 0, named.stderr
    assert named.stdout == "broken\n"


def test_the_run_is_named_by_a_prefix_as_first_word_or_with_run(ws: Workspace) -> None:
    _, report = _two_projects(ws)
    prefix = report["run_id"][:12]
    for args in (
        (prefix, "p", "fail"),  # three words: RUN_ID PROJECT TASK
        (prefix, "q"),  # two words, the first a run: RUN_ID PROJECT
        ("--run", prefix, "p", "fail"),
    ):
        proc = ws.run("log", *args, errors="replace")  # q's log is not all UTF-8
        assert proc.returncode == 0, (args, proc.stderr)
        assert report["run_id"] in proc.stderr
    assert ws.run("log", "--run", prefix, "p", "fail", "x").returncode == 2


def test_unknown_runs_projects_and_tasks_say_what_there_is(ws: Workspace) -> None:
    _, report = _two_projects(ws)
    run_id = report["run_id"]
    proc = ws.run("log", "nope")
    assert proc.returncode == 2
    assert f"no run in {ws.state / 'runs'} has a log of project 'nope'" in proc.stderr
    assert f"the latest run, {run_id}, has logs of: p, q" in proc.stderr
    proc = ws.run("log", "p", "nope")
    assert proc.returncode == 2
    assert f"run {run_id} has no task 'nope' of project p" in proc.stderr
    assert "show  ok" in proc.stderr
    assert "fail  failed" in proc.stderr
    proc = ws.run("log", "19990101T", "p", "show")
    assert proc.returncode == 2
    assert f"no run '19990101T' in {ws.state / 'runs'}; the latest: {run_id}" in proc.stderr
    proc = ws.run("log", run_id, "nope")
    assert proc.returncode == 2
    assert f"run {run_id} has no logs of project 'nope'; projects with logs there: p, q" in (
        proc.stderr
    )
    for proc in (ws.run("log", "p", "nope"), ws.run("log", "nope")):
        assert "Traceback" not in proc.stderr


def test_a_project_named_like_a_run_is_refused_as_ambiguous(ws: Workspace) -> None:
    write_config(ws, {"t": sh("echo from-20")}, [proj("20", "t")])
    code, report = ws.once_json()
    assert code == 0
    proc = ws.run("log", "20", "t")
    assert proc.returncode == 2
    assert "'20' is both a run id (or its start) and a project" in proc.stderr
    assert "--run RUN_ID" in proc.stderr
    proc = ws.run("log", "--run", report["run_id"], "20", "t")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "from-20\n"


def test_the_default_run_is_the_latest_with_a_log_of_the_project(ws: Workspace) -> None:
    write_config(
        ws,
        {"t": sh('echo "$AGENTD_RUN_ID"')},
        [proj("p", "t"), proj("q", "t")],
    )
    _, first = ws.once_json()
    _, second = ws.once_json("--force", "--project", "q")  # a later sweep without p
    assert ws.run("log", "p").stdout == f"{first['run_id']}\n"
    assert ws.run("log", "q", "t").stdout == f"{second['run_id']}\n"


def test_a_cut_log_says_so(ws: Workspace) -> None:
    script = "seq -f 'line-%g-padding-padding' 1 5000"  # about 125KB
    write_config(ws, {"t": sh(script, max_log_size="64KiB")}, [proj("p", "t")])
    ws.once_json()
    proc = ws.run("log", "p")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("line-1-")
    assert proc.stdout.endswith("line-5000-padding-padding\n")
    assert "bytes of output not kept here (max_log_size)" in proc.stdout  # the runner's marker
    assert "agentd: log cut at max_log_size (64KiB)" in proc.stderr


def test_log_needs_no_valid_configuration(ws: Workspace) -> None:
    """The file names the state directory and is broken elsewhere: the log still shows,
    with a warning naming the problem."""
    write_config(ws, {"t": sh("echo still-here")}, [proj("p", "t")], paths={"state_dir": "st"})
    del ws.env["AGENTD_STATE_DIR"]
    done = ws.once()
    assert done.returncode == 0, done.stderr
    assert (ws.root / "st" / "runs").is_dir()
    ws.config.write_text(ws.config.read_text() + '\n[run]\nno_such_key = "x"\n')
    assert ws.run("config", "check", "--config", str(ws.config)).returncode == 2
    proc = ws.run("log", "--config", str(ws.config), "p")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "still-here\n"
    assert "warning" in proc.stderr
    assert "no_such_key" in proc.stderr


@pytest.mark.parametrize(
    "damaged",
    [
        {"projects": ["x"]},
        {"projects": "x"},
        {"projects": [{"name": "p", "tasks": ["t"]}]},
        {"projects": [{"name": "p", "tasks": None}]},
        ["not", "a", "report"],
    ],
)
def test_a_damaged_report_is_set_aside_and_the_log_still_shown(
    ws: Workspace, damaged: object
) -> None:
    write_config(ws, {"t": sh("echo kept")}, [proj("p", "t")])
    _, report = ws.once_json()
    path = _run_dir(ws, report) / "report.json"
    path.write_text(json.dumps(damaged))
    proc = ws.run("log", "p", "t")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "kept\n"
    assert f"agentd: {path} is damaged: shown without it" in proc.stderr
    assert "Traceback" not in proc.stderr


def _io_read(pid: int) -> int:
    """The bytes process ``pid`` has read so far (files and pipes alike)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no rchar in /proc/{pid}/io")


def test_a_follower_reads_the_state_once_not_at_every_poll(
    ws: Workspace, reap: list[subprocess.Popen[str]]
) -> None:
    """A large state (many projects) followed through several polls: each poll reads what
    the journal gained, never the whole state again."""
    steps = 6
    script = "; ".join(
        f"echo line{i}; while [ ! -e {ws.root}/go{i} ]; do sleep 0.05; done" for i in range(steps)
    )
    write_config(ws, {"t": sh(script)}, [proj("p", "t")])
    others = {
        f"other-{i}": {"tasks": {"t": {"status": "ok", "date": "2020-01-01"}}, "pad": "x" * 100}
        for i in range(20000)
    }
    ws.state.mkdir(parents=True, exist_ok=True)
    doc = {"version": STATE_VERSION, "projects": others, "claims": {}, "runs": [], "fires": {}}
    (ws.state / "state.json").write_text(json.dumps(doc))
    size = (ws.state / "state.json").stat().st_size
    sweep = ws.spawn("run", "--once", "--config", str(ws.config))
    reap.append(sweep)
    log = wait_for(lambda: next(ws.state.glob("runs/*/p/t.log"), None), what="the task's log")
    wait_for(lambda: "line0" in log.read_text(), what="the first line")
    follower = ws.spawn("log", "-f", "p", "t")
    reap.append(follower)
    assert _line(follower) == "line0\n"
    before = _io_read(follower.pid)
    for i in range(1, steps):
        (ws.root / f"go{i - 1}").touch()
        # Printed only after the task wrote it, which it did after the go: another poll.
        assert _line(follower) == f"line{i}\n"
    read = _io_read(follower.pid) - before
    assert read < size, f"{steps - 1} polls read {read} bytes; the state is {size}"
    (ws.root / f"go{steps - 1}").touch()
    _, err = follower.communicate(timeout=DEADLINE)
    assert follower.returncode == 0, err
    assert sweep.wait(timeout=DEADLINE) == 0


def test_on_a_terminal_control_characters_are_shown_as_escapes(ws: Workspace) -> None:
    _two_projects(ws)
    master, slave = pty.openpty()
    proc = subprocess.Popen([AGENTD, "log", "q"], env=ws.env, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    try:
        shown = read_pty(master, proc)
    finally:
        os.close(master)
    assert proc.wait(timeout=DEADLINE) == 0
    text = shown.replace(b"\r\n", b"\n")  # the terminal's own line ends
    assert b"\x1b" not in text
    assert b"\x07" not in text
    assert text == (b"plain\n\\x1b[2J\\x1b]0;owned\\x07title\\x0dhidden\n\\xff\\xfe not utf-8\n")


def test_terminal_escaping_holds_across_chunks() -> None:
    """A CR LF, or a character, split between two reads is still one."""
    stream = io.BytesIO()
    out = LogOutput(stream, terminal=True)
    for chunk in (b"a\r", b"\nb \xc3", b"\xa9 \x1b[1m", b"end\r"):
        out.write(chunk)
    out.close()
    assert stream.getvalue().decode() == "a\nb \u00e9 \\x1b[1mend\\x0d"


def _follow_setup(ws: Workspace) -> tuple[subprocess.Popen[str], Path]:
    go = ws.root / "go"
    script = f"echo first; while [ ! -e {go} ]; do sleep 0.05; done; echo second"
    write_config(ws, {"t": sh(script)}, [proj("p", "t")])
    sweep = ws.spawn("run", "--once", "--config", str(ws.config))
    log = wait_for(lambda: next(ws.state.glob("runs/*/p/t.log"), None), what="the task's log")
    wait_for(lambda: "first" in log.read_text(), what="the first line")
    return sweep, go


def _line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], DEADLINE)
    assert ready, "the follower printed nothing"
    return proc.stdout.readline()


def test_follow_prints_what_comes_and_ends_with_the_task(
    ws: Workspace, reap: list[subprocess.Popen[str]]
) -> None:
    sweep, go = _follow_setup(ws)
    reap.append(sweep)
    follower = ws.spawn("log", "-f", "p", "t")
    reap.append(follower)
    assert _line(follower) == "first\n"
    assert follower.poll() is None  # still following: the task waits for us
    go.touch()
    out, err = follower.communicate(timeout=DEADLINE)
    assert follower.returncode == 0, err
    assert out == "second\n"
    assert "running" in err  # the status it had when it was picked
    assert sweep.wait(timeout=DEADLINE) == 0


def test_a_follower_ends_with_how_the_task_ended(
    ws: Workspace, reap: list[subprocess.Popen[str]]
) -> None:
    """The header said "(running)": the last line on stderr says how it ended; the exit
    status stays 0, the log was shown."""
    go = ws.root / "go"
    script = f"echo first; while [ ! -e {go} ]; do sleep 0.05; done; echo second; exit 7"
    write_config(ws, {"t": sh(script)}, [proj("p", "t")])
    sweep = ws.spawn("run", "--once", "--config", str(ws.config))
    reap.append(sweep)
    log = wait_for(lambda: next(ws.state.glob("runs/*/p/t.log"), None), what="the task's log")
    wait_for(lambda: "first" in log.read_text(), what="the first line")
    follower = ws.spawn("log", "-f", "p", "t")
    reap.append(follower)
    assert _line(follower) == "first\n"
    go.touch()
    out, err = follower.communicate(timeout=DEADLINE)
    assert (follower.returncode, out) == (0, "second\n"), err
    assert "(running)" in err.splitlines()[0]
    assert err.splitlines()[-1] == "agentd: p/t ended: failed, exit status 7"
    assert sweep.wait(timeout=DEADLINE) == 1


def test_ctrl_c_ends_a_follower_quietly_with_130(
    ws: Workspace, reap: list[subprocess.Popen[str]]
) -> None:
    sweep, go = _follow_setup(ws)
    reap.append(sweep)
    follower = ws.spawn("log", "--follow", "p")
    reap.append(follower)
    assert _line(follower) == "first\n"
    follower.send_signal(signal.SIGINT)
    _, err = follower.communicate(timeout=DEADLINE)
    assert follower.returncode == 130
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err
    go.touch()
    assert sweep.wait(timeout=DEADLINE) == 0


def test_report_has_absolute_logs_and_the_argv_with_secrets_masked(ws: Workspace) -> None:
    secret = "s3cr3t-token-value"
    write_config(
        ws,
        {
            "agent": ask("fake-claude", f"use {secret} on {{project}}"),
            "shell": sh("echo no; exit 1"),
        },
        [proj("p", "agent", "shell", env={"DEMO_TOKEN": secret, "FAKE_AGENT_SLEEP": "0"})],
        agents={"fake-claude": cmd("fake-claude", "-p", "{prompt}", "--output-format", "json")},
    )
    code, report = ws.once_json()
    assert code == 1
    run_dir = _run_dir(ws, report)
    assert report["run_dir"] == str(run_dir)
    agent, shell = report["projects"][0]["tasks"]
    assert agent["argv"] == ["fake-claude", "-p", "use ******** on p", "--output-format", "json"]
    assert shell["argv"] == ["/bin/sh", "-c", "echo no; exit 1"]
    assert agent["log_path"] == str(run_dir / "p" / "agent.log")
    assert agent["log"] == "p/agent.log"  # the relative path stays as it was
    md = (run_dir / "report.md").read_text()
    assert secret not in md
    assert secret not in (run_dir / "report.json").read_text()
    assert f"- run directory: `{run_dir}`" in md
    assert "   - command: `/bin/sh -c 'echo no; exit 1'`" in md
    assert f"   - log: `{run_dir / 'p' / 'shell.log'}`" in md
    status = ws.run("status", "--config", str(ws.config))
    assert f"run directory {run_dir}\n" in status.stdout
    assert f"failed p/shell: {run_dir / 'p' / 'shell.log'}\n" in status.stdout
    last = json.loads(ws.run("status", "--json", "--config", str(ws.config)).stdout)["last_sweep"]
    assert last["failed_logs"] == [
        {"project": "p", "task": "shell", "log": str(run_dir / "p" / "shell.log")}
    ]


def test_report_md_shortens_a_long_command() -> None:
    from agentd.daemon.output.report import COMMAND_CHARS, command_text

    argv = ["agent", "-p", "word " * 500 + "\nsecond line"]
    text = command_text(argv)
    assert len(text) == COMMAND_CHARS
    assert text.endswith("…")
    assert "\n" not in command_text(["a", "x\ny"])


def test_a_project_that_ran_nothing_in_the_run_says_why(ws: Workspace) -> None:
    write_config(
        ws,
        {"t": sh("exit 1")},
        [proj("a", "t"), proj("b", "t", depends_on=["a"])],
    )
    code, report = ws.once_json()
    assert code == 1
    proc = ws.run("log", "--run", report["run_id"], "b")
    assert proc.returncode == 2
    assert f"project b ran no task in run {report['run_id']}: dependency failed: a" in (proc.stderr)
