"""Signals and stop requests: one self-pipe mechanism for the daemon and for a sweep.

Signal handlers only record the request: they append to a deque or set a plain attribute
and write a byte to a pipe, nothing that takes a lock (a handler runs on the main thread
between bytecodes, maybe while that thread holds the very lock it would need). Threads that
wait for a process, a timer or the next signal put the pipe into their ``poll`` and so
wake at once.

Two recorders share that pipe (``_Pipe``) and the one way of routing signals to them
(``install_handlers``):

- ``StopToken``, a sweep's stop request: readable once requested and for good; a second
  request escalates (tasks still inside their SIGTERM grace period are killed now).
  ``run --once`` routes its signals straight here.
- ``SignalInbox``, the daemon's signals, read and acted on by its main thread (SIGHUP
  reloads, SIGTERM stops the sweep through its StopToken).

The kernel may hand a process-wide signal to any thread, and Python runs the handler only
on the main thread, and only once that thread executes bytecode again; a main thread
asleep in a wait would not notice. So the write end of the recorder's pipe is also
registered with ``signal.set_wakeup_fd``: whichever thread the signal lands on, the C-level
handler writes to the pipe at once, which wakes the waiters (and, for a StopToken, counts
as the request).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from typing import Protocol

_POLL_MAX_MS = 2**31 - 1


class _Pipe:
    """A non-blocking pipe that a signal handler (or any thread) pokes and waiters poll."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def poke(self) -> None:
        # A full pipe is already readable, which is all a waiter needs.
        with contextlib.suppress(BlockingIOError):
            os.write(self.write_fd, b"!")

    def wait(self, timeout: float | None) -> bool:
        """True once poked (it stays readable until drained), waiting up to ``timeout``.

        poll, not select: select refuses a descriptor numbered 1024 or more. agentd makes
        its pipes early, with low numbers, but a process started holding more than 1,024
        inherited descriptors (under a raised ``LimitNOFILE``) would get such numbers. A
        poll object per call: one shared by the threads that wait refuses concurrent
        calls. poll's timeout is an int of milliseconds: longer waits (24.8 days) are cut
        to it (the caller wakes early, as from any spurious wake-up)."""
        poller = select.poll()
        poller.register(self.read_fd, select.POLLIN)
        if timeout is not None:
            timeout = min(max(0.0, timeout) * 1000, _POLL_MAX_MS)
        # A signal during the wait does not end it (PEP 475: poll is retried), but its
        # C-level handler writes to the wakeup pipe, which may be this one.
        return bool(poller.poll(timeout))

    def drain(self) -> None:
        self.take()

    def take(self) -> bytes:
        """Everything written since the last read (the pipe left empty)."""
        chunks = []
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.read_fd, 512):
                chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class StopToken:
    def __init__(self) -> None:
        self._soft = _Pipe()
        self._hard = _Pipe()
        self._requested = False
        self.urgent = False
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        # Also true once a signal's C-level handler has written, before its Python handler.
        return self._requested or self._soft.wait(0)

    def request(self, signum: int | None = None) -> None:
        """Safe to call from a signal handler."""
        if self.signum is None and signum is not None:
            self.signum = signum
        if not self._requested:
            self._requested = True
            self._soft.poke()
        else:
            self.urgent = True
            self._hard.poke()

    def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds for a stop request; True if one was made."""
        return self._soft.wait(timeout) or self._requested

    def wakeup_fileno(self) -> int:
        """For ``signal.set_wakeup_fd``: makes any signal with a Python handler a request."""
        return self._soft.write_fd

    def fileno(self) -> int:
        """Readable once a stop has been requested (and stays readable)."""
        return self._soft.read_fd

    def urgent_fileno(self) -> int:
        """Readable once a second stop has been requested."""
        return self._hard.read_fd

    @property
    def exit_status(self) -> int:
        """128 + the signal, as shells report a death by signal (130 for SIGINT)."""
        return 128 + (self.signum or signal.SIGTERM)

    def close(self) -> None:
        self._soft.close()
        self._hard.close()


class SignalInbox:
    """The daemon's signals, in the order they came, for its main thread to act on."""

    def __init__(self) -> None:
        self._pipe = _Pipe()

    def request(self, signum: int | None = None) -> None:
        """Called by the Python-level handler, with nothing left to do: the C-level handler
        has already written the signal's number to the wakeup pipe, once per delivery.
        The Python handler runs once for every delivery of one signal that came during a
        long C call (a reload validating 10,000 projects): counting its calls would make
        two SIGTERMs one, and the second would not skip the grace."""

    def wakeup_fileno(self) -> int:
        """For ``signal.set_wakeup_fd``: any signal wakes the reader at once."""
        return self._pipe.write_fd

    def wait(self, timeout: float | None) -> list[int]:
        """Signals received, in the order they came, waiting up to ``timeout`` seconds
        (None: until one comes). Each byte of the pipe is one delivery's signal number."""
        self._pipe.wait(timeout)
        return list(self._pipe.take())

    def close(self) -> None:
        self._pipe.close()


class Recorder(Protocol):
    """Where ``install_handlers`` routes signals: ``request`` must be safe in a handler."""

    def request(self, signum: int | None = None) -> None: ...

    def wakeup_fileno(self) -> int: ...


def install_handlers(
    token: Recorder, signals: tuple[int, ...], keep_ignored: bool = True
) -> dict[int, object]:
    """Route ``signals`` to ``token``; returns the previous handlers for restoring.

    A signal ignored when agentd started stays ignored unless ``keep_ignored`` is False:
    whoever ignored it meant it (``nohup agentd run --once`` must survive the hangup it
    asked to survive, and a background job of a script must not die of the terminal's
    Ctrl-C). The daemon takes its signals whatever it inherited: for it SIGHUP is a
    reload, harmless where a hangup was to be survived, and SIGTERM is how it is stopped.
    """
    signal.set_wakeup_fd(token.wakeup_fileno(), warn_on_full_buffer=False)
    previous: dict[int, object] = {}

    def handler(signum: int, frame: object) -> None:
        token.request(signum)

    for sig in signals:
        if not keep_ignored or signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, handler)
    return previous
