"""The unit files under a real systemd (../shared/tools/with-systemd), and their static checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import AGENTD, ROOT

WITH_SYSTEMD = ROOT.parent / "shared" / "tools" / "with-systemd"
UNITS = ROOT / "systemd"

needs_systemd = pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/lib/systemd/systemd").exists() or not WITH_SYSTEMD.exists(),
    reason="needs root, Debian's systemd package and ../shared/tools/with-systemd",
)
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


@needs_systemd
def test_the_system_unit_under_a_real_systemd() -> None:
    # Not under /tmp or /var/tmp: with-systemd replaces /tmp, and the unit's PrivateTmp=
    # hides both from the service.
    work = Path(tempfile.mkdtemp(prefix="agentd-systemd-test-", dir="/var/lib"))
    try:
        result = subprocess.run(
            [
                str(WITH_SYSTEMD),
                sys.executable,
                str(ROOT / "tests" / "systemd_scenario.py"),
                str(ROOT),
                AGENTD,
                str(work),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        for step in (
            "start waits for READY=1",
            "reload rescheduled",
            "catch-up sweep",
            "Result=success",
            "all JSON",
        ):
            assert step in result.stdout, result.stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)
