"""`agentd doctor` and `agentd config check --deep` on real files, real git repositories
and real PATH lookups: a healthy setup says nothing above ok, and each planted problem,
alone, is found. The one seam is systemd: a `systemctl` script first on PATH answers
`systemctl show` from files the test writes (a real systemd is tests/service's)."""

from __future__ import annotations

import json
import os
import pwd
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.builders import ask, cmd, proj, recording, sh, write_config
from tests.helpers import TEST_BIN, Workspace

FAKES = TEST_BIN / "fake-agents"
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
FAKE_SYSTEMCTL = """#!/bin/sh
# Answers `systemctl [--user] show ...` from $FAKE_SYSTEMD/system or .../user; without
# that file, as systemctl does with no manager to ask.
scope=system
for arg in "$@"; do [ "$arg" = --user ] && scope=user; done
echo "$scope $*" >> "$FAKE_SYSTEMD/calls"
[ -f "$FAKE_SYSTEMD/$scope" ] || { echo "Failed to connect to bus: No medium found" >&2; exit 1; }
cat "$FAKE_SYSTEMD/$scope"
"""
ME = pwd.getpwuid(os.geteuid()).pw_name


def make_repo(ws: Workspace, name: str) -> Path:
    """A clean repository on main, made with the workspace's (isolated) git settings."""
    path = ws.root / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "a.py").write_text("a = 1\n")
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "init")):
        subprocess.run(["git", *args], cwd=path, env=ws.env, check=True, capture_output=True)
    return path


@pytest.fixture
def dws(ws: Workspace) -> Workspace:
    """A workspace whose agentd finds the fake agents and the fake systemctl (no unit
    until a test writes one), with git isolated from the machine's configuration."""
    systemd = ws.root / "systemd"
    systemd.mkdir()
    bin_dir = ws.root / "sysbin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    home = ws.root / "home"
    home.mkdir()
    ws.env |= {
        "PATH": f"{bin_dir}:{FAKES}:{ws.env['PATH']}",
        "FAKE_SYSTEMD": str(systemd),
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CEILING_DIRECTORIES": str(ws.root),
    }
    for role in ("AUTHOR", "COMMITTER"):
        ws.env[f"GIT_{role}_NAME"] = "Test"
        ws.env[f"GIT_{role}_EMAIL"] = "test@example.com"
    return ws


def healthy(ws: Workspace, **project: Any) -> None:
    """A project in a clean repository with every kind of task, guarded both ways."""
    if not (ws.root / "p" / ".git").exists():
        make_repo(ws, "p")
    fields = {"require_clean": True, "isolation": "worktree", **project}
    write_config(
        ws,
        {"rec": recording(), "agent": ask("claude", "tidy up"), "shell": sh("true")},
        [proj("p", "rec", "agent", "shell", **fields)],
        dirs=False,
        schedule={"cron": "0 3 * * *", "timezone": "UTC"},
    )


def doctor(ws: Workspace, *args: str) -> tuple[int, list[dict[str, str]]]:
    proc = ws.run("doctor", "--json", "--config", str(ws.config), *args)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def flagged(checks: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(c["level"], c["check"], c["subject"]) for c in checks if c["level"] != "ok"]


def unit(ws: Workspace, scope: str = "system", **props: str) -> None:
    """An installed agentd.service as `systemctl show` would describe it."""
    values = {
        "LoadState": "loaded",
        "UnitFileState": "enabled",
        "ActiveState": "active",
        "FragmentPath": f"/etc/systemd/{scope}/agentd.service",
        "User": ME,
        "DynamicUser": "no",
        "Environment": f"PATH={TEST_BIN}:{FAKES}:{SYSTEMD_PATH}",
        "EnvironmentFiles": "",
        "StateDirectory": "",
        **props,
    }
    text = "".join(f"{key}={value}\n" for key, value in values.items())
    (ws.root / "systemd" / scope).write_text(text)


def test_a_unit_file_that_no_manager_answers_for_is_a_warning_not_not_installed(
    dws: Workspace,
) -> None:
    """Under sudo or su no user bus answers; "not installed" would then be wrong, and the
    program checks look at this shell's PATH, not the unit's."""
    healthy(dws)
    code, checks = doctor(dws)
    lines = {(c["check"], c["subject"]): c for c in checks}
    assert lines["unit", "agentd.service"]["level"] == "ok"
    unit = Path(dws.env["XDG_CONFIG_HOME"]) / "systemd" / "user" / "agentd.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/bin/agentd run\n")
    code, checks = doctor(dws)
    line = {(c["check"], c["subject"]): c for c in checks}["unit", "agentd.service"]
    assert (code, line["level"]) == (0, "warning")
    assert str(unit) in line["message"]
    assert "systemd did not answer" in line["message"]


