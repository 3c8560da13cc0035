"""Fire times compared with an independent cron implementation, across daylight saving.

cronsim implements Debian cron's rules (see ``config/cron.py``): a fixed-time expression
fires once per wall time, at the end of the gap for a wall time that does not exist; any
other expression follows the clock. Every expression below is asked for its fires from a
few days before each daylight-saving change of 2026 and 2027, in zones of both
hemispheres, one with a 30-minute shift, two whose clocks change at midnight, and UTC;
the instants must be the same.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import cronsim  # a dev dependency: without its oracle this test must fail, not skip
import pytest

from agentd.config.cron import SHORTCUTS, parse_cron

EXPRESSIONS = [
    # daily, at times inside, around and outside every zone's gap and repeated hour
    "30 2 * * *",
    "0 2 * * *",
    "59 1 * * *",
    "30 1 * * *",
    "15 2 * * *",
    "45 1 * * *",
    "0 3 * * *",
    "0 0 * * *",
    "30 0 * * *",
    "0 23 * * *",
    "30 23 * * *",
    "0 12 * * *",
    "@daily",
    "@midnight",
    # several wall times a night, some of them in a gap together
    "0,30 1-3 * * *",
    "15,45 0,1,2,3 * * *",
    "0 1-4 * * *",
    "0 0-23/2 * * *",
    # following the clock: hourly, every N minutes, every N hours
    "0 * * * *",
    "30 * * * *",
    "@hourly",
    "*/15 * * * *",
    "*/20 * * * *",
    "5,35 * * * *",
    "*/10 2 * * *",
    "0 */2 * * *",
    "0 */3 * * *",
    "30 */4 * * *",
    "0 */6 * * *",
    "15 */12 * * *",
    # specific days of the month
    "0 0 1 * *",
    "@monthly",
    "30 2 1 * *",
    "0 0 15 * *",
    "0 3 1,15 * *",
    "0 0 31 * *",
    "0 2 28-31 * *",
    "0 0 29 2 *",
    # weekdays
    "0 3 * * 0",
    "30 2 * * mon-fri",
    "0 0 * * sat,sun",
    "@weekly",
    "0 2 * * 1,3,5",
    "0 0 * * */3",
    # both day fields restricted: either matches
    "0 6 1 * mon",
    "0 0 30 2 mon",
    "30 2 13 * fri",
    "0 0 1,15 * 0",
    # a '*'-led day field: both must match
    "0 6 */1 * mon",
    "0 0 */10 * sun",
    # months
    "@yearly",
    "0 0 * mar,apr,oct,nov *",
    "0 2 * 3-4,9-11 *",
    "30 2 1 */3 *",
]

# The days each zone's offset changes in 2026 and 2027, from the tz database;
# test_the_change_days_are_real keeps this table honest when tzdata moves.
CHANGES = {
    # northern hemisphere: forward in March, back in October / November
    "Europe/Berlin": ["2026-03-29", "2026-10-25", "2027-03-28", "2027-10-31"],
    "America/New_York": ["2026-03-08", "2026-11-01", "2027-03-14", "2027-11-07"],
    # southern hemisphere: back in April, forward in October
    "Australia/Sydney": ["2026-04-05", "2026-10-04", "2027-04-04", "2027-10-03"],
    # half an hour each way
    "Australia/Lord_Howe": ["2026-04-05", "2026-10-04", "2027-04-04", "2027-10-03"],
    # at midnight: 23:00-24:00 happens twice in April, 00:00-01:00 never in September
    "America/Santiago": ["2026-04-04", "2026-09-06", "2027-04-03", "2027-09-05"],
    # forward at midnight (00:00-01:00 never), back at 01:00 (00:00-01:00 twice)
    "America/Havana": ["2026-03-08", "2026-11-01", "2027-03-14", "2027-11-07"],
    # no change at all: the dates are Berlin's
    "UTC": ["2026-03-29", "2026-10-25", "2027-03-28", "2027-10-31"],
}

# Differences agreed with cronsim. Each is checked to still differ, and our fires are checked
# against a minute-by-minute scan of the clock
# (test_fires_that_follow_the_clock_are_when_it_shows_their_time).
_HALF_HOUR = (
    "cronsim follows the clock for this expression by stepping whole hours from a wall time, "
    "which lands on the half hour after Lord Howe's 30-minute change and skips wall times the "
    "clock does show on that day"
)
AGREED: dict[tuple[str, str], str] = {
    # fall-back day: the clock shows 01:30 twice, cronsim fires at the first only;
    # spring-forward day: the clock jumps to 02:30+11:00, cronsim waits for 03:30
    ("30 * * * *", "Australia/Lord_Howe"): _HALF_HOUR,
    # fall-back day: ours 02:00+10:30, cronsim 04:00
    ("0 */2 * * *", "Australia/Lord_Howe"): _HALF_HOUR,
    # fall-back day: ours 02:00, 02:10, 02:20 (+10:30), cronsim from 02:30
    ("*/10 2 * * *", "Australia/Lord_Howe"): _HALF_HOUR,
    # both change days: ours 03:00 / 06:00 / 12:15, cronsim the one after
    ("0 */3 * * *", "Australia/Lord_Howe"): _HALF_HOUR,
    ("0 */6 * * *", "Australia/Lord_Howe"): _HALF_HOUR,
    ("15 */12 * * *", "Australia/Lord_Howe"): _HALF_HOUR,
}

MIN_FIRES = 30


def _starts(zone: ZoneInfo, change: date) -> list[datetime]:
    # Noon three days before, and the midnight before the change day (which exists in
    # every zone here, since no change happens on the day before another).
    return [
        datetime.combine(change - timedelta(days=3), time(12), tzinfo=zone),
        datetime.combine(change - timedelta(days=1), time(0), tzinfo=zone),
    ]


def _ours(expression: str, zone: ZoneInfo, start: datetime, until: datetime) -> list[datetime]:
    spec = parse_cron(expression)
    out: list[datetime] = []
    moment = start
    while len(out) < MIN_FIRES or out[-1] < until:
        fire = spec.next_after(moment, zone)
        assert fire is not None
        out.append(fire.astimezone(UTC))
        moment = fire
    return out


def _cronsim(expression: str, start: datetime, count: int) -> list[datetime]:
    text = SHORTCUTS.get(expression, expression)
    fires = cronsim.CronSim(text, start)
    # cronsim answers in the start's zone, fold set; UTC compares instants.
    return [next(fires).astimezone(UTC) for _ in range(count)]


def _differences(expression: str, zone_name: str) -> list[str]:
    zone = ZoneInfo(zone_name)
    out = []
    for change_text in CHANGES[zone_name]:
        change = date.fromisoformat(change_text)
        until = datetime.combine(change + timedelta(days=2), time(), tzinfo=zone)
        for start in _starts(zone, change):
            ours = _ours(expression, zone, start, until)
            theirs = _cronsim(expression, start, len(ours))
            if ours != theirs:
                first = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b)
                out.append(
                    f"{expression!r} in {zone_name} after {start.isoformat()}: fire {first} is "
                    f"{ours[first].astimezone(zone).isoformat()}, cronsim says "
                    f"{theirs[first].astimezone(zone).isoformat()}"
                )
    return out


@pytest.mark.parametrize("zone_name", sorted(CHANGES))
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_fire_times_match_cronsim(expression: str, zone_name: str) -> None:
    differences = _differences(expression, zone_name)
    if (expression, zone_name) in AGREED:
        # Still different, or the entry goes; the clock scan shows which side is right.
        assert differences, f"cronsim agrees now: drop {expression!r} from AGREED"
    else:
        assert differences == []


def test_the_set_is_as_broad_as_promised() -> None:
    assert len(EXPRESSIONS) >= 45
    assert len(set(EXPRESSIONS)) == len(EXPRESSIONS)
    assert {"Australia/Sydney", "Australia/Lord_Howe", "America/Santiago", "UTC"} <= set(CHANGES)


@pytest.mark.parametrize("zone_name", sorted(set(CHANGES) - {"UTC"}))
def test_the_change_days_are_real(zone_name: str) -> None:
    # The local day of the first instant after each offset change in 2026 and 2027.
    zone = ZoneInfo(zone_name)
    moment, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    days = []
    while moment < end:
        following = moment + timedelta(minutes=30)
        if following.astimezone(zone).utcoffset() != moment.astimezone(zone).utcoffset():
            days.append(following.astimezone(zone).date().isoformat())
        moment = following
    assert days == CHANGES[zone_name]


def _clock_scan(
    expression: str, zone: ZoneInfo, start: datetime, until: datetime
) -> list[datetime]:
    """Every minute at which the zone's clock shows a time the expression allows.

    This is the definition of an expression that follows the clock; the fields are read by
    cronsim, so the oracle shares nothing with config/cron.py.
    """
    fields = cronsim.CronSim(SHORTCUTS.get(expression, expression), start)
    moment = start.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    out = []
    while moment <= until:
        local = moment.astimezone(zone)
        if (
            local.minute in fields.minutes
            and local.hour in fields.hours
            and local.month in fields.months
            and fields.match_day(local.date())
        ):
            out.append(moment)
        moment += timedelta(minutes=1)
    return out


_FOLLOWING_THE_CLOCK = [e for e in EXPRESSIONS if not parse_cron(e).fixed_time]


@pytest.mark.parametrize(
    ("expression", "zone_name"),
    sorted(
        set(AGREED)
        | {
            (e, z)
            for e in _FOLLOWING_THE_CLOCK
            for z in ("Australia/Lord_Howe", "America/Santiago")
        }
    ),
)
def test_fires_that_follow_the_clock_are_when_it_shows_their_time(
    expression: str, zone_name: str
) -> None:
    assert not parse_cron(expression).fixed_time  # the clock scan is the rule only for these
    zone = ZoneInfo(zone_name)
    for change_text in CHANGES[zone_name]:
        change = date.fromisoformat(change_text)
        start = datetime.combine(change - timedelta(days=1), time(0), tzinfo=zone)
        until = datetime.combine(change + timedelta(days=2), time(), tzinfo=zone)
        ours = [f for f in _ours(expression, zone, start, until) if f <= until]
        assert ours == _clock_scan(expression, zone, start, until)


def test_both_day_fields_restricted_fire_on_either_as_in_cronsim() -> None:
    # Feb 30 never exists, so `0 0 30 2 mon` is every Monday in February.
    zone = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 1, 1, tzinfo=zone)
    ours = _ours("0 0 30 2 mon", zone, start, start)
    assert ours == _cronsim("0 0 30 2 mon", start, len(ours))
    local = [f.astimezone(zone) for f in ours]
    assert all(f.month == 2 and f.weekday() == 0 for f in local)
    assert local[0].date() == date(2026, 2, 2)
    assert len([f for f in local if f.year == 2026]) == 4
