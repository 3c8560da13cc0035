"""Standard 5-field crontab expressions, with crontab's meaning, and their fire times.

Fire times are computed here, not by APScheduler's ``CronTrigger``: that one reads a
day-of-week number 0 as Monday, ANDs the two day fields where cron ORs them, and adds a day
as 24 hours, which loses the night after a spring-forward day, loses April after a start in
early March, and fires a repeated fall-back wall time twice. Walking calendar days in the
zone, and resolving each wall time by one rule, is right by construction; APScheduler only
keeps the time (``agentd.daemon.service.trigger``).

The rules are Debian cron's, which cronsim implements and
``tests/test_cron_differential.py`` holds us to:

- a *fixed-time* expression (neither the minute nor the hour field starts with ``*``) names
  wall-clock times: one inside the spring-forward gap fires when the gap ends, one that
  occurs twice fires at its first occurrence, and wall times landing on one instant fire
  once;
- any other expression (``0 * * * *``, ``*/15 * * * *``, ``0 */2 * * *``, or one with the
  test-only seconds field) follows real time: it fires whenever the clock shows a matching
  time, so never inside the gap, and twice in a repeated hour.
"""

from __future__ import annotations

import calendar
import functools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

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
# Indexed from Sunday = 0 like crontab.
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

# The Gregorian calendar, weekdays included, repeats every 400 years: a schedule that does
# not fire within that never fires. `0 0 29 2 *` can wait 8 years (2096 to 2104).
HORIZON_YEARS = 400

_ONE_DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)


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
_SECONDS_FIELD = _Field("second", 0, 59)

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
    # Neither the minute nor the hour field starts with '*': Debian cron then treats the
    # expression as naming wall-clock times rather than following the clock (module doc).
    fixed_time: bool = True
    # Crontab has no seconds; only the test suite sets this (a seconds field such as "*/2")
    # to fire within seconds.
    second: str = "0"

    def next_after(self, moment: datetime, zone: tzinfo) -> datetime | None:
        """The first fire time strictly after ``moment``, in ``zone``; None if it never fires."""
        plan = self._plan
        instant = moment.astimezone(UTC)
        local = instant.astimezone(zone)
        today = local.date()
        start = today
        if _shifts(zone, today - _ONE_DAY) or _shifts(zone, today):
            # A fall-back across midnight can put fires dated yesterday after ``moment``.
            start = today - _ONE_DAY
        best: datetime | None = None
        best_day = today
        for day in plan.days_from(start):
            if best is not None:
                # Only the day after the best one can hold an earlier instant, and only when
                # the clock goes back across the midnight between them.
                if day == best_day + _ONE_DAY and (_shifts(zone, best_day) or _shifts(zone, day)):
                    fire = _first_on(plan, zone, day, instant, local)
                    if fire is not None and fire < best:
                        best = fire
                break
            best = _first_on(plan, zone, day, instant, local)
            best_day = day
        return best.astimezone(zone) if best is not None else None

    @functools.cached_property
    def _plan(self) -> _Plan:
        # Built once per spec: schedule math asks for hundreds of fire times in a row.
        either = self.day_restricted and self.weekday_restricted
        seconds = _parse_field(self.second.strip().lower(), _SECONDS_FIELD)
        return _Plan(
            hours=self.hours,
            minutes=self.minutes,
            seconds=seconds,
            months=frozenset(self.months),
            days=self.days,
            day_set=frozenset(self.days),
            weekdays=frozenset(self.weekdays),
            either_day=either,
            # A seconds field is not crontab, so Debian's fixed-time rule does not apply (nor
            # does cronsim apply it to 6-field expressions): the clock is followed.
            fixed_time=self.fixed_time and seconds == (0,),
        )


