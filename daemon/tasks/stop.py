"""A stop request that signal handlers can make and every waiting thread can see.

Signal handlers only record the request: they set plain attributes and write a byte to a
pipe, nothing that takes a lock (a handler runs on the main thread between bytecodes, maybe
while that thread holds the very lock it would need). Threads that wait for a process or a
timer put the pipe into their ``select`` and so wake at once.

A second request escalates: tasks still inside their SIGTERM grace period are killed now.

The kernel may hand a process-wide signal to any thread, and Python runs the handler only
on the main thread, and only once that thread executes bytecode again; a main thread
asleep in a wait would not notice. So the write end of the pipe is also registered with
``signal.set_wakeup_fd``: whichever thread the signal lands on, the C-level handler writes
to the pipe at once, which both wakes the waiters and counts as the request.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal


class StopToken:
    def __init__(self) -> None:
        self._soft_r, self._soft_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._hard_r, self._hard_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._requested = False
        self.urgent = False
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        if self._requested:
            return True
        readable, _, _ = select.select([self._soft_r], [], [], 0)
        return bool(readable)  # a signal's C-level handler has already written

    def request(self, signum: int | None = None) -> None:
        """Safe to call from a signal handler."""
        if self.signum is None and signum is not None:
            self.signum = signum
        if not self._requested:
            self._requested = True
            _poke(self._soft_w)
        else:
            self.urgent = True
            _poke(self._hard_w)

    def wakeup_fileno(self) -> int:
        """For ``signal.set_wakeup_fd``: makes any signal with a Python handler a request."""
        return self._soft_w

    def fileno(self) -> int:
        """Readable once a stop has been requested (and stays readable)."""
        return self._soft_r

    def urgent_fileno(self) -> int:
        """Readable once a second stop has been requested."""
        return self._hard_r

    @property
    def exit_status(self) -> int:
        """128 + the signal, as shells report a death by signal (130 for SIGINT)."""
        return 128 + (self.signum or signal.SIGTERM)

    def close(self) -> None:
        for fd in (self._soft_r, self._soft_w, self._hard_r, self._hard_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def _poke(fd: int) -> None:
    # A full pipe is already readable, which is all a waiter needs.
    with contextlib.suppress(BlockingIOError):
        os.write(fd, b"!")


def install_handlers(token: StopToken, signals: tuple[int, ...]) -> dict[int, object]:
    """Route ``signals`` to ``token``; returns the previous handlers for restoring.

    A signal ignored when agentd started stays ignored: whoever ignored it meant it
    (``nohup agentd run --once`` must survive the hangup it asked to survive, and a
    background job of a script must not die of the terminal's Ctrl-C).
    """
    signal.set_wakeup_fd(token.wakeup_fileno(), warn_on_full_buffer=False)
    previous: dict[int, object] = {}

    def handler(signum: int, frame: object) -> None:
        token.request(signum)

    for sig in signals:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, handler)
    return previous
