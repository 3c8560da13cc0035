"""The daemon's APScheduler wiring: the schedule as armed, and the jobs that fire.

APScheduler's thread keeps the time and hands each fire to a small pool, where the fire
bookkeeping (``fires.py``) decides whether it runs a sweep. Overlap is decided there, so
APScheduler must let a second fire through to be seen (and recorded as skipped) rather than
drop it silently.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from agentd.config import Config
from agentd.config.cron import CronSpec
from agentd.daemon.model.clock import Clock
from agentd.daemon.service.schedule import next_fires
from agentd.daemon.service.trigger import CrontabTrigger

# With catch_up = "none", a fire delivered later than this (suspend, overload) is skipped.
LATE_FIRE_GRACE = 60
SWEEP_JOB = "sweep"


@dataclasses.dataclass(frozen=True)
class Armed:
    """The schedule as armed; a reload reschedules only when this changes."""

    spec: CronSpec
    zone: tzinfo
    jitter: float
    grace: int  # seconds a fire may be delivered late and still run

    @classmethod
    def of(cls, config: Config) -> Armed:
        schedule = config.settings.schedule
        grace = int(schedule.catch_up_window) if schedule.catch_up == "once" else LATE_FIRE_GRACE
        return cls(config.cron, config.zone, schedule.jitter, grace)


class Scheduler:
    """APScheduler, armed with one sweep job; ``on_fire`` runs in its pool threads."""

    def __init__(
        self,
        zone: tzinfo,
        clock: Clock,
        on_fire: Callable[[str, datetime | None], None],
        on_missed: Callable[[datetime, int], None],
    ) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        self.clock = clock
        self.on_fire = on_fire
        self.on_missed = on_missed
        self.armed: Armed | None = None
        self._lock = threading.Lock()  # reloads (main thread) and sweeps (pool) both arm
        self._aps = BackgroundScheduler(
            timezone=zone,
            # A sweep, a fire being turned away meanwhile, and the watchdog tick.
            executors={"default": {"type": "threadpool", "max_workers": 3}},
            job_defaults={"coalesce": True, "max_instances": 2},
        )

    def start(self, config: Config, tick: Callable[[], None], interval: float | None) -> None:
        """Arm ``config``'s schedule and start; ``tick`` every ``interval`` seconds (the
        watchdog is fed only while the scheduler really runs jobs)."""
        from apscheduler.events import EVENT_JOB_MISSED

        self._aps.add_listener(self._missed, EVENT_JOB_MISSED)
        self.arm(config)
        if interval:
            self._aps.add_job(tick, "interval", seconds=interval, id="watchdog")
        self._aps.start()

    def arm(self, config: Config) -> bool:
        """Arm ``config``'s schedule; False if it is the one armed already."""
        armed = Armed.of(config)
        with self._lock:
            if armed == self.armed:
                return False
            trigger = CrontabTrigger(armed.spec, armed.zone, armed.jitter or None)
            if self.armed is None:
                self._aps.add_job(
                    self.on_fire,
                    trigger=trigger,
                    args=("schedule", None),
                    id=SWEEP_JOB,
                    name=SWEEP_JOB,
                    misfire_grace_time=armed.grace,
                )
            else:
                self._aps.modify_job(SWEEP_JOB, misfire_grace_time=armed.grace)
                self._aps.reschedule_job(SWEEP_JOB, trigger=trigger)
            self.armed = armed
        return True

    def catch_up(self, fire: datetime) -> None:
        # No misfire grace: a slow boot must not drop the catch-up it just decided on.
        self._aps.add_job(
            self.on_fire, id="catch-up", args=("catch-up", fire), misfire_grace_time=None
        )

    def pause(self) -> None:
        self._aps.pause()

    def shutdown(self) -> None:
        self._aps.shutdown(wait=True)

    def _missed(self, event: Any) -> None:
        """APScheduler dropped a fire delivered too late (suspend, overload)."""
        if event.job_id != SWEEP_JOB:
            return  # the watchdog tick; a missed tick shows as a missing WATCHDOG=1
        self.on_missed(
            event.scheduled_run_time, self.armed.grace if self.armed else LATE_FIRE_GRACE
        )

    def next_fire(self) -> datetime | None:
        """The next fire time without jitter, from our own schedule math: asking APScheduler
        from a pool thread could deadlock against its shutdown."""
        armed = self.armed
        if armed is None:
            return None
        fires = next_fires(armed.spec, armed.zone, self.clock.now(), 1)
        return fires[0] if fires else None

    def next_fire_text(self) -> str:
        fire = self.next_fire()
        return fire.isoformat(timespec="seconds") if fire else "never"
