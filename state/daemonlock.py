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
from agentd.state.claims import process_start, this_host
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
