"""The system install (README "System install") under a real systemd: install-system.sh
makes the account agentd, the shared state directory, the unit and /etc/agentd/config.toml;
the unit as shipped runs as agentd and finds a task's program through [run] path; a login
user of the group agentd sees the daemon's state and shares its skip guard and claims.
The scenario itself is system_install_scenario.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers import AGENTD, ROOT
from tests.service.systemd_deploy import (
    deploy,
    fingerprint,
    needs_systemd,
    nobody_cannot_run,
    run_scenario,
)

# What the scenario creates, in overlays private to with-systemd's namespace.
MACHINE = (
    "/etc/agentd",
    "/var/lib/agentd",
    "/home/agentd",
    "/home/alice",
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/var/log/lastlog",
    "/var/log/faillog",
    "/etc/systemd/system/agentd.service",
)


def _taken_names() -> list[str]:
    """The accounts the scenario creates, if this machine has them already."""
    taken = []
    for name in ("agentd", "alice"):
        for database in ("passwd", "group"):
            if subprocess.run(["getent", database, name], capture_output=True).returncode == 0:
                taken.append(f"{database} {name}")
    return taken


@needs_systemd
def test_the_system_install_under_a_real_systemd() -> None:
    taken = _taken_names()
    if taken:
        pytest.skip(f"this machine already has {', '.join(taken)}; the scenario creates them")
    work = Path(tempfile.mkdtemp(prefix="agentd-install-test-", dir="/var/lib"))
    machine = fingerprint(MACHINE)
    try:
        python, launcher = deploy(work)
        cannot = nobody_cannot_run(python)
        if cannot is not None:
            pytest.skip(f"the accounts could not run agentd: {cannot}")
        stdout = run_scenario(work, "system_install_scenario.py", python, launcher)
        assert "ok: the system install under a real systemd" in stdout, stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert fingerprint(MACHINE) == machine, "the test changed the machine's accounts or files"


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the script as root, and as nobody")
def test_the_install_script_refuses_before_it_changes_anything() -> None:
    """Its checks come first: each refusal names what to do, and nothing is made."""
    place = Path(tempfile.mkdtemp(prefix="agentd-install-script-", dir="/var/tmp"))
    machine, accounts = fingerprint(MACHINE), _taken_names()
    try:
        place.chmod(0o755)
        script = place / "install-system.sh"
        shutil.copy(ROOT / "systemd" / "install-system.sh", script)
        bare = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        cases = [
            (["runuser", "-u", "nobody", "--", str(script), "you"], bare, "run it as root: sudo "),
            ([str(script)], bare, "agentd is not on PATH: install it first"),
            ([str(script)], {**bare, "AGENTD": "agentd"}, "AGENTD must be an absolute path"),
            (
                [str(script), "no-such-user-of-agentd-tests"],
                {**bare, "AGENTD": AGENTD},
                "no such user: no-such-user-of-agentd-tests",
            ),
        ]
        for argv, env, message in cases:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True)
            assert proc.returncode == 1, (argv, proc.stdout, proc.stderr)
            assert message in proc.stderr, (message, proc.stderr)
            assert proc.stdout == "", proc.stdout
    finally:
        shutil.rmtree(place)
    assert (fingerprint(MACHINE), _taken_names()) == (machine, accounts)