def test_a_healthy_setup_is_all_ok_and_says_what_it_found(dws: Workspace) -> None:
    healthy(dws)
    code, checks = doctor(dws)
    assert (code, flagged(checks)) == (0, [])
    lines = {(c["check"], c["subject"]): c["message"] for c in checks}
    assert "not installed" in lines["unit", "agentd.service"]
    assert lines["program", "rec"] == str(TEST_BIN / "record")
    assert lines["agent", "claude"] == f"{FAKES / 'claude'}: 2.0.14 (Claude Code)"
    assert "/bin/sh" in lines["shell", "shell"]
    assert [c["message"] for c in checks if c["check"] == "git"] == [
        "require_clean: clean, on its default branch main",
        'isolation = "worktree": worktrees start from main',
    ]
    assert "03:00 UTC" in lines["schedule", "'0 3 * * *'"]
    assert "timezone" in lines["zone", "UTC"]
    assert lines["state", str(dws.state)].startswith("does not exist yet")
    # Each result is one line of the documented shape.
    assert all(set(c) == {"check", "subject", "level", "message"} for c in checks)


def test_an_existing_private_state_directory_is_checked_line_by_line(dws: Workspace) -> None:
    healthy(dws)
    dws.state.mkdir(mode=0o700)
    code, checks = doctor(dws)
    assert (code, flagged(checks)) == (0, [])
    mine = {c["check"]: c["message"] for c in checks if c["subject"] == str(dws.state)}
    assert mine["state: owner"] == f"owned by {ME}"
    assert mine["state: permissions"] == "0700: private"
    assert mine["state: writable"] == "writable"
    assert mine["state: free space"].endswith("free")


def test_the_table_is_the_default_and_a_problem_exits_1(dws: Workspace) -> None:
    healthy(dws, path="gone")
    proc = dws.run("doctor", "--config", str(dws.config))
    assert proc.returncode == 1, proc.stderr
    assert "problem" in proc.stdout
    assert "does not exist" in proc.stdout
    assert "1 problem(s)" in proc.stdout


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        pytest.param("missing-path", ("problem", "project", "p"), id="missing path"),
        pytest.param("file-path", ("problem", "project", "p"), id="path not a directory"),
        pytest.param("no-program", ("problem", "program", "rec"), id="missing program"),
        pytest.param("no-agent", ("problem", "agent", "claude"), id="missing agent CLI"),
        pytest.param("dirty", ("warning", "git", "p"), id="dirty repo, require_clean"),
        pytest.param("not-git", ("problem", "git", "p"), id="not a repo, worktree"),
        pytest.param("state-0777", ("problem", "state: permissions", None), id="state 0777"),
    ],
)
def test_each_planted_problem_is_found_alone(
    dws: Workspace, plant: str, expected: tuple[str, str, str | None]
) -> None:
    healthy(dws)
    if plant == "missing-path":
        healthy(dws, path="gone")
    elif plant == "file-path":
        (dws.root / "a-file").write_text("")
        healthy(dws, path="a-file")
    elif plant == "no-program":
        write_config(
            dws,
            {"rec": cmd("no-such-linter-xyz", "--check")},
            [proj("p", "rec", require_clean=True)],
            dirs=False,
        )
    elif plant == "no-agent":
        dws.env["PATH"] = dws.env["PATH"].replace(f"{FAKES}:", "")
    elif plant == "dirty":
        (dws.root / "p" / "a.py").write_text("a = 2\n")
    elif plant == "not-git":
        (dws.root / "plain").mkdir()
        healthy(dws, path="plain", require_clean=False)
    elif plant == "state-0777":
        dws.state.mkdir()
        dws.state.chmod(0o777)
    code, checks = doctor(dws)
    level, check, subject = expected
    assert flagged(checks) == [(level, check, subject or str(dws.state))]
    assert code == (1 if level == "problem" else 0)


