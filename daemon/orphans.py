"""Task groups left running by an agentd that was killed outright.

SIGKILL gives agentd no chance to stop its tasks: they run on, reparented to init (or to
systemd, whose ``KillMode=mixed`` collects them when the unit stops). So next to each
task's log, a ``<task>.pid`` file names its process group while it runs. A later sweep
that takes over the dead sweep's claim stops those groups before it starts the project
again, so a task never runs twice at once in one repository.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

from state.claims import process_start
from state.files import open_private

POLL = 0.05  # the group is not our child: its end can only be noticed by asking


def note(path: Path, pgid: int) -> None:
    """Record a running task group; cheap (no fsync: after a crash of the machine itself,
    no task survives either)."""
    with contextlib.suppress(OSError):
        fd = open_private(path)
        try:
            os.write(fd, f"{pgid} {process_start(pgid) or 0}\n".encode())
        finally:
            os.close(fd)


def forget(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def stop_orphans(directory: Path, grace: float, log: Any) -> list[int]:
    """Stop every task group recorded under ``directory`` (a dead sweep's project run
    directory) that still runs; returns the process group ids stopped."""
    stopped = []
    for path in sorted(directory.glob("*.pid")) if directory.is_dir() else []:
        try:
            pgid_text, start_text = path.read_text().split()
            pgid, start = int(pgid_text), int(start_text)
        except (OSError, ValueError):
            continue
        if _alive(pgid, start):
            log.warning("orphan.stopping", pgid=pgid, task=path.stem, kill_grace=grace)
            _stop_group(pgid, grace)
            stopped.append(pgid)
        forget(path)
    return stopped


def _alive(pgid: int, start: int) -> bool:
    """Whether process group ``pgid`` still has members and is still the one recorded.

    While any member of a group lives, the kernel does not hand its id out as a new pid, so
    a process that now holds that pid with another start time means our group is gone.
    """
    current = process_start(pgid)
    if current is not None and start and current != start:
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop_group(pgid: int, grace: float) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(POLL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
