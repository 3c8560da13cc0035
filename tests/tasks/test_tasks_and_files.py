"""What a task process receives, and what agentd leaves on disk."""

from __future__ import annotations

import json
import os
import stat

import pytest

from agentd.config.secrets import MASK
from tests.builders import ask, cmd, proj, recording, write_config
from tests.helpers import Workspace

HOSTILE = """"; rm -rf x; $(id) `id` 'quoted' {run_id}"""


def _log(ws: Workspace, report: dict, project: str, task: str) -> str:
    return (ws.state / "runs" / report["run_id"] / project / f"{task}.log").read_text()


def test_placeholders_are_substituted_without_a_shell(ws: Workspace) -> None:
    ws.project_dirs("p q")
    (ws.root / "p q" / "x").mkdir()
    write_config(
        ws,
        {
            "args": cmd(
                "argv-json", "{project}", "--dir={project_dir}", "{run_id}/{date}", "{prompt}"
            ),
            "agent": ask("fake-claude", f"{HOSTILE} for {{project}}"),
        },
        [proj("p q", "args", "agent", env={"FAKE_AGENT_SLEEP": "0"})],
        agents={"fake-claude": cmd("fake-claude", "-p", "{prompt}", "--output-format", "json")},
    )
    code, report = ws.once_json()
    assert code == 0, report["failures"]
    seen = json.loads(_log(ws, report, "p q", "args"))
    project_dir = str(ws.root / "p q")
    assert seen["argv"] == [
        "p q",
        f"--dir={project_dir}",
        f"{report['run_id']}/{report['date']}",
        "{prompt}",  # only agent templates have a prompt to substitute
    ]
    result = json.loads(_log(ws, report, "p q", "agent"))
    # The agent got the prompt as one argument, quotes and $(...) intact; a placeholder
    # inside the substituted value was not expanded a second time... except that the
    # prompt template itself names {run_id}, which is substituted once.
    expected = HOSTILE.replace("{run_id}", report["run_id"]) + " for p q"
    assert result["result"] == f"Looked into: {expected!r}. No flaky test found in p q."
    assert (ws.root / "p q" / "x").is_dir()  # nothing ran `rm -rf x`
    assert result["type"] == "result"


def test_task_environment(ws: Workspace) -> None:
    write_config(
        ws,
        {"show": cmd("argv-json")},
        [proj("p", "show", env={"DEMO_TOKEN": "s3cret", "DEMO_PLAIN": "visible"})],
    )
    ws.env |= {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}
    proc = ws.once("--json", "--log-level", "debug")
    assert proc.returncode == 0
    report = json.loads(proc.stdout)
    assert "task.start" in proc.stderr  # the debug log was on ...
    assert "s3cret" not in proc.stderr  # ... and still never showed the secret
    seen = json.loads(_log(ws, report, "p", "show"))
    assert seen["notify_socket"] is None
    assert seen["watchdog"] == [None, None]
    assert seen["cwd"] == str(ws.root / "p")
    assert seen["env"]["DEMO_TOKEN"] == "s3cret"
    assert seen["env"]["DEMO_PLAIN"] == "visible"
    assert seen["env"]["AGENTD_RUN_ID"] == report["run_id"]
    assert seen["env"]["AGENTD_PROJECT"] == "p"
    assert seen["env"]["AGENTD_TASK"] == "show"
    assert seen["env"]["AGENTD_PROJECT_DIR"] == str(ws.root / "p")
    # The secret reached the task, and nothing agentd printed or wrote elsewhere.
    everything = json.dumps(report) + (ws.state / "state.json").read_text()
    assert "s3cret" not in everything
    shown = ws.run("config", "show", "--config", str(ws.config))
    assert "s3cret" not in shown.stdout
    assert 'DEMO_TOKEN = "********"' in shown.stdout
    assert 'DEMO_PLAIN = "visible"' in shown.stdout