def test_the_messages_say_what_is_wrong_and_where(dws: Workspace) -> None:
    (dws.root / "plain").mkdir()
    write_config(
        dws,
        {"rec": cmd("no-such-linter-xyz"), "fix": ask("codex", "x")},
        [
            proj("plain", "rec", isolation="worktree"),
            proj(
                "pinned", "fix", require_clean=True, isolation="worktree", default_branch="release"
            ),
        ],
        dirs=False,
    )
    make_repo(dws, "pinned")
    dws.state.mkdir(mode=0o777)
    dws.state.chmod(0o777)
    _, checks = doctor(dws)
    bad = {(c["check"], c["subject"]): c["message"] for c in checks if c["level"] != "ok"}
    assert "not in a git repository" in bad["git", "plain"]
    pinned = [(c["level"], c["message"]) for c in checks if c["subject"] == "pinned"][1:]
    skipped = "on branch main, not the default branch release"
    missing = f"base branch release does not exist in {dws.root / 'pinned'}"
    assert pinned == [
        ("warning", f"require_clean: skipped tonight as it is: {skipped}"),
        ("problem", f'isolation = "worktree": fails tonight: {missing}'),
    ]
    assert bad["program", "rec"].startswith("'no-such-linter-xyz' not found on the tasks' PATH (")
    assert "mode 0777" in bad["state: permissions", str(dws.state)]


def test_programs_are_looked_up_on_each_projects_own_path(dws: Workspace) -> None:
    """[run] path in front of the daemon's PATH, a project's env PATH instead of it, a
    relative program in the project's directory: the lines name the projects where the
    outcomes differ."""
    tools, own = dws.root / "tools", dws.root / "own"
    for directory, name in ((tools, "shared-tool"), (own, "own-tool")):
        directory.mkdir()
        (directory / name).write_text("#!/bin/sh\n")
        (directory / name).chmod(0o755)
    write_config(
        dws,
        {"a": cmd("shared-tool"), "b": cmd("own-tool"), "c": cmd("./check.sh")},
        [proj("x", "a", "b", "c"), proj("y", "a", "b", "c", env={"PATH": str(own)})],
        run={"path": [str(tools)]},
    )
    (dws.root / "x" / "check.sh").write_text("#!/bin/sh\n")
    (dws.root / "x" / "check.sh").chmod(0o755)
    code, checks = doctor(dws)
    lines = {(c["check"], c["subject"]): (c["level"], c["message"]) for c in checks}
    assert lines["program", "a in x"] == ("ok", str(tools / "shared-tool"))
    # The project's PATH replaces the daemon's, [run] path included, as in the task.
    assert lines["program", "a in y"][0] == "problem"
    assert lines["program", "b in y"] == ("ok", str(own / "own-tool"))
    assert lines["program", "b in x"][0] == "problem"
    # A program named by a path is found from the project's directory, PATH or not.
    assert lines["program", "c in x"] == ("ok", str(dws.root / "x" / "check.sh"))
    assert lines["program", "c in y"] == (
        "problem",
        f"'./check.sh' not found (relative to the project's directory, {dws.root / 'y'})",
    )
    assert code == 1


