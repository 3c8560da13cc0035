"""The daemon's fire bookkeeping: which fire runs a sweep, which is skipped, and up to when
fires are dealt with.

The state store keeps the time up to which fires are dealt with (``last_handled``): a fire
whose sweep ended, or one skipped (and shown as skipped by `agentd status`). A sweep cut
short by a stop leaves its fire unhandled, so the next start catches it up and the skip
guard resumes where it stopped.

Only one sweep runs at a time: a fire that finds one running is skipped and recorded as
skipped, never queued and never run alongside. Such a fire counts as dealt with only once
the running sweep ends; if that sweep is cut short instead, the catch-up that resumes it at
the next start covers the skipped fire too.

Nothing here starts a thread or reads the system's time: the caller hands each fire in
(APScheduler's pool thread in the daemon, a test's own code in tests/service/test_fires.py)
and the clock is passed in.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from agentd.daemon.model.clock import Clock
from agentd.daemon.service.schedule import catch_up
from agentd.daemon.tasks.stop import StopToken
from agentd.slog import structlog
from agentd.state import StateError

if TYPE_CHECKING:
    from agentd.config.cron import CronSpec
    from agentd.state.base import StateStore

log = structlog.get_logger("agentd.daemon")


class SweepEnd(enum.Enum):
    """How the sweep for a fire ended, as far as the bookkeeping is concerned."""

    DONE = "done"  # its fire, and any skipped meanwhile, are dealt with
    INTERRUPTED = "interrupted"  # cut short by a stop: the next start catches it up
    UNFINISHED = "unfinished"  # it crashed, or a stop came first: its fire stays open


Sweep = Callable[[str, datetime], SweepEnd]
"""Runs the sweep for (trigger, fire time); called with the sweep lock held."""


class FireBook:
    def __init__(self, store: StateStore, clock: Clock, stop: StopToken) -> None:
        self.store = store
        self.clock = clock
        self.stop = stop
        self.running = threading.Lock()  # held while a sweep runs
        self.current_run: str | None = None  # its run id, once it has one
        # The latest fire skipped while the current sweep runs: dealt with once it ends.
        self._skipped_upto: datetime | None = None

    def fire(
        self,
        trigger: str,
        fire: datetime | None,
        sweep: Sweep,
        after: Callable[[SweepEnd], None] | None = None,
    ) -> None:
        """One fire: run ``sweep`` for it, or skip it when a sweep is already running.
        ``fire`` is the missed fire time of a catch-up; a scheduled fire is stamped with
        the time it was delivered. ``after`` is told how the sweep ended once that is
        recorded, with the lock still held: what it publishes cannot overwrite what a
        shutdown, which takes the lock first, publishes."""
        fire = fire or self.clock.now()
        if self.stop.requested:
            return
        if not self.running.acquire(blocking=False):
            reason = f"a sweep was still running (run {self.current_run or '?'})"
            log.warning("fire.skipped", fire=fire.isoformat(), trigger=trigger, reason=reason)
            self.skipped(fire, reason)
            return
        try:
            end = sweep(trigger, fire)
            if end is SweepEnd.DONE:
                self.handled(fire)
            elif end is SweepEnd.INTERRUPTED:
                # Fires turned away during a sweep cut short are covered by the catch-up
                # that resumes it at the next start.
                self._skipped_upto = None
            if after is not None:
                after(end)
        finally:
            self.current_run = None
            self.running.release()

    def start(self, spec: CronSpec, zone: tzinfo, mode: str, window: timedelta) -> datetime | None:
        """At start-up: the missed fire to run one catch-up sweep for, if any. Fires missed
        that will not be caught up are recorded as skipped, with the reason."""
        now = self.clock.now()
        last = self.store.read().fires().get("last_handled")
        if not last:
            # First start ever: fires before the daemon existed were never missed.
            self.handled(now)
            return None
        decision = catch_up(spec, zone, datetime.fromisoformat(last), now, window, mode)
        if decision.fire is not None:
            log.info(
                "catch_up.start",
                fire=decision.fire.isoformat(),
                missed=decision.missed,
                reason=decision.reason,
            )
        elif decision.missed:
            log.warning("catch_up.skipped", missed=decision.missed, reason=decision.reason)
            self.skipped(now, decision.reason)
        return decision.fire

    def missed(self, fire: datetime, grace: int) -> None:
        """The scheduler dropped ``fire``, delivered more than ``grace`` seconds late."""
        late = self.clock.now() - fire
        reason = (
            f"delivered {int(late.total_seconds())}s late (machine asleep or overloaded), "
            f"more than the {grace}s allowed"
        )
        log.warning("fire.skipped", fire=fire.isoformat(), reason=reason)
        self.skipped(fire, reason)

    def handled(self, fire: datetime) -> None:
        """Every fire up to ``fire`` (and up to any turned away meanwhile) is dealt with."""
        upto, self._skipped_upto = self._skipped_upto, None
        if upto is not None and upto > fire:
            fire = upto
        self._record(fire, True, None)

    def skipped(self, fire: datetime, reason: str) -> None:
        """A fire that will not run: shown by `agentd status`, and never caught up later."""
        self._record(fire, False, reason)
        if self.running.locked():
            # Dealt with once the running sweep ends (if it is interrupted instead, the
            # catch-up that resumes it covers this fire too).
            if self._skipped_upto is None or fire > self._skipped_upto:
                self._skipped_upto = fire
        else:
            self._record(fire, True, None)

    def _record(self, fire: datetime, handled: bool, reason: str | None) -> None:
        try:
            stamp = fire.isoformat(timespec="seconds")
            self.store.record_fire(stamp, handled, reason, self.clock.now())
        except StateError as exc:
            log.error("state.write_failed", error=str(exc))
