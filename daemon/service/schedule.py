"""Schedule math: next fire times, the fire a run belongs to, and the catch-up decision.

Pure functions of (spec, zone, last, now): no clock is read here, so the daylight-saving
days are tested with plain tables instead of patched clocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from agentd.config.cron import CronSpec

# A per-minute schedule and a month of downtime would be 43,200 missed fires; counting
# stops here because "1000+" says all there is to say.
MAX_COUNTED = 1000


def next_fires(spec: CronSpec, zone: tzinfo, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after``, as wall-clock times in ``zone``."""
    out: list[datetime] = []
    moment = after
    while len(out) < count:
        fire = spec.next_after(moment, zone)
        if fire is None:
            break
        out.append(fire.astimezone(zone))
        moment = fire
    return out


@dataclass(frozen=True)
class CatchUp:
    fire: datetime | None  # the missed fire to run one sweep for now, or None
    missed: int  # fire times missed since the last one handled (capped at MAX_COUNTED)
    reason: str  # why, for the log and `agentd status`


def catch_up(
    spec: CronSpec,
    zone: tzinfo,
    last_handled: datetime | None,
    now: datetime,
    window: timedelta,
    mode: str,
) -> CatchUp:
    """Decide at start-up whether to run one sweep for fires missed while agentd was down."""
    if last_handled is None:
        return CatchUp(None, 0, "no fire handled before: nothing to catch up")
    missed = 0
    fire = spec.next_after(last_handled, zone)
    while fire is not None and fire <= now and missed < MAX_COUNTED:
        missed += 1
        fire = spec.next_after(fire, zone)
    if missed == 0:
        return CatchUp(None, 0, "no fire was missed")
    count = f"{missed}+" if missed == MAX_COUNTED else str(missed)
    if mode == "none":
        return CatchUp(None, missed, f"{count} fire(s) missed, not caught up: catch_up = none")
    # Only a missed fire inside the window can be caught up, so only the window is walked.
    latest = None
    fire = spec.next_after(max(last_handled, now - window - timedelta(seconds=1)), zone)
    while fire is not None and fire <= now:
        latest = fire
        fire = spec.next_after(fire, zone)
    if latest is None or now - latest > window:
        return CatchUp(
            None, missed, f"{count} fire(s) missed, all older than catch_up_window: not caught up"
        )
    latest = latest.astimezone(zone)
    return CatchUp(latest, missed, f"{count} fire(s) missed, the latest at {latest.isoformat()}")
