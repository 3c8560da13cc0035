"""The daemon's APScheduler trigger: APScheduler keeps the time, ``CronSpec`` says when.

A module of its own so that parsing a schedule (``config check``, ``status``) does not
import APScheduler.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from apscheduler.triggers.base import BaseTrigger

if TYPE_CHECKING:
    from agentd.config.cron import CronSpec

_TICK = timedelta(microseconds=1)


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler ships no types
    """Fires at ``spec.next_after`` instants, so the daemon fires exactly when ``agentd
    schedule`` says it will, each plus a random 0..jitter seconds."""

    __slots__ = ("jitter", "spec", "zone")

    def __init__(self, spec: CronSpec, zone: tzinfo, jitter: float | None = None) -> None:
        self.spec = spec
        self.zone = zone
        self.jitter = jitter

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # As APScheduler's own triggers: the first fire at or after ``now``, or, while it
        # works through fires it missed, the first one after the previous (jittered) fire.
        # Counted in UTC: a zone's wall-clock arithmetic drops the fold of a repeated hour.
        start = now.astimezone(UTC)
        if previous_fire_time is not None:
            previous = previous_fire_time.astimezone(UTC)
            start = min(start, previous + _TICK)
            if start == previous:
                start += _TICK
        fire = self.spec.next_after(start - _TICK, self.zone)
        if fire is None:
            return None
        # Jitter too is added in UTC, or it could move a fire by the size of the shift.
        jittered: datetime = self._apply_jitter(fire.astimezone(UTC), self.jitter, now)
        return jittered.astimezone(self.zone)

    def __str__(self) -> str:
        return f"crontab[{self.spec.expression}, {self.zone}]"

    def __repr__(self) -> str:
        zone, jitter = self.zone, self.jitter
        return f"<CrontabTrigger ({self.spec.expression!r}, {zone=!s}, {jitter=})>"
