"""What agentd runs and writes, reviewed as an attacker would poke at it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.builders import cmd, one_project, proj, recording, write_config
from tests.helpers import Workspace, wait_for
from tests.service.fastfires import EVERY_2S

STATE = json.dumps({"version": 1, "projects": {}, "claims": {}, "runs": [], "fires": {}})


def test_no_shell_unless_asked(ws: Workspace) -> None:
    one_project(ws, cmd("echo", "$(touch pwned)", ";", "touch", "pwned2", "`touch pwned3`"))
    code, report = ws.once_json()
    assert code == 0
    assert not list((ws.root / "p").iterdir())
    assert (
        report["projects"][0]["tasks"][0]["output_tail"]
        == "$(touch pwned) ; touch pwned2 `touch pwned3`"
    )


def test_secrets_stay_out_of_validation_errors(ws: Workspace) -> None:
    write_config(
        ws,
        {"t": cmd("true")},
        [proj("p", "t", env={"API_TOKEN": ["s3cr3t-value"], "PLAIN": ["visible-value"]})],
        dirs=False,
    )
    proc = ws.run("config", "check", "--config", str(ws.config))
    assert proc.returncode == 2
    assert "projects[p].env.API_TOKEN" in proc.stderr
    assert "s3cr3t-value" not in proc.stderr
    assert "visible-value" in proc.stderr  # only secret-looking keys are masked


def test_a_symlinked_report_is_replaced_not_written_through(ws: Workspace) -> None:
    """state.json may be a link the operator made (test_edges); a report never is."""
    one_project(ws, recording("t"))
    code, first = ws.once_json()
    assert code == 0
    victim = ws.root / "victim.md"
    victim.write_text(STATE)
    run_dir = ws.state / "runs" / first["run_id"]
    (run_dir / "report.md").unlink()
    (run_dir / "report.md").symlink_to(victim)
    from agentd.daemon.output.report import write_document

    write_document(run_dir, first)
    assert victim.read_text() == STATE
    assert not (run_dir / "report.md").is_symlink()


@pytest.mark.parametrize("name", ["state.json.lock", "daemon.lock"])
def test_symlinked_lock_files_are_refused(ws: Workspace, name: str) -> None:
    one_project(ws, recording("t"))
    victim = ws.root / "victim"
    victim.write_text("precious\n")
    ws.state.mkdir(mode=0o700)
    (ws.state / name).symlink_to(victim)
    proc = ws.once() if name == "state.json.lock" else ws.run("run", "--config", str(ws.config))
    assert proc.returncode in (1, 2), proc.stderr
    assert "Traceback" not in proc.stderr
    assert victim.read_text() == "precious\n"
    if name == "state.json.lock":
        assert "cannot lock" in proc.stdout + proc.stderr


def test_a_symlinked_runs_directory_is_refused(ws: Workspace) -> None:
    one_project(ws, recording("t"))
    elsewhere = ws.root / "elsewhere"
    (elsewhere / "20200101T000000Z-0000").mkdir(parents=True)
    (elsewhere / "20200101T000000Z-0000" / "report.json").write_text("{}")
    ws.state.mkdir(mode=0o700)
    (ws.state / "runs").symlink_to(elsewhere)
    proc = ws.once("--json")
    assert proc.returncode == 2
    assert "is a symbolic link" in proc.stderr
    assert sorted(p.name for p in elsewhere.iterdir()) == ["20200101T000000Z-0000"]


def test_config_init_never_writes_through_a_symlink(ws: Workspace) -> None:
    victim = ws.root / "victim"
    victim.write_text("precious\n")
    link = ws.root / "config.toml"
    link.symlink_to(victim)
    proc = ws.run("config", "init", str(link))
    assert proc.returncode == 2
    assert victim.read_text() == "precious\n"
    dangling = ws.root / "dangling.toml"
    dangling.symlink_to(ws.root / "nowhere")
    proc = ws.run("config", "init", str(dangling))
    assert proc.returncode == 2
    assert not (ws.root / "nowhere").exists()


def _modes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): oct(p.stat().st_mode & 0o777) for p in root.rglob("*")}


def test_files_are_private_under_a_permissive_umask(ws: Workspace, reap: list) -> None:
    one_project(ws, recording("t"))
    # The default state directory, whose parents do not exist yet either.
    del ws.env["AGENTD_STATE_DIR"]
    state = ws.root / "xdg-state" / "agentd"
    proc = ws.once("--json", preexec_fn=lambda: os.umask(0))
    assert proc.returncode == 0
    modes = _modes(state)
    assert modes
    assert all(mode in ("0o600", "0o700") for mode in modes.values()), modes
    assert oct(state.parent.stat().st_mode & 0o777) == "0o755"  # not 0777 under umask 0
    # The daemon too, through a scheduled sweep.
    ws.config.write_text('[schedule]\ncron = "* * * * *"\n' + ws.config.read_text())
    daemon = subprocess.Popen(
        [*EVERY_2S, "run", "--config", str(ws.config)],
        cwd=ws.root,
        preexec_fn=lambda: os.umask(0),
        env=ws.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reap.append(daemon)
    wait_for(lambda: len(list((state / "runs").glob("*/report.json"))) >= 2, what="a daemon sweep")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=60) == 0
    modes = _modes(state)
    assert "daemon.lock" in modes
    assert all(mode in ("0o600", "0o700") for mode in modes.values()), modes
