"""The timeline's time axis: where a moment falls across the plot, and the ticks under it,
labelled in the schedule's zone. Numbers and short strings only, as in charts.py."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from agentd.daemon.output.html.chartkit import r1

# Whole numbers where they can be: a template writes 12.0 as "12.0", on every bar.
WIDTH = 1000
GUTTER = 70  # the lanes' labels, left of the plot
RIGHT = 14
MIN_BAR = 1.5  # a 50 ms task in an 8-hour night would otherwise be no pixel at all
MAX_TICKS = 8
# Tick spacings a reader counts in: seconds up to a day.
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


class Scale:
    """Time to x across the plot; a sweep of no length still gets a width to draw in."""

    def __init__(self, t0: datetime, t1: datetime) -> None:
        self.t0 = t0
        self.width = WIDTH - GUTTER - RIGHT
        self.per_second = self.width / max((t1 - t0).total_seconds(), 1.0)

    def x(self, moment: datetime) -> float:
        return GUTTER + (moment - self.t0).total_seconds() * self.per_second

    def box(self, start: datetime, end: datetime) -> tuple[float, float]:
        """x and width, at least MIN_BAR wide and kept inside the plot."""
        width = max(MIN_BAR, (end - start).total_seconds() * self.per_second)
        x = min(self.x(start), GUTTER + self.width - width)
        return r1(x), r1(width)


def clock(moment: datetime, zone: tzinfo, seconds: bool = False) -> str:
    return moment.astimezone(zone).strftime("%H:%M:%S" if seconds else "%H:%M")


def ticks(t0: datetime, t1: datetime, zone: tzinfo, scale: Scale) -> list[Tick]:
    """Ticks a whole number of steps after local midnight, then a step apart in real time:
    across a change to or from daylight-saving time the labels say the wall clock (01:45,
    03:00) while the spacing stays true to the time that passed."""
    span = (t1 - t0).total_seconds()
    step = next((s for s in STEPS if span / s <= MAX_TICKS), 86400 * math.ceil(span / 86400 / 8))
    local = t0.astimezone(zone)
    since_midnight = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    moment = t0 + timedelta(seconds=-since_midnight % step)
    out = []
    while moment <= t1:
        label = clock(moment, zone, seconds=step < 60)
        out.append(Tick(r1(scale.x(moment)), label))
        moment += timedelta(seconds=step)
    return out