@dataclass(frozen=True)
class _Plan:
    """A spec in the shape the fire-time search needs: sets to test days, sorted times."""

    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    seconds: tuple[int, ...]
    months: frozenset[int]
    days: tuple[int, ...]
    day_set: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    either_day: bool
    fixed_time: bool

    def matches(self, day: date) -> bool:
        in_days = day.day in self.day_set
        in_weekdays = (day.weekday() + 1) % 7 in self.weekdays
        return (in_days or in_weekdays) if self.either_day else (in_days and in_weekdays)

    def days_from(self, start: date) -> Iterator[date]:
        """Matching calendar days from ``start`` on, for HORIZON_YEARS.

        Month by month, so that an excluded month costs one test and, with AND, only the
        listed days are looked at: ``0 0 29 2 *`` costs one test a year.
        """
        year, month, first = start.year, start.month, start.day
        last_year = min(year + HORIZON_YEARS, date.max.year)
        while year <= last_year:
            if month in self.months:
                length = calendar.monthrange(year, month)[1]
                numbers = (
                    range(first, length + 1)
                    if self.either_day
                    else self.days[bisect_left(self.days, first) :]
                )
                for number in numbers:
                    if number > length:
                        break
                    day = date(year, month, number)
                    if self.matches(day):
                        yield day
            first = 1
            month += 1
            if month == 13:
                year, month = year + 1, 1

    def time_after(self, hour: int, minute: int, second: int) -> time | None:
        """The first allowed time of day strictly after the one given, or None.

        Bisecting each sorted field, not listing the day's times: on a day without an
        offset change that is all a fire time needs, and ``* * * * *`` has 1,440 of them.
        """
        hours, minutes, seconds = self.hours, self.minutes, self.seconds
        i = bisect_left(hours, hour)
        if i < len(hours) and hours[i] == hour:
            j = bisect_left(minutes, minute)
            if j < len(minutes) and minutes[j] == minute:
                k = bisect_right(seconds, second)
                if k < len(seconds):
                    return time(hour, minute, seconds[k])
                j += 1
            if j < len(minutes):
                return time(hour, minutes[j], seconds[0])
            i += 1
        if i < len(hours):
            return time(hours[i], minutes[0], seconds[0])
        return None

    def times(self) -> Iterator[time]:
        """Every allowed time of day, for a day with a change, where each needs resolving."""
        for hour in self.hours:
            for minute in self.minutes:
                for second in self.seconds:
                    yield time(hour, minute, second)


def _first_on(
    plan: _Plan, zone: tzinfo, day: date, instant: datetime, local: datetime
) -> datetime | None:
    """The first fire on calendar ``day`` strictly after ``instant``, in UTC.

    Instants, not wall times, are compared: in a repeated hour, wall times do not tell
    which of two instants comes first.
    """
    if _shifts(zone, day):
        instants = _day_instants(plan, zone, day)
        i = bisect_right(instants, instant)
        return instants[i] if i < len(instants) else None
    # One offset all day: wall times and instants are in the same order, one to one.
    if day < local.date():
        return None
    if day == local.date():
        wall = plan.time_after(local.hour, local.minute, local.second)
    else:
        wall = time(plan.hours[0], plan.minutes[0], plan.seconds[0])
    if wall is None:
        return None
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def _shifts(zone: tzinfo, day: date) -> bool:
    """Whether the zone's offset changes during ``day`` (or at either midnight).

    Only on such a day are wall times and instants not one to one; every other day is
    answered by bisecting the fields.
    """
    midnight = datetime.combine(day, time())
    offsets = {
        zone.utcoffset(moment.replace(fold=fold))
        for moment in (midnight, midnight + _ONE_DAY)
        for fold in (0, 1)
    }
    return len(offsets) > 1


@functools.lru_cache(maxsize=256)
def _day_instants(plan: _Plan, zone: tzinfo, day: date) -> tuple[datetime, ...]:
    """Every fire instant of a day with an offset change, in UTC, sorted, each once.

    Only these days enumerate every candidate time; two a year in most zones.
    """
    out: set[datetime] = set()
    for wall_time in plan.times():
        wall = datetime.combine(day, wall_time)
        if plan.fixed_time:
            out.add(_first_occurrence(wall, zone))
            continue
        for fold in (0, 1):
            moment = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
            if _exists(moment, wall, zone):
                out.add(moment)
    return tuple(sorted(out))


def _exists(moment: datetime, wall: datetime, zone: tzinfo) -> bool:
    return moment.astimezone(zone).replace(tzinfo=None) == wall


def _first_occurrence(wall: datetime, zone: tzinfo) -> datetime:
    """Debian cron's instant for a wall time: the first one, or the end of the gap."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _exists(first, wall, zone):
        return first
    # In the gap, fold=0 reads the wall time with the offset from before the change (an
    # instant after it) and fold=1 with the one after (an instant before it); the change
    # lies between, found to the second.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = first
    offset = before.astimezone(zone).utcoffset()
    while after - before > _SECOND:
        middle = before + (after - before) // 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == offset:
            before = middle
        else:
            after = middle
    return after


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
    day_restricted = not parts[2].startswith("*")
    weekday_restricted = not parts[4].startswith("*")
    # With both day fields restricted a day matching either fires, and every month has
    # every weekday; otherwise both must match, and the days must exist in some month.
    either_day = day_restricted and weekday_restricted
    if not either_day and not _any_day_exists(values[2], values[3]):
        raise CronError(f"{expression!r} never fires: no month has those days")
    return CronSpec(
        expression=expression.strip(),
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        day_restricted=day_restricted,
        weekday_restricted=weekday_restricted,
        fixed_time=not parts[0].startswith("*") and not parts[1].startswith("*"),
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
