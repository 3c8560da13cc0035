"""The one self-pipe mechanism in-process: signals routed to the daemon's SignalInbox or to
a sweep's StopToken, with real signals sent to this very process."""

from __future__ import annotations

import hashlib
import os
import resource
import select
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentd.daemon.tasks.stop import SignalInbox, StopToken, install_handlers

SIGNALS = (signal.SIGHUP, signal.SIGUSR1)


@pytest.fixture
def restored() -> Iterator[None]:
    """The handlers and the wakeup descriptor of this (pytest's) process, put back."""
    before = {sig: signal.getsignal(sig) for sig in SIGNALS}
    wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup)
    yield
    signal.set_wakeup_fd(wakeup)
    for sig, handler in before.items():
        signal.signal(sig, handler)


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def test_the_inbox_hands_signals_over_in_the_order_they_came(restored: None) -> None:
    inbox = SignalInbox()
    install_handlers(inbox, SIGNALS, keep_ignored=False)
    assert inbox.wait(0) == []
    os.kill(os.getpid(), signal.SIGUSR1)
    os.kill(os.getpid(), signal.SIGHUP)
    assert inbox.wait(5) == [signal.SIGUSR1, signal.SIGHUP]
    assert inbox.wait(0) == []  # read once, and the pipe drained with them
    inbox.close()


def test_the_wakeup_descriptor_is_the_recorders_pipe(restored: None) -> None:
    """So the C-level handler writes to it at once, whichever thread the kernel picks,
    before any Python handler has run."""
    inbox = SignalInbox()
    install_handlers(inbox, SIGNALS, keep_ignored=False)
    assert signal.set_wakeup_fd(-1) == inbox.wakeup_fileno()
    inbox.close()


def test_an_ignored_signal_stays_ignored_unless_the_daemon_takes_it(restored: None) -> None:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    token = StopToken()
    previous = install_handlers(token, SIGNALS)
    assert signal.SIGUSR1 not in previous
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_IGN
    inbox = SignalInbox()
    install_handlers(inbox, SIGNALS, keep_ignored=False)
    os.kill(os.getpid(), signal.SIGUSR1)
    assert inbox.wait(5) == [signal.SIGUSR1]
    token.close()
    inbox.close()


def test_a_signal_is_a_stop_request_and_a_second_one_is_urgent(restored: None) -> None:
    token = StopToken()
    install_handlers(token, SIGNALS)
    assert not token.requested
    assert not token.wait(0)
    os.kill(os.getpid(), signal.SIGHUP)
    assert token.requested
    assert token.wait(0)
    assert _readable(token.fileno())
    assert not token.urgent
    assert not _readable(token.urgent_fileno())
    os.kill(os.getpid(), signal.SIGUSR1)
    assert token.urgent
    assert _readable(token.urgent_fileno())
    assert _readable(token.fileno())  # a request stays readable for every waiter
    assert token.signum == signal.SIGHUP  # the first one names the exit status
    assert token.exit_status == 128 + signal.SIGHUP
    token.close()


def test_a_stop_requested_in_code_needs_no_signal() -> None:
    token = StopToken()
    token.request()
    assert token.requested
    assert token.exit_status == 128 + signal.SIGTERM
    token.close()


def test_two_deliveries_during_one_long_c_call_are_two_signals(restored: None) -> None:
    """Python runs a signal's handler once for every delivery that came while the main
    thread was inside one C call (a reload validating a big file): the inbox counts the
    deliveries themselves, one byte each in the wakeup pipe, so a second SIGTERM is not
    lost."""
    inbox = SignalInbox()
    install_handlers(inbox, SIGNALS, keep_ignored=False)
    busy = threading.Event()

    def send_twice() -> None:
        busy.wait(30)
        for _ in range(2):
            os.kill(os.getpid(), signal.SIGUSR1)
            # Apart: the second is sent once the first has been delivered (no longer
            # pending), or the kernel would merge them.
            deadline = time.monotonic() + 30
            while _pending(signal.SIGUSR1) and time.monotonic() < deadline:
                time.sleep(0.001)

    sender = threading.Thread(target=send_twice)
    sender.start()
    busy.set()
    # One C call (it lets the sender run meanwhile) that runs no Python handler until it
    # returns: both deliveries must land inside it for this test to mean anything.
    rounds = 3_000_000
    while True:
        hashlib.pbkdf2_hmac("sha256", b"agentd", b"salt", rounds)
        if not sender.is_alive():
            break
        rounds *= 2  # a slow machine: longer, until the sends fit in one call
        busy.set()
    sender.join()
    assert inbox.wait(5) == [signal.SIGUSR1, signal.SIGUSR1]
    inbox.close()


def _pending(sig: signal.Signals) -> bool:
    status = Path(f"/proc/{os.getpid()}/status").read_text()
    shared = next(line for line in status.splitlines() if line.startswith("ShdPnd:"))
    return bool(int(shared.split()[1], 16) & (1 << (sig - 1)))


def test_a_token_whose_pipe_is_numbered_past_1024_still_works() -> None:
    """select() refuses descriptors from 1024 on; a process whose limit was raised
    (systemd's LimitNOFILE) and that holds many open files makes its pipes up there."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip(f"the hard descriptor limit ({hard}) leaves no room past 1024")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    filler: list[int] = []
    token = None
    try:
        while not filler or filler[-1] < 1030:
            filler.append(os.open(os.devnull, os.O_RDONLY))
        token = StopToken()
        assert token.fileno() >= 1024
        assert not token.requested
        assert token.wait(0.01) is False
        done = threading.Event()
        seen: list[bool] = []

        def waiter() -> None:
            seen.append(token.wait(60))
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        token.request()
        assert done.wait(60)
        assert seen == [True]
        assert token.requested
    finally:
        if token is not None:
            token.close()
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_wait_longer_than_poll_can_take_is_not_an_error() -> None:
    """poll takes at most 2**31 - 1 milliseconds (24.8 days); a longer wait is cut to it."""
    token = StopToken()
    try:
        token.request()
        assert token.wait(10.0**10) is True
        assert token.wait(-1) is True
    finally:
        token.close()