def test_an_agent_version_is_bounded_and_shown_harmless(dws: Workspace) -> None:
    healthy(dws)
    dws.env["FAKE_VERSION"] = "\x1b]0;pwned\x07 1.0\x1b[2J"
    proc = dws.run("doctor", "--config", str(dws.config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\x1b" not in proc.stdout
    assert "\x07" not in proc.stdout
    assert "\\x1b]0;pwned\\x07" in proc.stdout.replace("\n", "").replace("│", "")


@pytest.mark.parametrize(("status", "level"), [(127, "problem"), (1, "warning")])
def test_an_agent_that_cannot_answer_its_version(dws: Workspace, status: int, level: str) -> None:
    healthy(dws)
    dws.env |= {"FAKE_VERSION_EXIT": str(status), "FAKE_VERSION": "env: 'node': not found"}
    code, checks = doctor(dws)
    assert flagged(checks) == [(level, "agent", "claude")]
    assert f"status {status}" in next(c["message"] for c in checks if c["check"] == "agent")
    assert code == (1 if level == "problem" else 0)


def test_an_enabled_active_unit_is_ok_and_its_path_is_the_one_searched(dws: Workspace) -> None:
    healthy(dws)
    unit(dws)
    code, checks = doctor(dws)
    assert (code, flagged(checks)) == (0, [])
    calls = (dws.root / "systemd" / "calls").read_text()
    assert "system show agentd.service --property=" in calls
    # Without TEST_BIN on the unit's PATH, `record` is not found, whatever the caller's.
    unit(dws, Environment=f"PATH={FAKES}:{SYSTEMD_PATH} PYTHONUNBUFFERED=1")
    code, checks = doctor(dws)
    assert flagged(checks) == [("problem", "program", "rec")]
    assert code == 1


def test_a_unit_without_path_gets_systemds_default(dws: Workspace) -> None:
    healthy(dws)
    unit(dws, Environment="PYTHONUNBUFFERED=1")
    _, checks = doctor(dws)
    missing = {c["subject"]: c["message"] for c in checks if c["level"] == "problem"}
    assert set(missing) == {"rec", "claude"}
    assert missing["rec"].endswith(f"PATH ({SYSTEMD_PATH})")


def test_an_installed_unit_that_will_not_fire_is_a_warning(dws: Workspace) -> None:
    healthy(dws)
    unit(dws, "user", UnitFileState="disabled", ActiveState="inactive", User="")
    code, checks = doctor(dws)
    assert (code, flagged(checks)) == (0, [("warning", "unit", "agentd.service")])
    message = next(c["message"] for c in checks if c["level"] == "warning")
    assert "disabled and inactive" in message
    assert "systemctl --user enable --now agentd" in message


def test_a_unit_of_another_user_makes_the_checks_approximate(dws: Workspace) -> None:
    other = next(p.pw_name for p in pwd.getpwall() if p.pw_uid != os.geteuid())
    healthy(dws)
    unit(dws, User=other)
    _, checks = doctor(dws)
    notes = {(c["level"], c["subject"]): c["message"] for c in checks if c["check"] == "unit"}
    assert "approximate" in notes["warning", f"User={other}"]


def test_a_unit_whose_user_does_not_exist_cannot_start(dws: Workspace) -> None:
    healthy(dws)
    unit(dws, User="no-such-user-agentd")
    code, checks = doctor(dws)
    assert ("problem", "unit", "User=no-such-user-agentd") in flagged(checks)
    assert code == 1


def test_the_units_state_directory_is_the_daemons(dws: Workspace) -> None:
    """$AGENTD_STATE_DIR of the caller is not the daemon's: StateDirectory= is."""
    healthy(dws)
    unit(dws, StateDirectory="agentd")
    _, checks = doctor(dws)
    assert {c["subject"] for c in checks if c["check"] == "state"} <= {"/var/lib/agentd"}
    assert any(c["subject"] == "/var/lib/agentd" for c in checks)


def test_config_check_deep_runs_the_same_checks_after_validation(dws: Workspace) -> None:
    healthy(dws, path="gone")
    plain = dws.run("config", "check", "--config", str(dws.config))
    assert plain.returncode == 0, plain.stderr
    deep = dws.run("config", "check", "--deep", "--config", str(dws.config))
    assert deep.returncode == 1
    assert deep.stdout.startswith(plain.stdout)
    assert "does not exist" in deep.stdout[len(plain.stdout) :]


def test_a_config_that_does_not_load_exits_2(dws: Workspace) -> None:
    dws.config.write_text("[run\n")
    proc = dws.run("doctor", "--config", str(dws.config))
    assert proc.returncode == 2
    assert str(dws.config) in proc.stderr
    assert proc.stdout == ""


def test_a_shared_state_directory_is_ok(dws: Workspace) -> None:
    healthy(dws)
    dws.state.mkdir()
    dws.state.chmod(0o2770)
    assert stat.S_IMODE(dws.state.stat().st_mode) == 0o2770
    code, checks = doctor(dws)
    assert (code, flagged(checks)) == (0, [])
    perms = next(c["message"] for c in checks if c["check"] == "state: permissions")
    assert perms.startswith("2770: shared with group ")


def _settled(text: str) -> str:
    return re.sub(r"[\d.]+ ([KMGT]iB|bytes) free", "N free", text)


def test_off_a_terminal_doctor_prints_one_plain_line_per_check(dws: Workspace) -> None:
    """Piped or mailed, a box table 80 columns wide would split words: plain lines, the
    same checks as --json, each message whole on its check's line."""
    healthy(dws)
    code, checks = doctor(dws)
    proc = dws.run("doctor", "--config", str(dws.config))
    assert proc.returncode == code, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["level", "check", "subject", "message"]
    assert not [line for line in lines if set(line) & set("│┃━─┏└")]
    assert len(lines) == len(checks) + 2
    for check, line in zip(checks, lines[1:], strict=False):
        assert line.startswith(f"{check['level']}  ")
        assert f"  {check['check']}  " in line
        # Free space moves between the two runs on a shared machine: compare its shape.
        assert _settled(line).endswith(f"  {_settled(check['message'])}"), line
    assert lines[-1].endswith("problem(s)")
