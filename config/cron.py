"""Standard 5-field crontab expressions, with crontab's meaning rather than APScheduler's.

APScheduler 3 reads a day-of-week number 0 as Monday (``CronTrigger.from_crontab`` passes the
field straight through), and it ANDs day-of-month with day-of-week where cron ORs them when
both are restricted. A user who copies ``0 3 * * 0`` from their crontab means Sunday, so we
parse the fields ourselves, expand every field to explicit values, and hand APScheduler only
values that mean the same to both.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

SHORTCUTS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
# Indexed from Sunday = 0 like crontab; APScheduler is given these names, never numbers.
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, tuple(_MONTHS), 1),
    # 7 is accepted as a second Sunday, as in every common cron.
    _Field("day-of-week", 0, 7, tuple(_DAYS), 0),
)

_ITEM = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")


class CronError(ValueError):
    """An expression that is not a valid crontab schedule; the message says which field."""


@dataclass(frozen=True)
class CronSpec:
    """A parsed expression: each field as the sorted values it allows."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]  # 0 = Sunday
    # Whether each day field does not start with '*': only when both are restricted does
    # crontab fire on days matching either field instead of both.
    day_restricted: bool
    weekday_restricted: bool
    # Crontab has no seconds; only the test suite sets this, to fire within seconds.
    second: str = "0"

    def trigger(self, zone: tzinfo, jitter: float | None = None) -> BaseTrigger:
        """An APScheduler trigger that fires exactly when crontab would, in ``zone``."""
        from apscheduler.triggers.combining import OrTrigger
        from apscheduler.triggers.cron import CronTrigger

        common = {
            "minute": _join(self.minutes),
            "hour": _join(self.hours),
            "month": _join(self.months),
            "second": self.second,
            "timezone": zone,
        }
        days = "*" if len(self.days) == 31 else _join(self.days)
        weekdays = "*" if len(self.weekdays) == 7 else ",".join(_DAYS[d] for d in self.weekdays)
        if self.day_restricted and self.weekday_restricted:
            # crontab: "either field matches" when neither day field starts with '*'.
            return OrTrigger(
                [
                    CronTrigger(day=days, day_of_week="*", **common),
                    CronTrigger(day="*", day_of_week=weekdays, **common),
                ],
                jitter=jitter,
            )
        return CronTrigger(day=days, day_of_week=weekdays, jitter=jitter, **common)

    def next_after(self, moment: datetime, zone: tzinfo) -> datetime | None:
        """The first fire time strictly after ``moment``; None if the expression never fires."""
        trigger = _cached_trigger(self, zone)
        # Step forward in UTC: wall-clock arithmetic would lose the fold of a repeated
        # (fall-back) hour and ask for the same fire time again forever.
        after = (moment.astimezone(UTC) + timedelta(microseconds=1)).astimezone(zone)
        fire: datetime | None = trigger.get_next_fire_time(None, after)
        # APScheduler may return a wall time that the spring-forward gap skips (02:30 CET on
        # the day there is none); going through UTC names the instant it really fires at.
        return fire.astimezone(UTC).astimezone(zone) if fire is not None else None


@functools.lru_cache(maxsize=64)
def _cached_trigger(spec: CronSpec, zone: tzinfo) -> BaseTrigger:
    # Building a trigger costs far more than asking it for a fire time; schedule math
    # asks hundreds of times in a row.
    return spec.trigger(zone)


def _join(values: tuple[int, ...]) -> str:
    return ",".join(str(v) for v in values)


def parse_cron(expression: str) -> CronSpec:
    """Parse a crontab expression or an ``@daily``-style shortcut."""
    text = expression.strip().lower()
    if text.startswith("@"):
        if text not in SHORTCUTS:
            known = ", ".join(sorted(SHORTCUTS))
            raise CronError(f"unknown shortcut {expression.strip()!r} (known: {known})")
        text = SHORTCUTS[text]
    parts = text.split()
    if len(parts) != 5:
        raise CronError(
            f"{expression!r} has {len(parts)} fields; a crontab schedule has 5: "
            "minute hour day-of-month month day-of-week"
        )
    values = [_parse_field(part, field) for part, field in zip(parts, _FIELDS, strict=True)]
    weekdays = tuple(sorted({d % 7 for d in values[4]}))
    if not _any_day_exists(values[2], values[3]):
        raise CronError(f"{expression!r} never fires: no month has those days")
    return CronSpec(
        expression=expression.strip(),
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        day_restricted=not parts[2].startswith("*"),
        weekday_restricted=not parts[4].startswith("*"),
    )


def _any_day_exists(days: tuple[int, ...], months: tuple[int, ...]) -> bool:
    longest = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30}
    return any(day <= longest.get(month, 31) for month in months for day in days)


def _parse_field(text: str, field: _Field) -> tuple[int, ...]:
    out: set[int] = set()
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            raise CronError(f"{field.name} field {text!r}: cannot read {item!r}")
        range_text, step_text = match.group("range"), match.group("step")
        if range_text == "*":
            low, high = field.low, field.high
        elif "-" in range_text:
            first, last = range_text.split("-")
            low, high = _value(first, field, text), _value(last, field, text)
            if low > high:
                raise CronError(f"{field.name} field {text!r}: range {range_text!r} runs backwards")
        else:
            low = high = _value(range_text, field, text)
            if step_text is not None:
                raise CronError(
                    f"{field.name} field {text!r}: a step needs a range, e.g. "
                    f"'{range_text}-{field.high}/{step_text}' or '*/{step_text}'"
                )
        step = int(step_text) if step_text is not None else 1
        if step < 1:
            raise CronError(f"{field.name} field {text!r}: step must be at least 1")
        out.update(range(low, high + 1, step))
    return tuple(sorted(out))


def _value(token: str, field: _Field, text: str) -> int:
    if token.isdigit():
        number = int(token)
    elif token in field.names:
        number = field.names.index(token) + field.name_base
    else:
        hint = f" (names: {', '.join(field.names)})" if field.names else ""
        raise CronError(f"{field.name} field {text!r}: {token!r} is not a value{hint}")
    if not field.low <= number <= field.high:
        raise CronError(
            f"{field.name} field {text!r}: {number} is outside {field.low}-{field.high}"
        )
    return number
