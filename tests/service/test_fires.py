"""The daemon's fire bookkeeping in-process, on a FakeClock: which fire runs a sweep, which
is skipped and why, and up to when fires are dealt with (``fires.last_handled``).

Each row of a table drives a FireBook through steps and states the store it must leave.
A sweep is the test's own function; a fire delivered while it runs is delivered from
inside it, so overlap is exact and nothing waits.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentd.config.cron import parse_cron
from agentd.daemon.service.fires import FireBook, SweepEnd
from agentd.daemon.tasks.stop import StopToken
from agentd.state import JsonFileStore
from tests.fakeclock import FakeClock

DONE, INTERRUPTED, UNFINISHED = SweepEnd.DONE, SweepEnd.INTERRUPTED, SweepEnd.UNFINISHED
HOURLY = parse_cron("0 * * * *")
DAY = datetime(2025, 3, 10, tzinfo=UTC)


def at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return DAY + timedelta(hours=int(hours), minutes=int(minutes))


def hhmm(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%H:%M}"


@dataclass(frozen=True)
class Fire:
    at: str  # when it is delivered
    ends: SweepEnd = DONE  # how its sweep ends, if it runs one
    during: tuple[Step, ...] = ()  # what happens while its sweep runs
    catch_up: str | None = None  # a catch-up of this missed fire time


@dataclass(frozen=True)
class Late:
    at: str  # when the scheduler reports it
    fire: str  # the fire it dropped
    grace: int = 60


@dataclass(frozen=True)
class Stop:
    pass


Step = Fire | Late | Stop


class Bench:
    """A FireBook on a real store in a temporary directory, and what its sweeps saw."""

    def __init__(self, root: Path, last_handled: str | None, now: str) -> None:
        directory = root / "state"
        directory.mkdir(mode=0o700)
        self.store = JsonFileStore(directory)
        self.clock = FakeClock(at(now))
        if last_handled is not None:
            self.store.record_fire(at(last_handled).isoformat(), True, None, self.clock.now())
        self.stop = StopToken()
        self.book = FireBook(self.store, self.clock, self.stop)
        self.swept: list[tuple[str, str]] = []  # (trigger, fire) of each sweep that ran
        self.after: list[SweepEnd] = []

    def drive(self, steps: tuple[Step, ...]) -> None:
        for step in steps:
            if isinstance(step, Stop):
                self.stop.request(signal.SIGTERM)
            elif isinstance(step, Late):
                self.clock.set(at(step.at))
                self.book.missed(at(step.fire), step.grace)
            else:
                self.clock.set(at(step.at))
                trigger = "catch-up" if step.catch_up else "schedule"
                missed = at(step.catch_up) if step.catch_up else None
                self.book.fire(trigger, missed, self._sweep(step), self.after.append)

    def _sweep(self, step: Fire) -> Any:
        def sweep(trigger: str, fire: datetime) -> SweepEnd:
            assert self.book.running.locked()
            self.swept.append((trigger, hhmm(fire)))
            self.book.current_run = f"r-{hhmm(fire)}"
            self.drive(step.during)
            return step.ends

        return sweep

    def handled(self) -> str | None:
        last = self.store.read().fires().get("last_handled")
        return hhmm(datetime.fromisoformat(last)) if last else None

    def skipped(self) -> list[tuple[str, str]]:
        entries = self.store.read().fires().get("skipped", [])
        return [(hhmm(datetime.fromisoformat(e["fire"])), e["reason"]) for e in entries]


@dataclass(frozen=True)
class Row:
    name: str
    steps: tuple[Step, ...]
    handled: str | None  # fires.last_handled afterwards
    skipped: list[tuple[str, str]]  # (fire, reason) recorded as skipped
    swept: list[tuple[str, str]]  # (trigger, fire) of the sweeps that ran
    last_handled: str | None = "08:00"  # before the steps


RUNNING = "a sweep was still running (run r-09:00)"


def late(seconds: int, grace: int = 60) -> str:
    return (
        f"delivered {seconds}s late (machine asleep or overloaded), more than the {grace}s allowed"
    )


FIRE_ROWS = [
    Row(
        "a fire runs its sweep and is handled",
        (Fire("09:00"),),
        handled="09:00",
        skipped=[],
        swept=[("schedule", "09:00")],
    ),
    Row(
        "a fire during a sweep is skipped, never run alongside, handled when the sweep ends",
        (Fire("09:00", during=(Fire("09:02"),)),),
        handled="09:02",
        skipped=[("09:02", RUNNING)],
        swept=[("schedule", "09:00")],
    ),
    Row(
        "a sweep cut short by a stop: neither its fire nor the one skipped is handled",
        (Fire("09:00", INTERRUPTED, during=(Fire("09:02"),)),),
        handled="08:00",
        skipped=[("09:02", RUNNING)],
        swept=[("schedule", "09:00")],
    ),
    Row(
        "fires skipped during an interrupted sweep are left to the catch-up that resumes it",
        (Fire("09:00", INTERRUPTED, during=(Fire("09:02"),)), Fire("09:10", catch_up="08:30")),
        handled="08:30",
        skipped=[("09:02", RUNNING)],
        swept=[("schedule", "09:00"), ("catch-up", "08:30")],
    ),
    Row(
        "a crashed sweep leaves its fire open",
        (Fire("09:00", UNFINISHED, during=(Fire("09:02"),)),),
        handled="08:00",
        skipped=[("09:02", RUNNING)],
        swept=[("schedule", "09:00")],
    ),
    Row(
        "a fire skipped during a crashed sweep is handled with the next sweep that ends",
        (Fire("09:00", UNFINISHED, during=(Fire("09:02"),)), Fire("09:10", catch_up="08:30")),
        handled="09:02",
        skipped=[("09:02", RUNNING)],
        swept=[("schedule", "09:00"), ("catch-up", "08:30")],
    ),
    Row(
        "the latest fire skipped during a sweep counts, whatever the order they came in",
        (Fire("09:00", during=(Fire("09:02"), Late("09:03", fire="09:01"))),),
        handled="09:02",
        skipped=[("09:02", RUNNING), ("09:01", late(120))],
        swept=[("schedule", "09:00")],
    ),
    Row(
        "after a stop request a fire runs nothing and records nothing",
        (Stop(), Fire("09:00")),
        handled="08:00",
        skipped=[],
        swept=[],
    ),
    Row(
        "a fire delivered too late while idle: skipped, and dealt with at once",
        (Late("09:03", fire="09:00"),),
        handled="09:00",
        skipped=[("09:00", late(180))],
        swept=[],
    ),
    Row(
        "a fire delivered too late during a sweep: dealt with when the sweep ends",
        (Fire("09:00", during=(Late("09:05", fire="09:02", grace=120),)),),
        handled="09:02",
        skipped=[("09:02", late(180, 120))],
        swept=[("schedule", "09:00")],
    ),
    Row(
        "a catch-up runs for the missed fire's time, not the time it was delivered",
        (Fire("09:30", catch_up="09:00"),),
        handled="09:00",
        skipped=[],
        swept=[("catch-up", "09:00")],
    ),
    Row(
        "handled never goes backwards: a catch-up older than the last fire handled",
        (Fire("10:30", catch_up="09:00"),),
        handled="10:00",
        skipped=[],
        swept=[("catch-up", "09:00")],
        last_handled="10:00",
    ),
]


@pytest.mark.parametrize("row", FIRE_ROWS, ids=lambda row: row.name)
def test_fire_bookkeeping(tmp_path: Path, row: Row) -> None:
    bench = Bench(tmp_path, row.last_handled, "08:00")
    bench.drive(row.steps)
    assert bench.handled() == row.handled
    assert bench.skipped() == row.skipped
    assert bench.swept == row.swept
    assert not bench.book.running.locked()
    assert bench.book.current_run is None


@dataclass(frozen=True)
class StartRow:
    name: str
    last_handled: str | None
    now: str
    mode: str
    window: timedelta
    catch_up: str | None  # the fire start() hands back to be caught up
    handled: str | None
    skipped: list[tuple[str, str]]


START_ROWS = [
    StartRow(
        "the first start ever: nothing before it was missed",
        None,
        "09:30",
        "once",
        timedelta(hours=3),
        catch_up=None,
        handled="09:30",
        skipped=[],
    ),
    StartRow(
        "nothing missed since the last fire handled",
        "09:00",
        "09:30",
        "once",
        timedelta(hours=3),
        catch_up=None,
        handled="09:00",
        skipped=[],
    ),
    StartRow(
        "fires missed, catch_up = once: one sweep for the latest, nothing recorded yet",
        "06:00",
        "09:30",
        "once",
        timedelta(hours=3),
        catch_up="09:00",
        handled="06:00",
        skipped=[],
    ),
    StartRow(
        "fires missed, catch_up = none: skipped with the count, and dealt with",
        "06:00",
        "09:30",
        "none",
        timedelta(hours=3),
        catch_up=None,
        handled="09:30",
        skipped=[("09:30", "3 fire(s) missed, not caught up: catch_up = none")],
    ),
    StartRow(
        "fires missed, all older than the window: skipped, and dealt with",
        "06:00",
        "09:30",
        "once",
        timedelta(minutes=20),
        catch_up=None,
        handled="09:30",
        skipped=[
            ("09:30", "3 fire(s) missed, all older than catch_up_window: not caught up"),
        ],
    ),
]


@pytest.mark.parametrize("row", START_ROWS, ids=lambda row: row.name)
def test_start_up_catch_up(tmp_path: Path, row: StartRow) -> None:
    bench = Bench(tmp_path, row.last_handled, row.now)
    fire = bench.book.start(HOURLY, UTC, row.mode, row.window)
    assert (hhmm(fire) if fire else None) == row.catch_up
    assert bench.handled() == row.handled
    assert bench.skipped() == row.skipped


def test_a_caught_up_fire_is_handled_once_its_sweep_ends(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "06:00", "09:30")
    fire = bench.book.start(HOURLY, UTC, "once", timedelta(hours=3))
    assert fire is not None
    bench.book.fire("catch-up", fire, lambda trigger, fire: DONE)
    assert bench.handled() == "09:00"


def test_after_hears_how_the_sweep_ended_with_the_lock_held(tmp_path: Path) -> None:
    """What the daemon publishes once a sweep ends must not race its shutdown, which takes
    the lock before it publishes that it stopped."""
    bench = Bench(tmp_path, "08:00", "08:00")
    heard: list[tuple[SweepEnd, bool]] = []
    for end in (DONE, INTERRUPTED, UNFINISHED):
        bench.book.fire(
            "schedule",
            None,
            lambda trigger, fire, end=end: end,
            lambda e: heard.append((e, bench.book.running.locked())),
        )
    assert heard == [(DONE, True), (INTERRUPTED, True), (UNFINISHED, True)]


def test_a_fire_from_another_thread_during_a_sweep_is_skipped_at_once(tmp_path: Path) -> None:
    """As in the daemon: the second fire comes from another pool thread, and is turned away
    without waiting for the sweep."""
    bench = Bench(tmp_path, "08:00", "09:00")
    started, release = threading.Event(), threading.Event()

    def sweep(trigger: str, fire: datetime) -> SweepEnd:
        bench.book.current_run = "long"
        started.set()
        assert release.wait(10)
        return DONE

    first = threading.Thread(target=bench.book.fire, args=("schedule", None, sweep))
    first.start()
    assert started.wait(10)
    bench.clock.advance(120)
    ran: list[str] = []
    bench.book.fire("schedule", None, lambda trigger, fire: ran.append("second") or DONE)
    release.set()
    first.join(10)
    assert ran == []
    assert bench.skipped() == [("09:02", "a sweep was still running (run long)")]
    assert bench.handled() == "09:02"


def test_a_sweep_that_raises_releases_the_lock(tmp_path: Path) -> None:
    bench = Bench(tmp_path, "08:00", "09:00")

    def sweep(trigger: str, fire: datetime) -> SweepEnd:
        bench.book.current_run = "boom"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        bench.book.fire("schedule", None, sweep)
    assert not bench.book.running.locked()
    assert bench.book.current_run is None
    assert bench.handled() == "08:00"
