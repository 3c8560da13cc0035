"""Time, passed in: the sweep, the daemon and the runner ask a Clock, never the system.

So the daemon's fire bookkeeping, deadlines and report times can be tested with a clock a
test moves by hand (``tests/fakeclock.py``'s ``FakeClock``), in milliseconds, with no real
waiting and no switch in the product for the tests' sake.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, tzinfo


class Clock:
    """The system's clock: wall time (aware), monotonic time, and waiting."""

    def now(self, zone: tzinfo = UTC) -> datetime:
        """Wall time in ``zone`` (UTC unless told): for records, reports and schedules."""
        return datetime.now(zone)

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps: for deadlines and durations."""
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Wait for ``event`` at most ``timeout`` seconds; True if it was set."""
        return event.wait(timeout)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = Clock()
