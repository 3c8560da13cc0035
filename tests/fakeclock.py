"""A Clock that a test moves by hand: no real time passes, and none is waited for."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, tzinfo

from agentd.daemon.model.clock import Clock


class FakeClock(Clock):
    """Wall and monotonic time both stand still until the test (or a wait) moves them."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a FakeClock starts at an aware time")
        self._lock = threading.Lock()
        self._now = start.astimezone(UTC)
        self._mono = 1000.0  # any origin: only differences mean something
        self.waits: list[float | None] = []  # every timeout waited for, in order

    def now(self, zone: tzinfo = UTC) -> datetime:
        with self._lock:
            return self._now.astimezone(zone)

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._mono += seconds

    def set(self, moment: datetime) -> None:
        """Wall time jumps to ``moment`` (as after a suspend); monotonic time moves with it,
        never backwards."""
        with self._lock:
            step = (moment.astimezone(UTC) - self._now).total_seconds()
            self._now = moment.astimezone(UTC)
            self._mono += max(step, 0.0)

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Returns at once: set, or the whole ``timeout`` has passed (the clock moves on)."""
        self.waits.append(timeout)
        if event.is_set():
            return True
        if timeout is None:
            raise AssertionError("waiting for ever on a FakeClock: nothing would wake it")
        self.advance(timeout)
        return event.is_set()

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.advance(seconds)


class OffsetClock(Clock):
    """The system clock moved to another moment: wall time starts there and runs on,
    while monotonic time and waiting stay real (a task's timeout still means seconds).
    For sweeps of real processes on a night of the test's choosing."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def set(self, moment: datetime) -> None:
        self._offset = moment - datetime.now(UTC)

    def now(self, zone: tzinfo = UTC) -> datetime:
        return (datetime.now(UTC) + self._offset).astimezone(zone)
