"""Schedule math with "now" passed in: daylight-saving days and catch-up decisions, as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config import load_config
from config.cron import parse_cron
from daemon.schedule import MAX_COUNTED, catch_up, next_fires
from daemon.selection import select
from state import Snapshot

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def _utc(fires: list[datetime]) -> list[str]:
    return [f.astimezone(UTC).strftime("%m-%d %H:%MZ") for f in fires]


def _local(fires: list[datetime]) -> list[str]:
    return [f.isoformat(timespec="minutes") for f in fires]


# (zone, day before the change, cron, fire times in local wall time with offsets)
DST = [
    # Berlin springs forward on 2026-03-29 at 02:00 -> 03:00: 02:30 does not exist that
    # day, so the job fires once, at 03:30 CEST (the instant 02:30 CET would have been).
    (BERLIN, "2026-03-28", "30 2 * * *", ["2026-03-29T03:30+02:00", "2026-03-30T02:30+02:00"]),
    # ... and falls back on 2026-10-25 at 03:00 -> 02:00: 02:30 happens twice; both fire.
    (
        BERLIN,
        "2026-10-24",
        "30 2 * * *",
        ["2026-10-25T02:30+02:00", "2026-10-25T02:30+01:00", "2026-10-26T02:30+01:00"],
    ),
    # New York springs forward on 2026-03-08 at 02:00 -> 03:00.
    (NEW_YORK, "2026-03-07", "30 2 * * *", ["2026-03-08T03:30-04:00", "2026-03-09T02:30-04:00"]),
    # ... and falls back on 2026-11-01 at 02:00 -> 01:00: 02:30 happens once; 01:30 twice.
    (NEW_YORK, "2026-10-31", "30 2 * * *", ["2026-11-01T02:30-05:00", "2026-11-02T02:30-05:00"]),
    (
        NEW_YORK,
        "2026-10-31",
        "30 1 * * *",
        ["2026-11-01T01:30-04:00", "2026-11-01T01:30-05:00", "2026-11-02T01:30-05:00"],
    ),
    # An hourly job skips the missing hour and fires twice in the repeated one.
    (
        BERLIN,
        "2026-03-29",
        "0 * * * *",
        ["2026-03-29T01:00+01:00", "2026-03-29T03:00+02:00", "2026-03-29T04:00+02:00"],
    ),
    (
        BERLIN,
        "2026-10-25",
        "0 * * * *",
        [
            "2026-10-25T01:00+02:00",
            "2026-10-25T02:00+02:00",
            "2026-10-25T02:00+01:00",
            "2026-10-25T03:00+01:00",
        ],
    ),
]


@pytest.mark.parametrize(("zone", "day", "cron", "expected"), DST)
def test_fire_times_across_daylight_saving_changes(
    zone: ZoneInfo, day: str, cron: str, expected: list[str]
) -> None:
    hour = "00:30" if cron.startswith("0 *") else "12:00"
    start = datetime.fromisoformat(f"{day}T{hour}").replace(tzinfo=zone)
    fires = next_fires(parse_cron(cron), zone, start, len(expected))
    assert _local(fires) == expected
    # Every fire is a distinct instant, in order: no loop on the repeated hour.
    assert _utc(fires) == sorted(set(_utc(fires)))


def test_repeated_fall_back_fire_is_a_no_op_for_the_skip_guard(tmp_path: Path) -> None:
    first, second = next_fires(
        parse_cron("30 2 * * *"), BERLIN, datetime(2026, 10, 24, 12, tzinfo=BERLIN), 2
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
    assert selection.run == []
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
    # Across the fall-back night: the second 02:30 was missed; one sweep, which the skip
    # guard then turns into a no-op.
    ("2026-10-25T02:31+02:00", "2026-10-25T04:00", "12h", "once", "2026-10-25T02:30+01:00", 1),
]


@pytest.mark.parametrize(("last", "now", "window", "mode", "fire", "missed"), CATCH_UP)
def test_catch_up_decisions(
    last: str, now: str, window: str, mode: str, fire: str | None, missed: int
) -> None:
    from config.durations import parse_duration

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
    trigger = spec.trigger(BERLIN, jitter=600)
    delays = {
        (trigger.get_next_fire_time(None, after) - nominal).total_seconds() for _ in range(50)
    }
    assert all(0 <= d <= 600 for d in delays)
    assert len(delays) > 1  # random, not a fixed offset