def test_state_and_logs_are_private_even_under_a_permissive_umask(ws: Workspace) -> None:
    write_config(ws, {"t": recording("t")}, [proj("p", "t")])
    proc = ws.once("--json", preexec_fn=lambda: os.umask(0))
    assert proc.returncode == 0
    report = json.loads(proc.stdout)
    run_dir = ws.state / "runs" / report["run_id"]
    for path in (ws.state, ws.state / "runs", run_dir, run_dir / "p"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in (
        ws.state / "state.json",
        ws.state / "state.json.lock",
        run_dir / "report.json",
        run_dir / "report.md",
        run_dir / "p" / "t.log",
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert json.loads((ws.state / "state.json").read_text())["version"] == 2


def test_corrupt_state_file_exits_2_and_stays_byte_for_byte(ws: Workspace) -> None:
    write_config(ws, {"t": recording("t")}, [proj("p", "t")])
    ws.state.mkdir(mode=0o700)
    for garbage in (b'{"version": 1, "projects": {', b"", b"\x00\xffnot json", b'{"projects": {}}'):
        (ws.state / "state.json").write_bytes(garbage)
        for args in ((), ("--dry-run",), ("--force",)):
            proc = ws.once(*args)
            assert proc.returncode == 2, (garbage, args, proc.stderr)
            assert str(ws.state / "state.json") in proc.stderr
            assert (ws.state / "state.json").read_bytes() == garbage
        assert not ws.records.exists()
        assert not (ws.state / "runs").exists()


def test_state_written_by_a_newer_agentd_is_refused(ws: Workspace) -> None:
    write_config(ws, {"t": cmd("true")}, [proj("p", "t")])
    ws.state.mkdir(mode=0o700)
    newer = b'{"version": 99, "projects": {}, "claims": {}, "runs": []}'
    (ws.state / "state.json").write_bytes(newer)
    proc = ws.once()
    assert proc.returncode == 2
    assert "newer agentd" in proc.stderr
    assert (ws.state / "state.json").read_bytes() == newer


def test_dry_run_prints_the_plan_and_writes_nothing(ws: Workspace) -> None:
    ws.project_dirs("a", "b", "c")
    write_config(
        ws,
        {"t": recording()},
        [
            proj("b", "t", depends_on=["a"]),
            proj("a", "t"),
            proj("c", "t", enabled=False),
            proj("gone", "t", path="nowhere"),
        ],
        dirs=False,
        run={"project_parallelism": True, "max_parallel_projects": 2},
    )
    proc = ws.once("--dry-run")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "parallel, at most 2 projects at once" in out
    assert out.index("  1. a") < out.index("  2. b")
    assert "(after a)" in out
    assert "  c  disabled" in out
    assert "gone" in out
    assert "does not exist" in out
    assert not ws.state.exists()
    assert not ws.records.exists()
    code, plan = ws.once_json("--dry-run")
    assert code == 0
    assert [p["name"] for p in plan["to_run"]] == ["a", "b"]
    assert plan["skipped"] == {"c": "disabled"}


def test_only_the_named_projects_run(ws: Workspace) -> None:
    write_config(ws, {"t": recording()}, [proj(n, "t") for n in "abc"])
    code, report = ws.once_json("--project", "a", "--project", "c")
    assert code == 0
    assert sorted(ws.intervals()) == ["a", "c"]
    assert [p["name"] for p in report["projects"]] == ["a", "c"]
    assert report["selected"] == ["a", "c"]
    proc = ws.once("--project", "zzz")
    assert proc.returncode == 2
    assert "unknown project: zzz" in proc.stderr


def test_max_projects_keeps_the_least_recently_completed(ws: Workspace) -> None:
    names = ["a", "b", "c", "d"]
    write_config(ws, {"t": recording()}, [proj(n, "t") for n in names], run={"max_projects": 2})
    code, first = ws.once_json("--force")
    assert code == 0
    assert sorted(ws.intervals()) == ["a", "b"]
    reasons = {p["name"]: p["reason"] for p in first["projects"] if p["status"] == "skipped"}
    assert reasons == {"c": "max_projects = 2 reached", "d": "max_projects = 2 reached"}
    ws.records.unlink()
    code, _ = ws.once_json("--force")
    assert sorted(ws.intervals()) == ["c", "d"]  # never completed before, so first in line


def test_global_options_work_before_and_after_the_command(ws: Workspace) -> None:
    write_config(ws, {"t": cmd("true")}, [proj("p", "t")])
    before = ws.run(
        "--config", str(ws.config), "--log-level", "error", "run", "--once", "--dry-run"
    )
    after = ws.run("run", "--once", "--dry-run", "--config", str(ws.config), "--log-level", "error")
    assert before.returncode == after.returncode == 0
    assert before.stdout == after.stdout
    version = ws.run("config", "check", "--version")
    assert version.stdout.startswith("agentd ")
    for command in (["run"], ["report"], ["config", "show"], ["config", "init"]):
        helped = ws.run(*command, "--help")
        assert helped.returncode == 0
        assert "--config" in helped.stdout


def test_tasks_start_with_no_signal_blocked(ws: Workspace) -> None:
    """A blocked SIGTERM would turn every graceful stop into a SIGKILL after kill_grace."""
    write_config(ws, {"mask": cmd("grep", "^SigBlk", "/proc/self/status")}, [proj("p", "mask")])
    code, report = ws.once_json()
    assert code == 0
    assert report["projects"][0]["tasks"][0]["output_tail"] == "SigBlk:\t0000000000000000"


# The task prints its token and then just enough output that the report's 4 KiB window
# (runner.read_end) begins CUT bytes before the token's end. The rest is four-byte
# characters, so those 4 KiB are about 1,000 characters on one line: well under the
# 2,000 characters and 20 lines the tail keeps (runner.trim_tail), so the cut token would
# show in the report if it were not masked.
EMIT = """
import os, sys
cut = int(sys.argv[1])
rest = 4096 - cut
filler = "\\U0001F600" * (rest // 4) + "x" * (rest % 4)
sys.stdout.buffer.write(os.environ["API_TOKEN"].encode() + filler.encode())
"""


@pytest.mark.parametrize("cut", [4, 17, 39])
def test_a_secret_cut_by_the_tail_window_is_masked_too(ws: Workspace, cut: int) -> None:
    ws.project_dirs("p")
    token = "tok-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    (ws.root / "emit.py").write_text(EMIT)
    write_config(
        ws,
        {"t": cmd("python3", ws.root / "emit.py", cut)},
        [proj("p", "t", env={"API_TOKEN": token})],
    )
    code, report = ws.once_json()
    assert code == 0, report
    log = _log(ws, report, "p", "t").encode()
    assert log.startswith(token.encode())
    assert len(log) == len(token) + 4096 - cut
    rest = log[len(token) :].decode()
    assert len(rest) + cut < 2000  # the window's text fits the tail whole
    tail = report["projects"][0]["tasks"][0]["output_tail"]
    shown = [n for n in range(4, len(token)) if token[-n:] in tail]
    assert not shown, f"the report shows the token's last {max(shown)} characters"
    # The window began `cut` characters before the token's end: that fragment is masked,
    # and the rest of the line is kept.
    assert tail == MASK + rest


def test_a_substituted_value_is_never_expanded_again(ws: Workspace) -> None:
    """One pass: a project named like a placeholder reaches the program as its name."""
    write_config(
        ws,
        {"args": cmd("argv-json", "{project}", "{project_dir}")},
        [proj("x{date}", "args", path="{run_id}")],
    )
    code, report = ws.once_json()
    assert code == 0, report["failures"]
    seen = json.loads(_log(ws, report, "x{date}", "args"))
    assert seen["argv"] == ["x{date}", str(ws.root / "{run_id}")]
