"""The edges a real server meets: closed and broken output, early signals, no home, long
and hostile names, huge arguments, odd project paths, a used state directory without its
state, foreign or open state directories, escape sequences in output. Each must end in a
clear message and the right exit status, never a traceback, and never a silent reset."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import ask, cmd, one_project, proj, recording, sh, write_config
from tests.helpers import AGENTD, Workspace, wait_for
from tests.service.fastfires import EVERY_2S

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
NOBODY = 54321  # a uid with no passwd entry


# -- output that goes nowhere -------------------------------------------------------------


def test_a_sweep_with_stdout_closed_runs_and_writes_no_output_into_its_files(
    ws: Workspace,
) -> None:
    one_project(ws)
    proc = subprocess.run(
        ["sh", "-c", f'exec "{AGENTD}" run --once --config "{ws.config}" >&-'],
        cwd=ws.root,
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert ws.intervals().keys() == {"p"}
    # fd 1 was free: had a state or lock file taken it, the summary would be in there.
    for path in ws.state.rglob("*"):
        if path.is_file():
            assert not re.search(rb"sweep \S+: ok in", path.read_bytes()), path


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_reader_that_leaves_does_not_change_the_exit_status(
    ws: Workspace, json_flag: list[str]
) -> None:
    """`agentd run --once | head -c 10`: a failed task is still exit 1, not 0."""
    one_project(ws, recording("{project}", 0, 1))
    proc = subprocess.Popen(
        [AGENTD, "run", "--once", "--config", str(ws.config), *json_flag],
        cwd=ws.root,
        env=ws.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before agentd prints a byte
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert b"Traceback" not in err
    assert b"Exception ignored" not in err


def test_report_into_a_closed_pipe_is_quiet(ws: Workspace) -> None:
    one_project(ws)
    ws.once()
    proc = subprocess.Popen(
        [AGENTD, "report", "--config", str(ws.config)],
        cwd=ws.root,
        env=ws.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert err == b""


def _before_agentd(err: str) -> bool:
    """A KeyboardInterrupt whose every frame is the interpreter's import machinery, the
    console script, or the loading of the entry module, before its first line ran."""
    frames = re.findall(r'File "([^"]+)"', err)
    start_up = ("<frozen ", "/bin/agentd", "daemon/__init__.py", "daemon/cli/entry.py")
    return err.rstrip().endswith("KeyboardInterrupt") and all(
        f.startswith(start_up) or f.endswith(start_up) for f in frames
    )


def test_sigint_at_any_moment_of_start_up_is_never_a_traceback(ws: Workspace) -> None:
    one_project(ws, recording("{project}", 5))
    outcomes: list[int | str] = []
    for i in range(24):
        proc = subprocess.Popen(
            [AGENTD, "run", "--once", "--config", str(ws.config)],
            cwd=ws.root,
            env=ws.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.025 * i)  # the moment under test, 0 to 575 ms into start-up
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if "init_import_site" in err or _before_agentd(err):
            # The interpreter's own start-up (site and .pth files, and the console script's
            # import of the entry module), before agentd's first line: Python reports it
            # its way (a known limit, RELIABILITY.md).
            outcomes.append("python")
            continue
        assert "Traceback" not in err, err
        assert "KeyboardInterrupt" not in err, err
        # Killed by the signal before anything started, or stopped in order after.
        assert proc.returncode in (-signal.SIGINT, 130), (proc.returncode, err)
        outcomes.append(proc.returncode)
    # The early window of agentd's own was really hit (how many tries land in Python's own
    # start-up depends on the machine's load).
    assert -signal.SIGINT in outcomes, outcomes


def test_grammar_of_once_only_options(ws: Workspace) -> None:
    one_project(ws)
    one = ws.run("run", "--dry-run", "--config", str(ws.config))
    assert one.returncode == 2
    assert "agentd: --dry-run only works with --once" in one.stderr
    two = ws.run("run", "--dry-run", "--force", "--json", "--config", str(ws.config))
    assert "agentd: --dry-run, --force and --json only work with --once" in two.stderr


# -- no home, no passwd entry -------------------------------------------------------------


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another uid can use (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="agentd-edges-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _as_nobody(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", AGENTD, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@ROOT_ONLY
def test_no_home_and_no_passwd_entry_give_clear_errors(ws: Workspace, shared_dir: Path) -> None:
    env = {k: v for k, v in ws.env.items() if k not in ("HOME", "XDG_CONFIG_HOME")}
    env.pop("XDG_STATE_HOME", None)
    env.pop("AGENTD_STATE_DIR", None)
    no_file = _as_nobody(["config", "check"], shared_dir, env)
    assert no_file.returncode == 2
    assert "Traceback" not in no_file.stderr
    assert "cannot find the configuration file: cannot expand '~'" in no_file.stderr
    assert f"user id {NOBODY} has no entry in the password database" in no_file.stderr
    assert "--config PATH" in no_file.stderr

    config = shared_dir / "config.toml"
    config.write_text(
        '[tasks.t]\ncommand = ["true"]\n[[projects]]\nname = "p"\npath = "~/src/p"\ntasks = ["t"]\n'
    )
    config.chmod(0o644)
    tilde = _as_nobody(["config", "check", "--config", str(config)], shared_dir, env)
    assert tilde.returncode == 2
    assert "projects[p].path: cannot expand '~' in '~/src/p'" in tilde.stderr

    config.write_text('[tasks.t]\ncommand = ["true"]\n')
    status = _as_nobody(["status", "--config", str(config)], shared_dir, env)
    assert status.returncode == 2
    assert "cannot find the state directory: cannot expand '~'" in status.stderr
    assert "Traceback" not in status.stderr


@ROOT_ONLY
def test_a_project_directory_that_cannot_be_entered_says_so(
    ws: Workspace, shared_dir: Path
) -> None:
    (shared_dir / "locked").mkdir(mode=0o700)  # root's, closed to the uid running agentd
    config = shared_dir / "config.toml"
    config.write_text(
        '[tasks.t]\nshell = "true"\n[[projects]]\nname = "p"\npath = "locked"\ntasks = ["t"]\n'
    )
    config.chmod(0o644)
    env = dict(ws.env, HOME=str(shared_dir), AGENTD_STATE_DIR=str(shared_dir / "state"))
    proc = _as_nobody(["run", "--once", "--json", "--config", str(config)], shared_dir, env)
    assert proc.returncode == 1, proc.stderr
    failure = json.loads(proc.stdout)["failures"][0]
    assert failure["message"] == (
        f"project directory {shared_dir / 'locked'} cannot be entered: permission denied"
    )


def test_a_directory_gone_unenterable_after_selection_is_named_as_such(tmp_path: Path) -> None:
    """Between the selection's check and the task's start: the child's chdir fails, and
    the reason names the directory, not the program (it was never tried)."""
    from agentd.daemon.tasks.runner import Command, _start_failure

    command = Command(["/bin/sh", "-c", "true"], tmp_path, {}, tmp_path / "t.log", 1.0, 1.0)
    denied = PermissionError(13, "Permission denied", str(tmp_path))
    assert _start_failure(denied, command) == (
        f"cannot enter the project directory {tmp_path}: Permission denied"
    )
    gone = FileNotFoundError(2, "No such file or directory", str(tmp_path))
    assert _start_failure(gone, command) == f"project directory {tmp_path} does not exist"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: os.symlink("p", d / "p"), "is a loop of symbolic links"),
        (
            lambda d: os.symlink("nowhere", d / "p"),
            "is a symbolic link to nowhere, which does not exist",
        ),
        (lambda d: (d / "p").write_text(""), "is not a directory"),
    ],
    ids=["symlink loop", "dangling symlink", "a file"],
)
def test_odd_project_paths_are_named_for_what_they_are(
    ws: Workspace, make: object, words: str
) -> None:
    write_config(ws, {"t": sh("true")}, [proj("p", "t")], dirs=False)
    make(ws.root)  # type: ignore[operator]
    code, report = ws.once_json()
    assert code == 1
    assert words in report["failures"][0]["message"]


def test_arguments_and_environment_past_the_kernels_limit_fail_the_task_alone(
    ws: Workspace,
) -> None:
    """Each value fits the kernel's limit for one string, together they pass its limit for
    all of them (ARG_MAX): the task fails with that reason, the sweep goes on."""
    env = {f"V{i}": "v" * 120_000 for i in range(40)}  # 4.8 MB
    write_config(ws, {"t": recording()}, [proj("big", "t", env=env), proj("small", "t")])
    code, report = ws.once_json()
    assert code == 1
    big = report["projects"][0]["tasks"][0]
    assert big["status"] == "error"
    assert "and environment (" in big["reason"]
    assert "are more than the kernel passes to a program" in big["reason"]
    assert report["projects"][1]["status"] == "ok"


def test_a_byte_order_mark_is_accepted(ws: Workspace) -> None:
    one_project(ws)
    ws.config.write_bytes(b"\xef\xbb\xbf" + ws.config.read_bytes())
    proc = ws.run("config", "check", "--config", str(ws.config))
    assert proc.returncode == 0, proc.stderr


# -- the state directory ------------------------------------------------------------------


def test_a_used_state_directory_without_its_state_is_refused(ws: Workspace) -> None:
    one_project(ws)
    assert ws.once().returncode == 0
    (ws.state / "state.json").unlink()
    for args in (["status"], ["run", "--once"], ["run", "--once", "--dry-run"]):
        proc = ws.run(*args, "--config", str(ws.config))
        assert proc.returncode == 2, (args, proc.stderr)
        assert "state.json is missing, but" in proc.stderr
        assert "has been used (it holds state.journal and reports in runs/)" in proc.stderr
        assert "move" in proc.stderr
    assert len(ws.read_records()) == 2  # the first sweep's task only: nothing re-ran
    (ws.state / "state.journal").unlink()  # the reports alone still say it was used
    assert "reports in runs/" in ws.run("status", "--config", str(ws.config)).stderr
    # Starting afresh on purpose: the directory moved aside.
    ws.state.rename(ws.root / "state.old")
    assert ws.once().returncode == 0


def test_a_symlinked_state_file_is_written_through_and_refused_when_its_disk_is_gone(
    ws: Workspace,
) -> None:
    one_project(ws)
    disk = ws.root / "other-disk"
    disk.mkdir()
    assert ws.once().returncode == 0
    (ws.state / "state.json").rename(disk / "state.json")
    (ws.state / "state.json").symlink_to(disk / "state.json")
    code, _ = ws.once_json("--force")
    assert code == 0
    assert (ws.state / "state.json").is_symlink()  # kept, never replaced by a new file
    assert json.loads((disk / "state.json").read_text())["projects"]["p"]
    (disk / "state.json").rename(disk / "elsewhere.json")  # "unmounted"
    proc = ws.once()
    assert proc.returncode == 2
    assert f"is a symbolic link to {disk / 'state.json'}, which does not exist" in proc.stderr
    assert (ws.state / "state.json").is_symlink()


@ROOT_ONLY
def test_a_state_directory_of_another_user_is_refused(ws: Workspace) -> None:
    one_project(ws)
    ws.state.mkdir(mode=0o700)
    os.chown(ws.state, NOBODY, NOBODY)
    proc = ws.once()
    assert proc.returncode == 2
    assert f"cannot use state directory {ws.state}: {ws.state} belongs to uid {NOBODY}" in (
        proc.stderr
    )
    assert not ws.read_records()
    assert list(ws.state.iterdir()) == []


def test_an_open_state_directory_is_closed_with_a_warning(ws: Workspace) -> None:
    one_project(ws)
    ws.state.mkdir()
    ws.state.chmod(0o777)
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(ws.state.stat().st_mode) == 0o700
    warning = next(
        json.loads(line)
        for line in proc.stderr.splitlines()
        if "state_dir.permissions_changed" in line
    )
    assert (warning["was"], warning["now"]) == ("0777", "0700")


# -- what reaches a terminal --------------------------------------------------------------

HOSTILE = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\u202eevil\rhidden"


def test_escape_sequences_in_task_output_never_reach_a_terminal(ws: Workspace) -> None:
    ws.project_dirs("p")
    script = ws.root / "hostile.py"
    script.write_text(f"import sys\nprint({HOSTILE!r})\nsys.exit(3)\n")
    write_config(ws, {"t": cmd("python3", script)}, [proj("p", "t")])
    proc = ws.once()
    assert proc.returncode == 1
    report = ws.run("report", "--config", str(ws.config))
    assert report.returncode == 0
    markdown = next(ws.state.glob("runs/*/report.md")).read_text()
    for shown in (proc.stdout, report.stdout, markdown):
        assert "\x1b" not in shown
        assert "\u202e" not in shown
        assert "\x07" not in shown
    assert "\\x1b]0;owned\\x07\\x1b[2J" in report.stdout  # shown, made harmless
    assert "\\u202eevil" in report.stdout  # the carriage return became a line break
    log = next(ws.state.glob("runs/*/p/t.log")).read_bytes().decode()
    assert HOSTILE in log  # the log keeps the bytes as they were


# -- counting -----------------------------------------------------------------------------


def test_an_agent_that_never_started_is_not_a_run_with_usage_unknown(ws: Workspace) -> None:
    write_config(
        ws,
        {"ask": ask("ghost", "hello")},
        [proj("p", "ask")],
        agents={"ghost": {"command": ["no-such-agent-cli", "{prompt}"]}},
    )
    code, report = ws.once_json()
    assert code == 1
    assert report["projects"][0]["tasks"][0]["reason"] == "command not found: no-such-agent-cli"
    assert report["spend"]["sweep"] == {"usd": 0.0, "tokens": 0, "runs": 0, "unknown": 0}
    assert ws.state_doc().get("spend", {}) == {}


def test_projects_removed_from_the_config_leave_the_state_after_keep_runs_sweeps(
    ws: Workspace,
) -> None:
    names = [f"p{i}" for i in range(5)]
    ws.project_dirs(*names)

    def configure(projects: list[str]) -> None:
        write_config(
            ws,
            {"t": recording("{project}", 0, 1)},  # fails: runs each time
            [proj(n, "t") for n in projects],
            run={"keep_runs": 3},
        )

    configure(names)
    ws.once()
    assert sorted(ws.state_doc()["projects"]) == names
    configure(["p0"])
    for sweeps in (1, 2):
        ws.once()
        assert sorted(ws.state_doc()["projects"]) == names, sweeps  # kept a while
        assert ws.state_doc()["absent"] == dict.fromkeys(names[1:], sweeps)
    configure(["p0", "p1"])  # p1 is back: its count starts again
    ws.once()
    assert sorted(ws.state_doc()["projects"]) == ["p0", "p1"]
    assert ws.state_doc()["absent"] == {}


def test_status_text_counts_interrupted_work(ws: Workspace, reap: list) -> None:
    one_project(ws, recording("{project}", 30))
    proc = ws.spawn("run", "--once", "--config", str(ws.config))
    reap.append(proc)
    wait_for(ws.read_records, what="the task to start")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    text = ws.run("status", "--config", str(ws.config)).stdout
    assert "projects 0 ok, 0 failed, 1 interrupted, 0 skipped" in text
    assert "tasks 0 ok, 0 failed, 1 interrupted, 0 skipped" in text


def test_retention_never_takes_the_run_directory_of_a_live_sweep(ws: Workspace, reap: list) -> None:
    """keep_runs = 1: a second sweep prunes before it starts, and must leave the first
    one's directory, whose sweep is still running, alone (the kernel's flock says so)."""
    go = ws.root / "go"
    write_config(
        ws,
        {
            "wait": sh(f"record slow 0; while [ ! -e {go} ]; do sleep 0.05; done"),
            "quick": cmd("true"),
        },
        [proj("slow", "wait"), proj("quick", "quick")],
        run={"keep_runs": 1},
    )
    first = ws.spawn("run", "--once", "--project", "slow", "--config", str(ws.config))
    reap.append(first)
    wait_for(ws.read_records, what="the slow sweep's task to start")
    (running,) = list((ws.state / "runs").iterdir())
    second = ws.once("--project", "quick")
    assert second.returncode == 0, second.stderr
    assert running.is_dir()  # not pruned: its sweep is alive
    go.touch()
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert (running / "report.json").exists()
    # Once both are over, the next sweep prunes down to keep_runs again.
    assert ws.once("--project", "quick").returncode == 0
    assert len(list((ws.state / "runs").iterdir())) == 1


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT])
def test_a_signal_ignored_by_whoever_started_agentd_stays_ignored(ws: Workspace, sig: int) -> None:
    """`nohup agentd run --once` must survive the hangup it asked to survive, and a
    script's background job the terminal's Ctrl-C."""
    one_project(ws, recording("{project}", 2))
    proc = subprocess.Popen(
        ["sh", "-c", f'trap "" {sig.name[3:]}; exec "{AGENTD}" run --once --config "{ws.config}"'],
        cwd=ws.root,
        env=ws.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(ws.read_records, what="the task to start")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert ws.intervals().keys() == {"p"}  # the task ran to its end


FD_SCRIPT = """
import os, sys, time
from datetime import UTC
from pathlib import Path
from agentd.daemon.tasks import runner
from agentd.daemon.tasks.stop import StopToken

