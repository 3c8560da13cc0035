"""The unit files under a real systemd (../shared/tools/with-systemd), and their static checks.

The system install (the account, the shared state, the unit as shipped) is
test_system_install.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers import AGENTD, ROOT
from tests.service.systemd_deploy import deploy, fingerprint, needs_systemd, run_scenario

UNITS = ROOT / "systemd"
needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="needs systemd-analyze"
)


def _installed_copy(tmp_path: Path, name: str, placeholder: str) -> Path:
    """The unit with ExecStart= pointing at this checkout's agentd, as an operator installs it."""
    unit = tmp_path / name
    unit.write_text((UNITS / name).read_text().replace(placeholder, AGENTD))
    return unit


@needs_analyze
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    system = _installed_copy(tmp_path, "agentd.service", "/usr/local/bin/agentd")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(system)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    user = _installed_copy(tmp_path, "agentd-user.service", "%h/.local/bin/agentd")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    result = subprocess.run(
        ["systemd-analyze", "--user", "verify", str(user)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr


@needs_analyze
def test_units_have_the_options_the_daemon_relies_on() -> None:
    for name in ("agentd.service", "agentd-user.service"):
        text = (UNITS / name).read_text()
        for line in (
            "Type=notify",
            "KillMode=mixed",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=on-failure",
            "TimeoutStopSec=90s",  # above the default kill_grace of 10s
            "StateDirectory=agentd",
            "ConfigurationDirectory=agentd",
        ):
            assert f"\n{line}\n" in text, (name, line)


def test_the_system_unit_runs_as_its_account_with_a_shared_state() -> None:
    """What test_system_install.py relies on, checked where there is no systemd too."""
    lines = (UNITS / "agentd.service").read_text().splitlines()
    for line in (
        "User=agentd",
        "Group=agentd",
        "StateDirectoryMode=2770",
        "Environment=PATH=/home/agentd/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:"
        "/usr/bin:/sbin:/bin",
    ):
        assert line in lines, line
    # Its seccomp filter refuses the setgid bit that the shared state's directories carry.
    assert not [line for line in lines if line.startswith(("RestrictSUIDSGID", "DynamicUser"))]


@needs_systemd
def test_the_system_unit_under_a_real_systemd() -> None:
    """Start, reload, catch-up, stop and SIGKILL of the unit file, run as root with the
    test's own state and config directories (drop-ins)."""
    work = Path(tempfile.mkdtemp(prefix="agentd-systemd-test-", dir="/var/lib"))
    machine = fingerprint(("/etc/agentd", "/var/lib/agentd"))
    try:
        python, launcher = deploy(work)
        stdout = run_scenario(work, "systemd_scenario.py", python, launcher)
        for step in (
            "start waits for READY=1",
            "reload rescheduled",
            "catch-up sweep",
            "Result=success",
            "KillMode=mixed left no task behind",
            "all JSON",
        ):
            assert step in stdout, (step, stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert fingerprint(("/etc/agentd", "/var/lib/agentd")) == machine
