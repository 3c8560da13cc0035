"""Crontab parsing with crontab's meaning, and duration strings; pure tables."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agentd.config.cron import CronError, parse_cron
from agentd.config.durations import format_duration, parse_duration

BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")


def _next(expr: str, after: str, zone: ZoneInfo = UTC, count: int = 1) -> list[str]:
    spec = parse_cron(expr)
    moment = datetime.fromisoformat(after).replace(tzinfo=zone)
    out = []
    for _ in range(count):
        fire = spec.next_after(moment, zone)
        assert fire is not None
        out.append(fire.astimezone(zone).strftime("%a %Y-%m-%d %H:%M"))
        moment = fire
    return out


# 2026-11-22 is a Sunday.
@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("0 3 * * 0", "2026-11-18 12:00", ["Sun 2026-11-22 03:00"]),
        ("0 3 * * 7", "2026-11-18 12:00", ["Sun 2026-11-22 03:00"]),
        ("0 3 * * sun", "2026-11-18 12:00", ["Sun 2026-11-22 03:00"]),
        ("0 3 * * SUN", "2026-11-18 12:00", ["Sun 2026-11-22 03:00"]),
        ("0 3 * * 1", "2026-11-18 12:00", ["Mon 2026-11-23 03:00"]),
        ("0 3 * * mon-fri", "2026-11-20 12:00", ["Mon 2026-11-23 03:00"]),
        (
            "0 3 * * 5-7",
            "2026-11-19 12:00",
            ["Fri 2026-11-20 03:00", "Sat 2026-11-21 03:00", "Sun 2026-11-22 03:00"],
        ),
        (
            "0 3 * * 0-2",
            "2026-11-21 12:00",
            ["Sun 2026-11-22 03:00", "Mon 2026-11-23 03:00", "Tue 2026-11-24 03:00"],
        ),
        (
            "0 3 * * */3",
            "2026-11-21 12:00",
            ["Sun 2026-11-22 03:00", "Wed 2026-11-25 03:00", "Sat 2026-11-28 03:00"],
        ),
        ("30 2 * * *", "2026-11-22 02:30", ["Mon 2026-11-23 02:30"]),  # strictly after
        (
            "*/20 9 * * *",
            "2026-11-22 09:15",
            ["Sun 2026-11-22 09:20", "Sun 2026-11-22 09:40", "Mon 2026-11-23 09:00"],
        ),
        ("0 0 1 jan *", "2026-11-22 00:00", ["Fri 2027-01-01 00:00"]),
        ("0 0 * feb-mar *", "2026-11-22 00:00", ["Mon 2027-02-01 00:00"]),
        ("@daily", "2026-11-22 10:00", ["Mon 2026-11-23 00:00"]),
        ("@midnight", "2026-11-22 10:00", ["Mon 2026-11-23 00:00"]),
        ("@hourly", "2026-11-22 10:00", ["Sun 2026-11-22 11:00"]),
        ("@weekly", "2026-11-22 10:00", ["Sun 2026-11-29 00:00"]),
        ("@monthly", "2026-11-22 10:00", ["Tue 2026-12-01 00:00"]),
        ("@yearly", "2026-11-22 10:00", ["Fri 2027-01-01 00:00"]),
        ("@annually", "2026-11-22 10:00", ["Fri 2027-01-01 00:00"]),
        # crontab ORs day-of-month and day-of-week when both are restricted: the 1st, or Mondays
        (
            "0 6 1 * mon",
            "2026-11-22 12:00",
            ["Mon 2026-11-23 06:00", "Mon 2026-11-30 06:00", "Tue 2026-12-01 06:00"],
        ),
        # ... but a '*'-led day field leaves only the other one in force
        (
            "0 6 */1 * mon",
            "2026-11-22 12:00",
            ["Mon 2026-11-23 06:00", "Mon 2026-11-30 06:00", "Mon 2026-12-07 06:00"],
        ),
        ("0 0 29 2 *", "2026-11-22 00:00", ["Tue 2028-02-29 00:00"]),
        # 2100 is no leap year: eight years without a Feb 29
        ("0 0 29 2 *", "2096-03-01 00:00", ["Fri 2104-02-29 00:00"]),
        # Feb 30 never exists, but with both day fields restricted Mondays still fire
        (
            "0 0 30 2 mon",
            "2026-11-22 00:00",
            [
                "Mon 2027-02-01 00:00",
                "Mon 2027-02-08 00:00",
                "Mon 2027-02-15 00:00",
                "Mon 2027-02-22 00:00",
                "Mon 2028-02-07 00:00",
            ],
        ),
        ("0 0 31 2,4 fri", "2026-11-22 00:00", ["Fri 2027-02-05 00:00"]),
    ],
)
def test_next_fire_times(expr: str, after: str, expected: list[str]) -> None:
    assert _next(expr, after, count=len(expected)) == expected


def test_fire_times_are_in_the_given_zone() -> None:
    assert _next("30 2 * * *", "2026-11-22 03:00", BERLIN) == ["Mon 2026-11-23 02:30"]
    fire = parse_cron("30 2 * * *").next_after(datetime(2026, 11, 22, 3, tzinfo=BERLIN), BERLIN)
    assert fire is not None
    assert fire.utcoffset() is not None
    assert fire.astimezone(UTC).hour == 1  # 02:30 CET is 01:30 UTC


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("61 * * * *", "61 is outside 0-59"),
        ("* 24 * * *", "24 is outside 0-23"),
        ("* * 0 * *", "0 is outside 1-31"),
        ("* * * 13 *", "13 is outside 1-12"),
        ("* * * * 8", "8 is outside 0-7"),
        ("* * * * 5-1", "runs backwards"),
        ("* * * * *  *", "has 6 fields"),
        ("", "has 0 fields"),
        ("* * * foo *", "'foo' is not a value"),
        ("*/0 * * * *", "step must be at least 1"),
        ("5/10 * * * *", "a step needs a range"),
        ("@reboot", "unknown shortcut"),
        ("0 0 31 2 *", "never fires"),
        ("0 0 30 2 *", "never fires"),
        # a '*'-led weekday field means both must match: still Feb 30
        ("0 0 30 2 */1", "never fires"),
        ("1,,2 * * * *", "cannot read"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expr: str, words: str) -> None:
    with pytest.raises(CronError, match=words):
        parse_cron(expr)


@pytest.mark.parametrize(
    ("expr", "fixed"),
    [
        ("30 2 * * *", True),
        ("@daily", True),
        ("0,30 1-3 * * *", True),
        ("0 0-23/2 * * *", True),  # a range, not '*': still fixed times
        ("0 * * * *", False),
        ("@hourly", False),
        ("*/15 * * * *", False),
        ("0 */2 * * *", False),
        ("*/10 2 * * *", False),
    ],
)
def test_which_daylight_saving_rule_an_expression_follows(expr: str, fixed: bool) -> None:
    # Fixed times fire once per wall time (in a gap: when it ends); the rest follow the clock.
    assert parse_cron(expr).fixed_time is fixed


def test_the_test_only_seconds_field_follows_the_clock() -> None:
    spec = dataclasses.replace(parse_cron("30 2 * * *"), second="*/20")
    out = []
    moment = datetime(2026, 3, 28, 12, tzinfo=BERLIN)
    for _ in range(4):
        fire = spec.next_after(moment, BERLIN)
        assert fire is not None
        out.append(fire.isoformat())
        moment = fire
    # 02:30 does not exist on 2026-03-29, and a test schedule does not fire in the gap.
    assert out == [
        "2026-03-30T02:30:00+02:00",
        "2026-03-30T02:30:20+02:00",
        "2026-03-30T02:30:40+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    with pytest.raises(CronError, match="second field"):
        dataclasses.replace(spec, second="61").next_after(moment, BERLIN)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("10m", 600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("0s", 0),
        ("1.5s", 1.5),
        ("250ms", 0.25),
        (" 5M ", 300),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "10x", "1h1h", "-5s", "5 s", "1m30"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|twice"):
        parse_duration(text)


def test_format_duration_is_readable() -> None:
    assert format_duration(5400) == "1h30m"
    assert format_duration(0.25) == "250ms"
    assert format_duration(90061) == "1d1h1m1s"
