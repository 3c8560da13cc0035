"""``daemon.lock``: at most one ``agentd run`` daemon per state directory.

The kernel lock (flock through filelock) is what excludes a second daemon, and it dies
with its process, so a crash never leaves a stale lock behind. The file's content, the
holder's pid, is only there so the loser can say who holds it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filelock import FileLock

from agentd.state.base import StateError
from agentd.state.claims import process_gone, process_start, this_host
from agentd.state.files import ensure_state_dir, file_mode


class DaemonLocked(StateError):
    def __init__(self, path: Path, holder: dict[str, Any] | None) -> None:
        self.holder = holder
        who = f"pid {holder.get('pid')}" if holder else "another process"
        super().__init__(f"another agentd daemon ({who}) holds {path}")


def _write_holder(fd: int) -> None:
    pid = os.getpid()
    info = {
        "pid": pid,
        "pid_start": process_start(pid),
        "host": this_host(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    data = (json.dumps(info) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


class DaemonLock:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "daemon.lock"
        self._lock: FileLock | None = None

    def acquire(self) -> None:
        # Imported here: `agentd status` reads the holder without locking, faster without it.
        from filelock import FileLock, Timeout

        ensure_state_dir(self.path.parent)
        self._lock = FileLock(
            self.path,
            timeout=0,
            mode=file_mode(self.path.parent),
            preserve_lock_file=True,
            on_acquired=_write_holder,
        )
        try:
            self._lock.acquire()
        except Timeout:
            raise DaemonLocked(self.path, read_holder(self.path.parent)) from None
        except OSError as exc:  # e.g. ELOOP: a symlink planted where the lock should be
            raise StateError(f"cannot lock {self.path}: {exc.strerror or exc}") from None

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()


def read_holder(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / "daemon.lock").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def daemon_state(published: dict[str, Any] | None, directory: Path) -> dict[str, Any]:
    """Whether the daemon of ``directory`` runs: the one answer of ``agentd status`` and of
    the metrics file. ``running`` is True, False, or None for a daemon of another host (a
    shared state), whose process cannot be checked from here.

    What the daemon published in the state says it, and the holder of ``daemon.lock``
    where that names no live daemon: a daemon whose write to the state failed still holds
    its lock. The lock file keeps its last holder's pid after it exits, so that pid is
    checked like a published one."""
    holder = read_holder(directory) or {}
    info = published if isinstance(published, dict) and published else holder
    found = _state_of(info)
    if found["running"] is False and info is not holder:
        # The daemon that published has ended; a later one may hold the lock unpublished,
        # unless the holder is the one that published its stop and is on its way out.
        stopping = info.get("stopped_at") and holder.get("pid") == info.get("pid")
        if holder.get("host") == this_host() and not stopping and _gone(holder) is None:
            return {"running": True, **holder}
    return found


def stopped_state(info: dict[str, Any]) -> dict[str, Any]:
    """A daemon that published its stop: when, and on what (this host's or another's)."""
    return {
        "running": False,
        "last_pid": info.get("pid"),
        "stopped_at": info["stopped_at"],
        "note": f"stopped at {info['stopped_at']} on {info.get('stopped_by', 'request')}",
    }


def _state_of(info: dict[str, Any]) -> dict[str, Any]:
    if not info:
        return {"running": False}
    if info.get("host") not in (None, this_host()):
        return {"running": None, **info, "note": "published by another host; cannot check it"}
    if info.get("stopped_at"):
        return stopped_state(info)
    gone = _gone(info)
    if gone:
        note = "exited without a clean stop: killed or crashed (see the journal)"
        return {"running": False, "last_pid": info.get("pid"), "note": note, "why": gone}
    return {"running": True, **info}


def _gone(info: dict[str, Any]) -> str | None:
    """process_gone for a pid read from a file: anything but a number names no process."""
    pid, start = info.get("pid"), info.get("pid_start")
    number = pid if isinstance(pid, int) and not isinstance(pid, bool) else 0
    return process_gone(number, start if isinstance(start, int) else None)
