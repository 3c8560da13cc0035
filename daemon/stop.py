"""A stop request that signal handlers can make and every waiting thread can see.

Signal handlers only record the request: they set plain attributes and write a byte to a
pipe, nothing that takes a lock (a handler runs on the main thread between bytecodes, maybe
while that thread holds the very lock it would need). Threads that wait for a process or a
timer put the pipe into their ``select`` and so wake at once.

A second request escalates: tasks still inside their SIGTERM grace period are killed now.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator


class StopToken:
    def __init__(self) -> None:
        self._soft_r, self._soft_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._hard_r, self._hard_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.requested = False
        self.urgent = False
        self.signum: int | None = None

    def request(self, signum: int | None = None) -> None:
        """Safe to call from a signal handler."""
        if self.signum is None and signum is not None:
            self.signum = signum
        if not self.requested:
            self.requested = True
            _poke(self._soft_w)
        else:
            self.urgent = True
            _poke(self._hard_w)

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


# The signals agentd handles. Python runs handlers only on the main thread, and a signal
# the kernel delivers to another thread does not interrupt the main thread's wait: it sits
# unhandled until the main thread next wakes. So every other thread blocks them.
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR2)


@contextlib.contextmanager
def main_thread_signals() -> Iterator[None]:
    """Start threads inside this: they inherit a signal mask that keeps HANDLED signals
    for the main thread."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def start_thread(thread: threading.Thread) -> None:
    with main_thread_signals():
        thread.start()


def install_handlers(token: StopToken, signals: tuple[int, ...]) -> dict[int, object]:
    """Route ``signals`` to ``token``; returns the previous handlers for restoring."""
    previous: dict[int, object] = {}

    def handler(signum: int, frame: object) -> None:
        token.request(signum)

    for sig in signals:
        previous[sig] = signal.signal(sig, handler)
    return previous
