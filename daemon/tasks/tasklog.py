"""A task's output on its way into its log file, kept within ``max_log_size``.

The task writes into a pipe and agentd moves the bytes into the log with splice(2): they
go from the pipe to the file inside the kernel, never through agentd's memory, so a task
printing gigabytes costs agentd nothing. Once the log holds its share (the head), the rest
is read and dropped, except the last ``tail`` bytes, which are kept in memory and written
after a marker line when the task ends: the log is then the output's beginning and its end,
and the marker says how much was left out between them.

A full disk is treated the same way: what cannot be written is dropped and counted, and
the task goes on (its writes go into the pipe, not to the disk), so it is agentd, not the
task, that reports the log as incomplete.
"""

from __future__ import annotations

import collections
import errno
import os
from dataclasses import dataclass
from pathlib import Path

from agentd.config.sizes import format_size, human

CHUNK = 1024 * 1024  # spliced at once: no copy, no memory
TAIL_CHUNK = 64 * 1024  # read into memory at once, past the head
TAIL_MAX = 256 * 1024  # the end kept of a cut log: room for an agent's last report
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 0) | getattr(os, "SPLICE_F_NONBLOCK", 0)
# The file side refusing more: the disk (or the quota) is full ...
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
# ... or it fails otherwise. Either way the log cannot take more, whatever we do.
_BROKEN = frozenset({errno.EFBIG, errno.EIO})


LOG_SUFFIX = ".log"


def task_log_rel(project: str, task: str) -> str:
    """Where a task's log is inside its run directory: the one rule the sweep that writes
    it, the report that names it and ``agentd log`` that finds it all follow."""
    return f"{project}/{task}{LOG_SUFFIX}"


def task_log_path(run_dir: Path, project: str, task: str) -> Path:
    return run_dir / task_log_rel(project, task)


@dataclass(frozen=True)
class LogCut:
    """What the log does not hold, and why."""

    dropped_bytes: int
    kept_bytes: int
    why: str  # "max_log_size", "disk full", or "write error: <the error>"
    limit: int

    @property
    def lost(self) -> bool:
        """Output lost to a failure, not left out by the configured limit."""
        return self.why != "max_log_size"

    def reason(self) -> str:
        if self.why == "disk full":
            return (
                f"log incomplete: the file system of its log is full; "
                f"{human(self.dropped_bytes)} of output not kept"
            )
        if self.lost:
            return (
                f"log incomplete: {self.why.removeprefix('write error: ')}; "
                f"{human(self.dropped_bytes)} of output not kept"
            )
        return (
            f"log cut at max_log_size ({format_size(self.limit)}): "
            f"{human(self.dropped_bytes)} of output not kept"
        )

    def to_dict(self) -> dict[str, int | str]:
        return {
            "dropped_bytes": self.dropped_bytes,
            "kept_bytes": self.kept_bytes,
            "why": self.why,
            "limit": self.limit,
        }


class LogSink:
    """Owns the log file descriptor and the pipe; ``pump`` whenever the pipe is readable,
    ``finish`` once the task's processes are gone."""

    def __init__(self, log_fd: int, limit: int) -> None:
        self.log_fd = log_fd
        self.limit = limit
        self.tail_size = min(limit // 2, TAIL_MAX)
        self.head_room = limit - self.tail_size
        # The default pipe (64 KiB): larger ones count against a per-user kernel limit that
        # the tasks' own pipes share.
        self.read_fd, self.write_fd = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self.read_fd, False)
        self.written = 0
        self.dropped = 0
        self.failure: str | None = None  # why the log takes no more: "disk full", ...
        self.splice = hasattr(os, "splice")
        self.tail: collections.deque[bytes] = collections.deque()
        self.tail_bytes = 0
        self.eof = False

    def fileno(self) -> int:
        return self.read_fd

    def child_started(self) -> None:
        """The child has its copy of the write end; ours would keep the pipe open forever."""
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def pump(self, chunks: int = 16) -> None:
        """Move what the pipe holds now into the log (or the tail), in at most ``chunks``
        moves: a task that writes faster than we move must not keep its supervisor from
        noticing its deadline. Never blocks."""
        for _ in range(chunks):
            if self.eof:
                return
            room = 0 if self.failure else self.head_room - self.written
            try:
                moved = self._to_log(room) if room > 0 else self._to_tail()
            except BlockingIOError:
                return
            if moved == 0:
                self.eof = True

    def _to_log(self, room: int) -> int:
        """Bytes moved into the log, 0 at the end of the output, -1 to be called again
        (the way of moving changed)."""
        size = min(room, CHUNK)
        if not self.splice:
            data = os.read(self.read_fd, size)
            kept = self._write(data)
            self.written += kept
            self.dropped += len(data) - kept  # a full disk took only part of it
            return len(data)
        try:
            moved = os.splice(self.read_fd, self.log_fd, size, flags=_SPLICE_FLAGS)
        except BlockingIOError:
            raise  # the pipe is empty for now (an OSError, but not the file's)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOSYS):
                self.splice = False  # a file system splice cannot write to: copy instead
                return -1
            if not self._failed(exc):
                raise
            return -1  # what is still in the pipe goes to the tail from now on
        self.written += moved
        return moved

    def _write(self, data: bytes | memoryview) -> int:
        """Write ``data`` at the log's end; the number of bytes the file took."""
        view = memoryview(data)
        while view:
            try:
                done = os.write(self.log_fd, view)
            except OSError as exc:
                if not self._failed(exc):
                    raise
                break
            view = view[done:]
        return len(data) - len(view)

    def _failed(self, exc: OSError) -> bool:
        """Note why the log takes no more, if ``exc`` says so."""
        if exc.errno in _FULL:
            self.failure = "disk full"
        elif exc.errno in _BROKEN:
            self.failure = f"write error: {exc.strerror}"
        else:
            return False
        return True

    def _to_tail(self) -> int:
        data = os.read(self.read_fd, TAIL_CHUNK)
        if data:
            self.dropped += len(data)
            self.tail.append(data)
            self.tail_bytes += len(data)
            while self.tail_bytes - len(self.tail[0]) >= self.tail_size:
                self.tail_bytes -= len(self.tail.popleft())
        return len(data)

    def finish(self) -> LogCut | None:
        """Take what is left in the pipe (without waiting: a stray process that left the
        task's group may hold it open), write the tail after its marker, close everything.
        Returns what the log does not hold, or None if it holds everything."""
        self.child_started()
        try:
            self.pump(chunks=64)
        except OSError:
            pass  # what could not be read is lost with the pipe; the counts say so
        finally:
            os.close(self.read_fd)
        try:
            return self._close_log()
        finally:
            os.close(self.log_fd)

    def _close_log(self) -> LogCut | None:
        if not self.dropped:
            return None
        skip = max(0, self.tail_bytes - self.tail_size)  # of the first chunk, beyond the tail
        tail_size = self.tail_bytes - skip
        missing = self.dropped - tail_size
        why = self.failure or "max_log_size"
        pieces = [memoryview(chunk) for chunk in self.tail]
        if pieces:
            pieces[0] = pieces[0][skip:]
        if missing:
            marker = (
                f"\n[agentd: {missing:,} bytes of output not kept here ({why}); "
                f"the last {tail_size:,} bytes follow]\n"
            )
            pieces.insert(0, memoryview(marker.encode()))
        for piece in pieces:
            if self._write(piece) < len(piece):  # the disk is full: the tail is lost too
                missing, tail_size = self.dropped, 0
                break
        if not missing:
            return None  # everything fitted after all
        return LogCut(missing, self.written + tail_size, self.failure or why, self.limit)
