"""Schedule math with "now" passed in: daylight-saving days and catch-up decisions, as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agentd.config import load_config
from agentd.config.cron import parse_cron
from agentd.daemon.service.schedule import MAX_COUNTED, catch_up, next_fires
from agentd.daemon.service.trigger import CrontabTrigger
from agentd.daemon.sweep.selection import select
from agentd.state import Snapshot

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def _utc(fires: list[datetime]) -> list[str]:
    return [f.astimezone(UTC).strftime("%m-%d %H:%MZ") for f in fires]


def _local(fires: list[datetime]) -> list[str]:
    return [f.isoformat(timespec="minutes") for f in fires]


SYDNEY = ZoneInfo("Australia/Sydney")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
SANTIAGO = ZoneInfo("America/Santiago")

# (zone, start, cron, fire times in local wall time with offsets). A fixed-time expression
# (neither minute nor hour starts with '*') fires once per wall time: inside the gap at the
# gap's end, in a repeated hour at the first occurrence. Any other one follows the clock.
DST = [
    # Berlin springs forward on 2026-03-29 at 02:00 -> 03:00: 02:30 does not exist that
    # day, so the job fires when the gap ends, at 03:00 CEST.
    (
        BERLIN,
        "2026-03-28T12:00",
        "30 2 * * *",
        ["2026-03-29T03:00+02:00", "2026-03-30T02:30+02:00"],
    ),
    # Wall times sharing the gap fire once, at its end.
    (
        BERLIN,
        "2026-03-28T12:00",
        "0,30 2 * * *",
        ["2026-03-29T03:00+02:00", "2026-03-30T02:00+02:00", "2026-03-30T02:30+02:00"],
    ),
    # ... and falls back on 2026-10-25 at 03:00 -> 02:00: 02:30 happens twice; it fires at
    # the first.
    (
        BERLIN,
        "2026-10-24T12:00",
        "30 2 * * *",
        ["2026-10-25T02:30+02:00", "2026-10-26T02:30+01:00"],
    ),
    # A day is a calendar day, not 24 hours: the night after the short day is not lost ...
    (
        BERLIN,
        "2026-03-29T00:00",
        "0 0 * * *",
        ["2026-03-30T00:00+02:00", "2026-03-31T00:00+02:00"],
    ),
    (NEW_YORK, "2026-03-08T00:00", "0 0 * * *", ["2026-03-09T00:00-04:00"]),
    # ... nor the month after a start in early March.
    (BERLIN, "2026-03-07T00:00", "0 0 1 * *", ["2026-04-01T00:00+02:00", "2026-05-01T00:00+02:00"]),
    (
        NEW_YORK,
        "2026-03-07T00:00",
        "0 0 1 * *",
        ["2026-04-01T00:00-04:00", "2026-05-01T00:00-04:00"],
    ),
    # New York springs forward on 2026-03-08 at 02:00 -> 03:00.
    (
        NEW_YORK,
        "2026-03-07T12:00",
        "30 2 * * *",
        ["2026-03-08T03:00-04:00", "2026-03-09T02:30-04:00"],
    ),
    # ... and falls back on 2026-11-01 at 02:00 -> 01:00: 02:30 happens once; 01:30 twice.
    (
        NEW_YORK,
        "2026-10-31T12:00",
        "30 2 * * *",
        ["2026-11-01T02:30-05:00", "2026-11-02T02:30-05:00"],
    ),
    (
        NEW_YORK,
        "2026-10-31T12:00",
        "30 1 * * *",
        ["2026-11-01T01:30-04:00", "2026-11-02T01:30-05:00"],
    ),
    # An hourly job follows the clock: it skips the missing hour and fires twice in the
    # repeated one.
    (
        BERLIN,
        "2026-03-29T00:30",
        "0 * * * *",
        ["2026-03-29T01:00+01:00", "2026-03-29T03:00+02:00", "2026-03-29T04:00+02:00"],
    ),
    (
        BERLIN,
        "2026-10-25T00:30",
        "0 * * * *",
        [
            "2026-10-25T01:00+02:00",
            "2026-10-25T02:00+02:00",
            "2026-10-25T02:00+01:00",
            "2026-10-25T03:00+01:00",
        ],
    ),
    # Sydney, southern hemisphere: back on 2026-04-05 at 03:00 -> 02:00, forward on
    # 2026-10-04 at 02:00 -> 03:00.
    (
        SYDNEY,
        "2026-04-04T12:00",
        "30 2 * * *",
        ["2026-04-05T02:30+11:00", "2026-04-06T02:30+10:00"],
    ),
    (
        SYDNEY,
        "2026-10-03T12:00",
        "30 2 * * *",
        ["2026-10-04T03:00+11:00", "2026-10-05T02:30+11:00"],
    ),
    (
        SYDNEY,
        "2026-04-05T01:30",
        "0 * * * *",
        ["2026-04-05T02:00+11:00", "2026-04-05T02:00+10:00", "2026-04-05T03:00+10:00"],
    ),
    # Lord Howe shifts by 30 minutes: back on 2026-04-05 at 02:00 -> 01:30, forward on
    # 2026-10-04 at 02:00 -> 02:30.
    (
        LORD_HOWE,
        "2026-04-04T12:00",
        "45 1 * * *",
        ["2026-04-05T01:45+11:00", "2026-04-06T01:45+10:30"],
    ),
    (
        LORD_HOWE,
        "2026-10-03T12:00",
        "15 2 * * *",
        ["2026-10-04T02:30+11:00", "2026-10-05T02:15+11:00"],
    ),
    (
        LORD_HOWE,
        "2026-04-05T00:50",
        "*/30 * * * *",
        [
            "2026-04-05T01:00+11:00",
            "2026-04-05T01:30+11:00",
            "2026-04-05T01:30+10:30",
            "2026-04-05T02:00+10:30",
        ],
    ),
    # 02:00 does not exist that day; following the clock, an hourly job skips it.
    (
        LORD_HOWE,
        "2026-10-04T00:30",
        "0 * * * *",
        ["2026-10-04T01:00+10:30", "2026-10-04T03:00+11:00"],
    ),
    # Santiago changes at midnight: forward on 2026-09-06 at 00:00 -> 01:00 (no midnight
    # that day), back on 2026-04-04 at 24:00 -> 23:00 (23:00-24:00 twice).
    (
        SANTIAGO,
        "2026-09-04T12:00",
        "0 0 * * *",
        ["2026-09-05T00:00-04:00", "2026-09-06T01:00-03:00", "2026-09-07T00:00-03:00"],
    ),
    (
        SANTIAGO,
        "2026-04-03T12:00",
        "30 23 * * *",
        ["2026-04-03T23:30-03:00", "2026-04-04T23:30-03:00", "2026-04-05T23:30-04:00"],
    ),
    (
        SANTIAGO,
        "2026-04-04T21:30",
        "0 * * * *",
        [
            "2026-04-04T22:00-03:00",
            "2026-04-04T23:00-03:00",
            "2026-04-04T23:00-04:00",
            "2026-04-05T00:00-04:00",
        ],
    ),
]


@pytest.mark.parametrize(("zone", "start", "cron", "expected"), DST)
def test_fire_times_across_daylight_saving_changes(
    zone: ZoneInfo, start: str, cron: str, expected: list[str]
) -> None:
    moment = datetime.fromisoformat(start).replace(tzinfo=zone)
    fires = next_fires(parse_cron(cron), zone, moment, len(expected))
    assert _local(fires) == expected
    # Every fire is a distinct instant, in order: no loop on the repeated hour.
    assert _utc(fires) == sorted(set(_utc(fires)))


def test_repeated_fall_back_fire_is_a_no_op_for_the_skip_guard(tmp_path: Path) -> None:
    # An expression that follows the clock fires twice in the repeated hour.
    first, second = next_fires(
        parse_cron("30 * * * *"), BERLIN, datetime(2026, 10, 25, 2, 10, tzinfo=BERLIN), 2
    )
    # Compared in UTC: Python compares same-zone datetimes by wall time, ignoring fold.
    assert first.astimezone(UTC) != second.astimezone(UTC)
    # Both fires fall on the same calendar date in the schedule's zone ...
    assert first.date() == second.date() == datetime(2026, 10, 25).date()
    (tmp_path / "p").mkdir()
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        '[schedule]\ntimezone = "Europe/Berlin"\n[tasks.t]\ncommand = ["true"]\n'
        '[[projects]]\nname = "p"\npath = "p"\ntasks = ["t"]\n'
    )
    config = load_config(config_file, {})
    date = second.astimezone(config.zone).date().isoformat()
    # ... so after the first fire's sweep succeeded, the second one selects nothing.
    snapshot = Snapshot({"projects": {"p": {"tasks": {"t": {"status": "ok", "date": date}}}}})
    selection = select(config, snapshot, date)
    assert selection.chosen == []
    assert selection.skipped["p"].startswith("done today")


def _at(text: str, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


CATCH_UP = [
    # (last handled, now, window, mode, expected fire, expected missed)
    ("2026-11-21T02:30", "2026-11-22T05:00", "12h", "once", "2026-11-22T02:30+01:00", 1),
    ("2026-11-18T02:30", "2026-11-22T05:00", "12h", "once", "2026-11-22T02:30+01:00", 4),
    ("2026-11-21T02:30", "2026-11-22T20:00", "12h", "once", None, 1),  # 17.5 h ago: too old
    ("2026-11-21T02:30", "2026-11-22T20:00", "1d", "once", "2026-11-22T02:30+01:00", 1),
    ("2026-11-22T02:30", "2026-11-22T05:00", "12h", "once", None, 0),  # nothing missed
    ("2026-11-21T02:30", "2026-11-22T02:29", "12h", "once", None, 0),  # not due yet
    ("2026-11-21T02:30", "2026-11-22T02:30", "12h", "once", "2026-11-22T02:30+01:00", 1),
    ("2026-11-18T02:30", "2026-11-22T05:00", "12h", "none", None, 4),
    # Across the fall-back night: 02:30 fires once, at its first occurrence, so nothing
    # was missed after it.
    ("2026-10-25T02:31+02:00", "2026-10-25T04:00", "12h", "once", None, 0),
    # Across the spring-forward night: 02:30 did not exist; its fire was at 03:00.
    ("2026-03-28T02:30", "2026-03-29T05:00", "12h", "once", "2026-03-29T03:00+02:00", 1),
]


@pytest.mark.parametrize(("last", "now", "window", "mode", "fire", "missed"), CATCH_UP)
def test_catch_up_decisions(
    last: str, now: str, window: str, mode: str, fire: str | None, missed: int
) -> None:
    from agentd.config.durations import parse_duration

    last_dt = datetime.fromisoformat(last)
    last_dt = last_dt if last_dt.tzinfo else last_dt.replace(tzinfo=BERLIN)
    decision = catch_up(
        parse_cron("30 2 * * *"),
        BERLIN,
        last_dt,
        _at(now),
        timedelta(seconds=parse_duration(window)),
        mode,
    )
    assert (decision.fire.isoformat(timespec="minutes") if decision.fire else None) == fire
    assert decision.missed == missed
    assert decision.reason


def test_catch_up_with_nothing_handled_yet_does_nothing() -> None:
    decision = catch_up(
        parse_cron("30 2 * * *"), BERLIN, None, _at("2026-11-22T05:00"), timedelta(hours=12), "once"
    )
    assert decision.fire is None
    assert decision.missed == 0


def test_catch_up_after_a_long_outage_of_a_frequent_schedule_stays_cheap() -> None:
    now = _at("2026-11-22T05:00")
    decision = catch_up(
        parse_cron("* * * * *"), BERLIN, now - timedelta(days=30), now, timedelta(hours=1), "once"
    )
    assert decision.missed == MAX_COUNTED
    assert decision.fire == now  # 05:00 itself is a fire time
    assert "1000+" in decision.reason


def test_jitter_delays_each_fire_by_zero_to_jitter() -> None:
    spec = parse_cron("30 2 * * *")
    after = datetime(2026, 11, 22, 12, tzinfo=BERLIN)
    nominal = spec.next_after(after, BERLIN)
    assert nominal is not None
    trigger = CrontabTrigger(spec, BERLIN, 600)
    delays = {
        (trigger.get_next_fire_time(None, after) - nominal).total_seconds() for _ in range(50)
    }
    assert all(0 <= d <= 600 for d in delays)
    assert len(delays) > 1  # random, not a fixed offset


# (zone, start, cron): the daemon's trigger across a change, as APScheduler drives it.
TRIGGER = [
    (BERLIN, "2026-03-28T12:00", "30 2 * * *"),
    (BERLIN, "2026-10-24T12:00", "30 2 * * *"),
    (BERLIN, "2026-10-25T00:30", "0 * * * *"),
    (NEW_YORK, "2026-03-07T00:00", "0 0 1 * *"),
    (LORD_HOWE, "2026-04-05T00:50", "*/30 * * * *"),
    (SANTIAGO, "2026-09-04T12:00", "0 0 * * *"),
    (SANTIAGO, "2026-04-04T21:30", "0 * * * *"),
]


def _drive(trigger: Any, start: datetime, count: int) -> list[datetime]:
    # First asked with no previous fire, then after each fire it ran, at that fire time.
    fires: list[datetime] = []
    previous, now = None, start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        fires.append(fire)
        previous = now = fire
    return fires


@pytest.mark.parametrize(("zone", "start", "cron"), TRIGGER)
def test_the_daemon_trigger_fires_at_the_scheduled_instants(
    zone: ZoneInfo, start: str, cron: str
) -> None:
    spec = parse_cron(cron)
    moment = datetime.fromisoformat(start).replace(tzinfo=zone)
    expected = next_fires(spec, zone, moment, 6)
    fires = _drive(CrontabTrigger(spec, zone), moment, 6)
    assert _local(fires) == _local(expected)
    assert _utc(fires) == _utc(expected)
    # With jitter each fire is 0..jitter after its scheduled instant, counted in real time
    # (adding to a wall time would drop the fold of a repeated hour).
    jitter = 600
    for _ in range(5):
        jittered = _drive(CrontabTrigger(spec, zone, jitter), moment, 6)
        delays = [
            (fire.astimezone(UTC) - nominal.astimezone(UTC)).total_seconds()
            for fire, nominal in zip(jittered, expected, strict=True)
        ]
        assert all(0 <= d <= jitter for d in delays), delays
        assert all(fire.tzinfo is zone for fire in jittered)


def test_the_daemon_trigger_catches_up_from_an_old_previous_fire() -> None:
    # APScheduler asks with the previous fire long past to list the fires it missed.
    spec = parse_cron("30 2 * * *")
    trigger = CrontabTrigger(spec, BERLIN)
    previous = datetime(2026, 10, 24, 2, 30, tzinfo=BERLIN)
    now = datetime(2026, 10, 27, 12, tzinfo=BERLIN)
    missed = []
    fire = trigger.get_next_fire_time(previous, now)
    while fire is not None and fire <= now:
        missed.append(fire)
        fire = trigger.get_next_fire_time(fire, now)
    assert _local(missed) == [
        "2026-10-25T02:30+02:00",
        "2026-10-26T02:30+01:00",
        "2026-10-27T02:30+01:00",
    ]
    assert fire is not None
    assert _local([fire]) == ["2026-10-28T02:30+01:00"]
