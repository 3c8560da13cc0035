"""Who is running a project, and whether that claimant is still alive.

A claim names its process (pid and the process's start time, so a recycled pid is not
mistaken for the claimant), its host, and a heartbeat that the claimant refreshes while it
runs. A claim is taken over when its process is gone from this host, or when its heartbeat
is older than ``STALE_AFTER`` (for another host's claim, whose process cannot be checked).
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

STALE_AFTER = 300.0  # seconds without a heartbeat before a claim is presumed dead
HEARTBEAT_EVERY = 60.0  # well inside STALE_AFTER, so a busy host never looks dead


@dataclass(frozen=True)
class Holder:
    run_id: str
    pid: int
    host: str
    started_at: str
    heartbeat: str
    pid_start: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Holder:
        return cls(
            run_id=str(data.get("run_id", "?")),
            pid=int(data.get("pid", 0)),
            host=str(data.get("host", "?")),
            started_at=str(data.get("started_at", "")),
            heartbeat=str(data.get("heartbeat", "")),
            pid_start=data.get("pid_start"),
        )

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.host})"


_host: list[str] = []  # empty: the machine's hostname


def set_host(name: str | None) -> None:
    """This process's host name in claims, runs and fires: ``[state] host``, set once
    where the configuration is loaded (None: the machine's hostname). One process is one
    host, so a process-wide name, not a parameter through every layer."""
    _host[:] = [name] if name else []


def this_host() -> str:
    return _host[0] if _host else socket.gethostname()


def heartbeat_every(stale_after: float) -> float:
    """Five heartbeats fit in the stale time, so a busy host never looks dead."""
    return min(HEARTBEAT_EVERY, stale_after / 5)


def process_start(pid: int) -> int | None:
    """The kernel's start time of ``pid`` in clock ticks since boot; None if unknown."""
    return _proc_stat(pid)[1]


def _proc_stat(pid: int) -> tuple[str, int | None]:
    """(state letter, start time) from /proc/<pid>/stat; ("", None) if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return "", None
    # The command name (field 2) may contain spaces and parentheses: split after its end.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return fields[0].decode(), int(fields[19])  # fields 3 and 22 of the whole line
    except (IndexError, ValueError):
        return "", None


def me(run_id: str, now: datetime) -> Holder:
    stamp = now.isoformat(timespec="seconds")
    pid = os.getpid()
    return Holder(run_id, pid, this_host(), stamp, stamp, process_start(pid))


def why_stale(
    holder: Holder, now: datetime, host: str, stale_after: float = STALE_AFTER
) -> str | None:
    """Why a claim may be taken over, or None while its claimant looks alive.

    On this host the claimant's process is checked directly (pid and start time): a sweep
    stopped with Ctrl-Z, or a machine back from suspend, keeps its claims however old its
    heartbeat, since its tasks still run. The heartbeat decides for claims of other hosts
    (a shared store), whose processes cannot be checked.
    """
    if holder.host == host:
        return process_gone(holder.pid, holder.pid_start)
    try:
        beat = datetime.fromisoformat(holder.heartbeat)
    except ValueError:
        return "its heartbeat is unreadable"
    age = (now - beat).total_seconds()
    if age > stale_after:
        return f"no heartbeat for {int(age)}s"
    return None


def process_gone(pid: int, pid_start: int | None) -> str | None:
    """Why process ``pid`` (on this host) no longer runs, or None if it still does.

    ``pid_start`` is the start time recorded with the pid, so a pid the kernel has since
    given to another process is recognised as gone.
    """
    if pid <= 0:
        return "it names no process"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"process {pid} is gone"
    except PermissionError:
        pass  # alive, owned by someone else
    state, start = _proc_stat(pid)
    if state in ("Z", "X"):
        return f"process {pid} has exited"
    if pid_start is not None and start is not None and start != pid_start:
        return f"process {pid} is gone (its pid now belongs to another process)"
    return None
