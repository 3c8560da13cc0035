"""The unit files under a real systemd (../shared/tools/with-systemd), and their static checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
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


def _deploy(work: Path) -> tuple[str, str]:
    """A copy of agentd that the systemd namespace can see, and its launcher.

    with-systemd mounts a fresh /tmp, where a checkout (and its virtualenv) may well live,
    and the unit's PrivateTmp= hides /tmp and /var/tmp from the service. So the packages,
    the test scripts and the unit go under ``work`` (in /var/lib), run by a system
    interpreter that an unprivileged account can execute too when it is the same version.
    """
    app = work / "app"
    site = Path(sysconfig.get_paths()["purelib"])
    skip = shutil.ignore_patterns(
        "__pycache__",
        "__editable__*",
        "*.pth",
        "mypy*",
        "*mypyc*",
        "pip",
        "pip-*",
        "setuptools*",
        "hypothesis*",
        "_pytest",
        "pytest*",
        "ruff*",
        "agentd*",
    )
    shutil.copytree(site, app / "site", ignore=skip)
    for package in ("daemon", "config", "state"):
        shutil.copytree(ROOT / package, app / "site" / package, ignore=skip)
    for folder in ("systemd", "tests/bin"):
        shutil.copytree(ROOT / folder, app / folder)
    shutil.copy(ROOT / "tests" / "systemd_scenario.py", app / "systemd_scenario.py")
    python = sys._base_executable  # type: ignore[attr-defined]
    system = shutil.which("python3", path="/usr/bin:/bin")
    if system:
        version = subprocess.run(
            [system, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if version == str(sys.version_info[:2]):
            python = system  # same ABI as the copied packages, and not under /root
    launcher = app / "agentd"
    launcher.write_text(f'#!/bin/sh\nPYTHONPATH={app / "site"} exec {python} -m daemon "$@"\n')
    launcher.chmod(0o755)
    for path in [work, *work.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o755 if path.is_dir() else path.stat().st_mode | 0o644)
    return python, str(launcher)


@needs_systemd
def test_the_system_unit_under_a_real_systemd() -> None:
    work = Path(tempfile.mkdtemp(prefix="agentd-systemd-test-", dir="/var/lib"))
    # The last part runs the unit as it is shipped: StateDirectory= and ConfigurationDirectory=
    # in /var/lib/agentd and /etc/agentd, for an unprivileged User=. Only where they are free.
    system_dirs = [Path("/var/lib/agentd"), Path("/etc/agentd")]
    free = not any(d.exists() for d in system_dirs)
    try:
        python, launcher = _deploy(work)
        result = subprocess.run(
            [
                str(WITH_SYSTEMD),
                python,
                str(work / "app" / "systemd_scenario.py"),
                str(work / "app"),
                launcher,
                str(work),
                "unprivileged" if free else "root-only",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "PYTHONPATH": str(work / "app" / "site")},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        for step in (
            "start waits for READY=1",
            "reload rescheduled",
            "catch-up sweep",
            "Result=success",
            "KillMode=mixed left no task behind",
            "all JSON",
            "as nobody" if free and python.startswith("/usr/") else "",
        ):
            assert step in result.stdout, result.stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if free:
            for directory in system_dirs:
                shutil.rmtree(directory, ignore_errors=True)