stop, where = StopToken(), Path(sys.argv[1])
def command(i):
    log = where / f"{i}.log"
    return runner.Command(["sh", "-c", "echo hi"], where, dict(os.environ), log, 5, 1)
runner.run_process(command("warm"), stop, UTC)
base = len(os.listdir("/proc/self/fd"))
reasons = set()
for spare in range(0, 7):  # every error path between opening the log and watching the task
    fill = []
    try:
        while True:
            fill.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
    for _ in range(spare):
        os.close(fill.pop())
    outcome = runner.run_process(command(spare), stop, UTC)
    reasons.add(outcome.status + ": " + outcome.reason.split(":")[0])
    for fd in fill:
        os.close(fd)
print(base, len(os.listdir("/proc/self/fd")), sorted(reasons))
"""


def test_no_descriptor_leaks_when_they_run_out(ws: Workspace) -> None:
    """With the descriptor table all but full, each step of starting a task can fail in
    turn: the task fails with a reason, and nothing stays open (no log, no pipe)."""
    limit = "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
    proc = subprocess.run(
        [sys.executable, "-c", limit + FD_SCRIPT, str(ws.root)],
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    base, after, reasons = proc.stdout.split(" ", 2)
    assert after == base, (base, after, reasons)
    assert "error: cannot make a pipe for its output" in reasons
    assert "ok" in reasons


def test_report_of_a_runs_directory_you_cannot_read_says_so(
    ws: Workspace, shared_dir: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    one_project(ws)
    assert ws.once().returncode == 0
    state = shared_dir / "state"
    shutil.copytree(ws.state, state)
    (state / "runs").chmod(0o700)  # root's, as a state directory of the daemon's user is
    state.chmod(0o755)
    proc = _as_nobody(["report", "--state-dir", str(state)], shared_dir, ws.env)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"cannot read {state / 'runs'}: Permission denied" in proc.stderr


def test_a_refused_reload_is_forgotten_once_a_sweep_takes_a_good_file(
    ws: Workspace, reap: list
) -> None:
    ws.project_dirs("p")
    good = (
        '[schedule]\ncron = "  *  *  * * *  "\ntimezone = "UTC"\n'  # spaces: the same schedule
        '[tasks.t]\ncommand = ["record", "{project}", "0", "1"]\n'
        '[[projects]]\nname = "p"\npath = "p"\ntasks = ["t"]\n'
    )
    ws.config.write_text(good)
    proc = subprocess.Popen(
        [*EVERY_2S, "run", "--config", str(ws.config)],
        cwd=ws.root,
        env=ws.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reap.append(proc)
    wait_for(lambda: ws.state_doc().get("daemon"), what="the daemon to be ready")
    status = json.loads(ws.run("status", "--json", "--config", str(ws.config)).stdout)
    assert "in_file" not in status["schedule"]  # spacing does not make another schedule
    ws.config.write_text("x = [")
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: ws.state_doc().get("daemon", {}).get("reload_error"), what="the refusal")
    ws.config.write_text(good)  # fixed, but no SIGHUP: the next fire takes it
    wait_for(
        lambda: "reload_error" not in ws.state_doc().get("daemon", {"reload_error": 1}),
        what="the refusal forgotten",
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def test_a_state_file_deleted_under_the_daemon_is_a_failed_run_not_a_crash(
    ws: Workspace, reap: list
) -> None:
    write_config(
        ws, {"t": recording("{project}", 0, 1)}, [proj("p", "t")], schedule={"cron": "* * * * *"}
    )
    log = ws.root / "daemon.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [*EVERY_2S, "run", "--config", str(ws.config)],
            cwd=ws.root,
            env=ws.env,
            stderr=stderr,
        )
    reap.append(proc)
    wait_for(lambda: list(ws.state.glob("runs/*/report.json")), what="a first sweep")
    (ws.state / "state.json").unlink()
    wait_for(lambda: "sweep.state_refused" in log.read_text(), what="the next fire to refuse")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    text = log.read_text()
    assert "Traceback" not in text
    assert "sweep.crashed" not in text
    refused = [
        json.loads(p.read_text())
        for p in ws.state.glob("runs/*/report.json")
        if "is missing, but" in p.read_text()
    ]
    assert refused
    assert refused[0]["status"] == "failed"
    # One run directory per refused fire, each with its report: none left empty.
    assert all((d / "report.json").exists() for d in (ws.state / "runs").iterdir())
