"""How the tests under a real systemd (../shared/tools/with-systemd) get agentd where the
namespace, the unit and other accounts can run it, and check that they leave the machine
as they found it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers import ROOT

WITH_SYSTEMD = ROOT.parent / "shared" / "tools" / "with-systemd"
SCENARIOS = ("systemd_scenario.py", "system_install_scenario.py", "systemd_tools.py")

needs_systemd = pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/lib/systemd/systemd").exists() or not WITH_SYSTEMD.exists(),
    reason="needs root, Debian's systemd package and ../shared/tools/with-systemd",
)

_SKIP = shutil.ignore_patterns(
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


def deploy(work: Path) -> tuple[str, str]:
    """A copy of agentd that the systemd namespace can see, and its launcher.

    with-systemd mounts a fresh /tmp, where a checkout (and its virtualenv) may well live,
    and the unit's PrivateTmp= hides /tmp and /var/tmp from the service. So the packages,
    the test scripts and the unit go under ``work`` (in /var/lib), run by a system
    interpreter that an unprivileged account can execute too when it is the same version,
    and compiled beforehand, since the accounts that run it may not write its bytecode.
    """
    app = work / "app"
    site = Path(sysconfig.get_paths()["purelib"])
    shutil.copytree(site, app / "site", ignore=_SKIP)
    # The installed layout: the three folders under agentd/, as the wheel maps them.
    shutil.copytree(ROOT / "agentd", app / "site" / "agentd", symlinks=False, ignore=_SKIP)
    for folder in ("systemd", "tests/bin"):
        shutil.copytree(ROOT / folder, app / folder)
    for name in SCENARIOS:
        shutil.copy(ROOT / "tests" / "service" / name, app / name)
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
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", str(app / "site")],
        check=True,
        capture_output=True,
    )
    launcher = app / "agentd"
    launcher.write_text(f'#!/bin/sh\nPYTHONPATH={app / "site"} exec {python} -m agentd "$@"\n')
    launcher.chmod(0o755)
    for path in [work, *work.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o755 if path.is_dir() else path.stat().st_mode | 0o644)
    return python, str(launcher)


def nobody_cannot_run(python: str) -> str | None:
    """Why an unprivileged account cannot run ``python`` (None: it can)."""
    probe = subprocess.run(
        ["runuser", "-u", "nobody", "--", python, "-c", "import sys"],
        capture_output=True,
        text=True,
    )
    if probe.returncode == 0:
        return None
    return f"nobody cannot run {python} ({probe.stderr.strip() or probe.returncode})"


def fingerprint(paths: tuple[str, ...]) -> dict[str, tuple[int, int, int, int] | None]:
    """What this machine has at ``paths``: the tests must not change it."""
    found: dict[str, tuple[int, int, int, int] | None] = {}
    for path in paths:
        try:
            st = os.lstat(path)
            found[path] = (st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            found[path] = None
    return found


def run_scenario(work: Path, script: str, python: str, launcher: str) -> str:
    """Run ``script`` (copied into ``work/app`` by deploy) under a real, confined systemd
    (../shared/tools/with-systemd); its stdout, after asserting it succeeded."""
    result = subprocess.run(
        [
            str(WITH_SYSTEMD),
            python,
            str(work / "app" / script),
            str(work / "app"),
            launcher,
            str(work),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(work / "app" / "site")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    return result.stdout
