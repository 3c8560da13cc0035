"""Running one task as a process group, with a deadline, and leaving nothing behind.

The task gets its own session (so its own process group), stdin from /dev/null (or a
given file), and its stdout and stderr go into a pipe that ``agentd.daemon.tasks.tasklog`` splices
into its log file, up to ``max_log_size``: a task that prints gigabytes costs agentd no
memory, and no more disk than the limit.

We wait for the group leader through a pidfd, which becomes readable when the leader
exits but before it is reaped. Until we reap it, its pid (which is the group id) cannot be
reused, so the final SIGKILL to the group can never hit an unrelated process group.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import subprocess
import threading
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from agentd.config.durations import format_duration
from agentd.config.fields import DEFAULT_MAX_LOG_SIZE
from agentd.daemon.model.clock import SYSTEM_CLOCK, Clock
from agentd.daemon.model.status import TaskStatus
from agentd.daemon.tasks import orphans
from agentd.daemon.tasks.stop import StopToken
from agentd.daemon.tasks.tasklog import LogCut, LogSink
from agentd.state.files import nearly_full, open_new

TAIL_BYTES = 4096
TAIL_LINES = 20
TAIL_CHARS = 2000
# epoll cannot wait longer than about 24 days at once; a longer timeout waits in slices.
MAX_WAIT = 3600.0


@dataclass(frozen=True)
class Command:
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    timeout: float
    kill_grace: float
    stdin: Path | None = None  # read-only; None is /dev/null
    max_log_size: int = DEFAULT_MAX_LOG_SIZE


@dataclass(frozen=True)
class Outcome:
    status: TaskStatus  # never skipped: a skipped task is not run
    exit_code: int | None
    reason: str
    started_at: datetime
    finished_at: datetime
    duration_s: float
    output_end: str  # the log's last bytes, untrimmed: secrets are masked before trimming
    spawned: bool = True  # False: the program never started (not found, no directory, ...)
    log_cut: LogCut | None = None  # output the log does not hold (max_log_size, a full disk)


def run_process(
    command: Command,
    stop: StopToken,
    zone: tzinfo,
    log: Any = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Outcome:
    """Run ``command`` to its end, its deadline, or a stop request; never raises for the task.
    Its start and end are stamped, and its deadlines counted, on ``clock``."""
    started = clock.now(zone)
    t0 = clock.monotonic()
    cut: LogCut | None = None  # known once the task is over; every outcome carries it

    def finish(status: TaskStatus, code: int | None, reason: str, spawned: bool = True) -> Outcome:
        if cut is not None:
            reason = f"{reason}; {cut.reason()}" if reason else cut.reason()
        duration = round(clock.monotonic() - t0, 3)
        end = read_end(command.log_path)
        return Outcome(status, code, reason, started, clock.now(zone), duration, end, spawned, cut)

    try:
        log_fd = open_new(command.log_path)
    except OSError as exc:
        reason = f"cannot open log file {command.log_path}: {exc.strerror}"
        return finish(TaskStatus.ERROR, None, reason, spawned=False)
    try:
        sink = LogSink(log_fd, command.max_log_size)
    except OSError as exc:  # no pipe to be had (too many open files)
        os.close(log_fd)
        reason = f"cannot make a pipe for its output: {exc.strerror}"
        return finish(TaskStatus.ERROR, None, reason, spawned=False)
    proc = _spawn(command, sink)
    if isinstance(proc, str):
        return finish(TaskStatus.ERROR, None, proc, spawned=False)
    stopped, reason, cut = _watch(proc, command, stop, log, sink, clock)
    code = proc.returncode
    if stopped is not None:
        return finish(stopped, None, reason)
    if code == 0:
        return finish(TaskStatus.OK, 0, "")
    if code < 0:
        return finish(
            TaskStatus.FAILED, None, f"killed by {_signal_name(-code)}" + _full(command, cut)
        )
    return finish(TaskStatus.FAILED, code, f"exit status {code}" + _full(command, cut))


def _spawn(command: Command, sink: LogSink) -> subprocess.Popen[bytes] | str:
    """The task's process, in a session of its own, writing into ``sink``; or why it could
    not start (also written into its log, where a person looks first)."""
    stdin_fd = subprocess.DEVNULL
    try:
        if command.stdin is not None:
            stdin_fd = os.open(command.stdin, os.O_RDONLY | os.O_CLOEXEC)
        return subprocess.Popen(
            command.argv,
            cwd=command.cwd,
            env=command.env,
            stdin=stdin_fd,
            stdout=sink.write_fd,
            stderr=sink.write_fd,
            start_new_session=True,
            close_fds=True,
        )
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in an argument
        reason = _start_failure(exc, command)
        with contextlib.suppress(OSError):
            os.write(sink.log_fd, f"agentd: {reason}\n".encode())
        sink.finish()
        return reason
    except BaseException:
        sink.finish()
        raise
    finally:
        sink.child_started()
        if stdin_fd != subprocess.DEVNULL:
            os.close(stdin_fd)


def _watch(
    proc: subprocess.Popen[bytes],
    command: Command,
    stop: StopToken,
    log: Any,
    sink: LogSink,
    clock: Clock,
) -> tuple[TaskStatus | None, str, LogCut | None]:
    """Supervise the started task to its end; (the status if agentd stopped it, else None;
    why; what its log could not hold). Nothing of its group survives this."""
    status: TaskStatus | None = TaskStatus.ERROR
    reason = "agentd could not watch it"
    waiter: _ExitWaiter | None = None
    try:
        waiter = _ExitWaiter(proc.pid)
        status, reason = _supervise(proc, waiter, command, stop, log, sink, clock)
    except OSError as exc:  # no descriptor left to watch it with: stopped, not left alone
        reason = f"{reason}: {exc.strerror or exc}"
    finally:
        # Whatever is left of the group goes now, while the unreaped leader pins its id.
        _kill_group(proc.pid, signal.SIGKILL)
        if status is not None:  # stopped, not ended by itself: also what left the group
            orphans.signal_all(_strays(command, proc.pid), signal.SIGKILL)
        proc.wait()
        if waiter is not None:
            waiter.close()
        cut = sink.finish()
    return status, reason, cut


def _full(command: Command, cut: LogCut | None) -> str:
    """A task that fails while its log's file system is full may have failed writing its
    own files there: say so, or the report shows only an exit status. (Unless the log's
    own cut says so already.)"""
    if cut is not None and cut.why == "disk full":
        return ""
    return "; the file system of its log is full" if nearly_full(command.log_path.parent) else ""


def _supervise(
    proc: subprocess.Popen[bytes],
    waiter: _ExitWaiter,
    command: Command,
    stop: StopToken,
    log: Any,
    sink: LogSink,
    clock: Clock,
) -> tuple[TaskStatus | None, str]:
    """Wait for the leader; on deadline or stop, SIGTERM the group, then SIGKILL after grace.
    Meanwhile the output keeps flowing into the log (a full pipe would block the task).

    Returns (None, "") when the task ended by itself, else the status and reason to record.
    """
    woke = _wait(waiter, stop.fileno(), command.timeout, sink, clock)
    if woke == "exit":
        return None, ""
    if woke is None:
        status, reason = TaskStatus.TIMEOUT, f"timed out after {format_duration(command.timeout)}"
    else:
        status, reason = TaskStatus.INTERRUPTED, "agentd was asked to stop"
    if log is not None:
        log.info("task.terminating", why=status, pgid=proc.pid, kill_grace=command.kill_grace)
    _kill_group(proc.pid, signal.SIGTERM)
    orphans.signal_all(_strays(command, proc.pid), signal.SIGTERM)
    woke = _wait(waiter, stop.urgent_fileno(), command.kill_grace, sink, clock)
    if woke == "exit":
        return status, reason + "; stopped by SIGTERM"
    if woke is None:
        return status, reason + f"; SIGKILL after {format_duration(command.kill_grace)}"
    return status, reason + "; SIGKILL at a second stop request"


def _wait(
    waiter: _ExitWaiter, other: int, seconds: float, sink: LogSink, clock: Clock
) -> str | None:
    """ "exit" when the leader exits, "other" when ``other`` becomes readable, None when
    ``seconds`` have passed on ``clock``, whichever comes first; the output is pumped
    meanwhile."""
    deadline = clock.monotonic() + seconds
    with selectors.DefaultSelector() as sel:
        sel.register(waiter.fileno(), selectors.EVENT_READ, "exit")
        sel.register(other, selectors.EVENT_READ, "other")
        if not sink.eof:
            sel.register(sink.fileno(), selectors.EVENT_READ, "log")
        while (remaining := deadline - clock.monotonic()) > 0:
            ready = {key.data for key, _ in sel.select(min(remaining, MAX_WAIT))}
            if "log" in ready:
                sink.pump()
                if sink.eof:
                    sel.unregister(sink.fileno())
            if "exit" in ready:
                return "exit"
            if "other" in ready:
                return "other"
    return None


def _strays(command: Command, session: int) -> list[orphans.Found]:
    """The task's processes outside its process group: in its session, or carrying its
    run, project and task in their environment."""
    env = command.env
    return orphans.find(
        env.get("AGENTD_RUN_ID", ""), env.get("AGENTD_PROJECT", ""), env.get("AGENTD_TASK"), session
    )


def _kill_group(pgid: int, sig: int) -> None:
    # ESRCH: the group is already empty.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _start_failure(exc: OSError | ValueError, command: Command) -> str:
    program = command.argv[0]
    stdin = command.stdin
    if isinstance(exc, OSError) and stdin and os.fsdecode(exc.filename or "") == str(stdin):
        return f"cannot open input file {stdin}: {exc.strerror}"
    if isinstance(exc, ValueError):
        return f"cannot start {program}: {exc}"
    if exc.filename is not None and os.fsdecode(exc.filename) == str(command.cwd):
        # The child could not change into the directory; the program was never tried.
        if isinstance(exc, FileNotFoundError):
            return f"project directory {command.cwd} does not exist"
        return f"cannot enter the project directory {command.cwd}: {exc.strerror}"
    if exc.errno == errno.E2BIG:
        sizes = (
            sum(len(os.fsencode(a)) + 1 for a in command.argv),
            sum(len(os.fsencode(k)) + len(os.fsencode(v)) + 2 for k, v in command.env.items()),
        )
        return (
            f"cannot start {program}: its arguments ({sizes[0]:,} bytes) and environment "
            f"({sizes[1]:,} bytes) are more than the kernel passes to a program"
        )
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {program}"
    if isinstance(exc, PermissionError):
        return f"permission denied: cannot execute {program}"
    return f"cannot start {program}: {exc.strerror or exc}"


def read_end(path: Path) -> str:
    """The last TAIL_BYTES of a log, however large the log: what the report may quote."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            data = handle.read(TAIL_BYTES)
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def trim_tail(text: str) -> str:
    """The last lines, bounded in lines and characters. Applied after secrets are masked,
    so a secret cut in half by the bound has already been replaced whole."""
    return "\n".join(text.splitlines()[-TAIL_LINES:])[-TAIL_CHARS:]


class _ExitWaiter:
    """A file descriptor that becomes readable when ``pid`` exits, without reaping it."""

    def __init__(self, pid: int) -> None:
        self._thread: threading.Thread | None = None
        try:
            self._fd = os.pidfd_open(pid)
            self._pipe_w: int | None = None
        except (AttributeError, OSError):
            # No pidfd (old kernel, some sandboxes): a thread waits without reaping.
            self._fd, self._pipe_w = os.pipe2(os.O_CLOEXEC)
            self._thread = threading.Thread(target=self._wait, args=(pid,), daemon=True)
            self._thread.start()

    def _wait(self, pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        assert self._pipe_w is not None
        os.write(self._pipe_w, b"x")

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
        for fd in (self._fd, self._pipe_w):
            if fd is not None:
                os.close(fd)
