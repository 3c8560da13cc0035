"""What the scenarios run inside ../shared/tools/with-systemd share: commands that fail
with the unit's journal, systemd's view of the unit, and waits with a deadline.

Copied next to the scenarios (tests/service/systemd_deploy.py) and imported from there,
by the system interpreter the scenarios run with, not as part of the test package.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any


def journal(lines: int = 60) -> str:
    return subprocess.run(
        ["journalctl", "-u", "agentd", "--no-pager", "-n", str(lines)],
        capture_output=True,
        text=True,
    ).stdout


def sh(*args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    if check and proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr}{proc.stdout}\n{journal()}"
        )
    return proc.stdout.strip()


def show(prop: str) -> str:
    return sh("systemctl", "show", "agentd", "-p", prop, "--value")


def wait_for(what: str, predicate: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}\n{journal(40)}")


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] in "ZX"
