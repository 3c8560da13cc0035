"""`agentd report`, `agentd config ...`, retention, and the terminal view."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
import tomllib

from agentd.state.base import STATE_VERSION
from tests.builders import proj, recording, write_config
from tests.helpers import AGENTD, Workspace


def _simple(ws: Workspace, keep: int = 30) -> None:
    write_config(
        ws,
        {"t": recording(), "bad": recording("bad", 0, 2)},
        [proj("p", "t", "bad")],
        run={"keep_runs": keep},
    )


def test_report_shows_the_latest_or_a_named_run(ws: Workspace) -> None:
    _simple(ws)
    none_yet = ws.run("report", "--config", str(ws.config))
    assert none_yet.returncode == 2
    assert "no reports yet" in none_yet.stderr
    _, first = ws.once_json()
    _, second = ws.once_json("--force")
    latest = ws.run("report", "--config", str(ws.config))
    assert latest.returncode == 0
    assert latest.stdout.startswith(f"# agentd sweep {second['run_id']}")
    assert "p / bad" in latest.stdout
    assert "exit status 2" in latest.stdout
    by_prefix = ws.run("report", first["run_id"][:-2], "--json", "--config", str(ws.config))
    assert by_prefix.returncode == 0
    assert json.loads(by_prefix.stdout) == first
    unknown = ws.run("report", "1999", "--config", str(ws.config))
    assert unknown.returncode == 2
    # With the state directory given, a broken config file does not hide the reports.
    ws.config.write_text("this is = not [valid")
    still = ws.run("report", "--state-dir", str(ws.state))
    assert still.returncode == 0
    assert second["run_id"] in still.stdout


def test_report_json_has_the_documented_shape(ws: Workspace) -> None:
    _simple(ws)
    code, report = ws.once_json()
    assert code == 1
    for key in ("run_id", "trigger", "date", "started_at", "finished_at", "status", "mode"):
        assert key in report
    assert report["trigger"] == "manual"
    assert report["started_at"][-6] in "+-"  # ISO 8601 with an offset
    task = report["projects"][0]["tasks"][1]
    for key in (
        "name",
        "status",
        "exit_code",
        "reason",
        "started_at",
        "finished_at",
        "duration_s",
        "log",
        "output_tail",
    ):
        assert key in task
    assert task["log"] == "p/bad.log"
    assert task["output_tail"] == "bad: working for 0.0s"
    assert report["failures"] == [
        {"project": "p", "task": "bad", "status": "failed", "message": "exit status 2"}
    ]
    stored = json.loads((ws.state / "runs" / report["run_id"] / "report.json").read_text())
    assert stored == report
    md = (ws.state / "runs" / report["run_id"] / "report.md").read_text()
    assert "## Failures (1)" in md


def test_keep_runs_prunes_old_run_directories_and_history(ws: Workspace) -> None:
    _simple(ws, keep=2)
    ids = [ws.once_json("--force")[1]["run_id"] for _ in range(4)]
    kept = sorted(p.name for p in (ws.state / "runs").iterdir())
    assert kept == ids[-2:]
    assert [r["run_id"] for r in ws.state_doc()["runs"]] == ids[-2:]


def test_config_show_is_the_resolved_configuration(ws: Workspace) -> None:
    _simple(ws)
    ws.env["AGENTD_RUN__MAX_PARALLEL_PROJECTS"] = "7"
    ws.env["AGENTD_RUN__PROJECT_PARALLELISM"] = "true"
    shown = ws.run("config", "show", "--config", str(ws.config))
    assert shown.returncode == 0, shown.stderr
    data = tomllib.loads(shown.stdout)
    assert data["run"]["max_parallel_projects"] == 7
    assert data["run"]["project_parallelism"] is True
    assert data["run"]["task_timeout"] == "30m"  # defaults filled in, durations as written
    assert data["paths"]["state_dir"] == str(ws.state)
    assert data["projects"][0]["path"] == str(ws.root / "p")
    assert data["schedule"]["timezone"]


def test_config_init_writes_a_valid_starter_and_never_overwrites(ws: Workspace) -> None:
    made = ws.run("config", "init")
    assert made.returncode == 0, made.stderr
    path = ws.root / "xdg-config" / "agentd" / "config.toml"
    assert path.exists()
    assert (path.stat().st_mode & 0o777) == 0o600
    check = ws.run("config", "check")  # found through $XDG_CONFIG_HOME
    assert check.returncode == 0, check.stderr
    before = path.read_bytes()
    again = ws.run("config", "init")
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert path.read_bytes() == before
    explicit = ws.run("config", "init", str(ws.root / "elsewhere.toml"))
    assert explicit.returncode == 0
    assert (ws.root / "elsewhere.toml").exists()


def test_config_lookup_order(ws: Workspace) -> None:
    def write(path: str, bound: int) -> None:
        full = ws.root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(f"[run]\nmax_parallel_projects = {bound}\n")

    def bound() -> int:
        shown = ws.run("config", "show")
        assert shown.returncode == 0, shown.stderr
        return int(tomllib.loads(shown.stdout)["run"]["max_parallel_projects"])

    write("xdg-config/agentd/config.toml", 1)
    assert bound() == 1
    write("confdir/config.toml", 2)
    ws.env["CONFIGURATION_DIRECTORY"] = str(ws.root / "confdir")
    assert bound() == 2
    write("explicit.toml", 3)
    ws.env["AGENTD_CONFIG"] = str(ws.root / "explicit.toml")
    assert bound() == 3
    write("flag.toml", 4)
    shown = ws.run("config", "show", "--config", str(ws.root / "flag.toml"))
    assert tomllib.loads(shown.stdout)["run"]["max_parallel_projects"] == 4


def test_terminal_shows_progress_and_a_summary_table(ws: Workspace) -> None:
    _simple(ws)
    # Text that looks like rich markup is printed as itself, never interpreted.
    ws.config.write_text(
        ws.config.read_text()
        + '[[projects]]\nname = "[bold]odd"\npath = "no[/]where"\ntasks = ["t"]\n'
    )
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [AGENTD, "run", "--once", "--config", str(ws.config)],
        cwd=ws.root,
        env={**ws.env, "COLUMNS": "120", "TERM": "xterm"},
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1)
        if ready:
            try:
                data = os.read(primary, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(primary)
    assert proc.wait(timeout=60) == 1
    screen = b"".join(chunks).decode(errors="replace")
    assert "\x1b[" in screen  # drawn with terminal control sequences
    for words in ("project", "status", "failed", "p/bad", "report:", "[bold]odd", "no[/]where"):
        assert words in screen


def test_status_shows_a_history_entry_without_its_run_id(ws: Workspace) -> None:
    """The state's shape check lets a run summary lack its id (a hand-edited file, an
    older writer): status shows the rest of it."""
    write_config(ws, {"t": recording()}, [proj("p", "t")])
    runs = [
        {"status": "failed", "trigger": "schedule", "counts": {"tasks_failed": 1}},
        {"status": "ok", "trigger": "manual", "counts": {"tasks_skipped": 1}},  # ran nothing
    ]
    ws.state.mkdir(parents=True, exist_ok=True)
    doc = {"version": STATE_VERSION, "projects": {}, "claims": {}, "runs": runs, "fires": {}}
    (ws.state / "state.json").write_text(json.dumps(doc))
    shown = ws.run("status", "--config", str(ws.config))
    assert shown.returncode == 0, shown.stderr
    assert "last sweep:  (no run id) (schedule) failed, " in shown.stdout
    assert "1 newer sweep ran nothing (the latest: (no run id) (manual), " in shown.stdout
    assert "run directory" not in shown.stdout
    as_json = ws.run("status", "--json", "--config", str(ws.config))
    assert as_json.returncode == 0, as_json.stderr
    last = json.loads(as_json.stdout)["last_sweep_that_ran"]
    assert (last["run_dir"], last["failed_logs"]) == (None, [])
