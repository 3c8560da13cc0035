"""Finding a task's processes wherever they went, and stopping them.

Signalling the task's process group covers almost every task. Two kinds of process slip
out of it: one that moved itself into another group or session (GNU ``timeout``, ``set -m``
in a shell, ``setsid``), and the whole task of an agentd that was killed outright, whose
processes run on, reparented to init. Every task process carries ``AGENTD_RUN_ID``,
``AGENTD_PROJECT`` and ``AGENTD_TASK`` in its environment (inherited by its children), so
/proc finds them all, unless one scrubbed its environment.

Reading /proc costs about half a millisecond per 60 processes, so this runs only on the
paths that stop tasks (a timeout, a shutdown, a claim taken over from a dead sweep) and
once as a sweep starts (what a dead sweep of this host left of projects another host
took over), never after a task that ended by itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from agentd.daemon.model.clock import SYSTEM_CLOCK, Clock

POLL = 0.05  # these are not our children: their end can only be noticed by asking


@dataclass(frozen=True)
class Found:
    pid: int
    start: int  # clock ticks since boot, to tell a reused pid from the process found


def find(
    run_id: str, project: str, task: str | None = None, session: int | None = None
) -> list[Found]:
    """Processes of ``run_id``'s ``project`` (and ``task``), or in ``session``."""
    wanted = {b"AGENTD_RUN_ID=" + run_id.encode(), b"AGENTD_PROJECT=" + project.encode()}
    if task is not None:
        wanted.add(b"AGENTD_TASK=" + task.encode())
    found = []
    for pid in _others():
        stat = _stat(pid)
        if stat is None:
            continue
        sid, start = stat
        if (session is not None and sid == session) or _has_env(pid, wanted):
            found.append(Found(pid, start))
    return found


def signal_all(processes: list[Found], sig: int) -> None:
    for process in processes:
        stat = _stat(process.pid)
        if stat is not None and stat[1] == process.start:  # still the process we found
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(process.pid, sig)


@dataclass(frozen=True)
class TaskProcess:
    """A process some agentd started as a task (or a child of one), by its environment."""

    process: Found
    run_id: str
    project: str


def every_task() -> list[TaskProcess]:
    """Every task process of any run that /proc shows (this host's, this PID namespace's):
    for a sweep to find what a dead sweep left of projects it no longer holds."""
    found = []
    for pid in _others():
        env = _env(pid)
        run_id, project = env.get(b"AGENTD_RUN_ID"), env.get(b"AGENTD_PROJECT")
        stat = _stat(pid) if run_id and project else None
        if run_id and project and stat is not None:
            decoded = run_id.decode(errors="replace"), project.decode(errors="replace")
            found.append(TaskProcess(Found(pid, stat[1]), *decoded))
    return found


def stop_orphans(
    run_id: str, project: str, grace: float, log: Any, clock: Clock = SYSTEM_CLOCK
) -> list[int]:
    """Stop what a dead sweep ``run_id`` left running of ``project``: SIGTERM, ``grace``
    (on ``clock``), SIGKILL. Returns the pids found."""
    found = find(run_id, project)
    if not found:
        return []
    log.warning("orphan.stopping", run=run_id, pids=[p.pid for p in found], kill_grace=grace)
    stop(found, grace, lambda: find(run_id, project), clock)
    return [p.pid for p in found]


def stop(
    found: list[Found], grace: float, again: Callable[[], list[Found]], clock: Clock = SYSTEM_CLOCK
) -> None:
    """SIGTERM ``found``, ``grace`` for them to end, then SIGKILL what ``again`` finds (a
    process they started meanwhile too)."""
    signal_all(found, signal.SIGTERM)
    deadline = clock.monotonic() + grace
    while clock.monotonic() < deadline and _any_alive(found):
        clock.sleep(POLL)
    signal_all(again(), signal.SIGKILL)


def _any_alive(processes: list[Found]) -> bool:
    return any((stat := _stat(p.pid)) is not None and stat[1] == p.start for p in processes)


def _stat(pid: int) -> tuple[int, int] | None:
    """(session id, start time) of a live process; None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        if fields[0] in (b"Z", b"X"):
            return None
        return int(fields[3]), int(fields[19])  # fields 6 and 22 of the line
    except (IndexError, ValueError):
        return None


def _has_env(pid: int, wanted: set[bytes]) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            entries = set(handle.read().split(b"\0"))
    except OSError:
        return False  # gone, or another user's
    return wanted <= entries


def _env(pid: int) -> dict[bytes, bytes]:
    """The AGENTD_* part of a process's environment ({} if gone or another user's)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            entries = handle.read().split(b"\0")
    except OSError:
        return {}
    pairs = (entry.partition(b"=") for entry in entries if entry.startswith(b"AGENTD_"))
    return {key: value for key, _, value in pairs}


def _others() -> Iterator[int]:
    """Every process /proc shows but this one."""
    me = os.getpid()
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me:
            yield int(name)
