"""The state store's contract (state/base.py), one suite run on every backend: the JSON
file of one host and the PostgreSQL database of several. Each test opens its stores from
``store_factory``; two stores of one test share the same state, as two sweeps or two hosts
do. Time is the tests' own (contract.NOW and after), never the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agentd.state import AllDone, Blocked, Busy, Claimed, ClaimLost, ProjectRecord
from tests.state.contract import (
    DATE,
    NOW,
    STALE,
    StoreFactory,
    agent_run,
    at,
    dead,
    failed,
    far,
    mine,
    ok,
    stamp,
    summary,
)

# -- claims ------------------------------------------------------------------------------


def test_claim_is_exclusive_while_the_holder_lives(store_factory: StoreFactory) -> None:
    store = store_factory()
    assert store.claim("api", mine(store, "run-a"), DATE, ["lint"], False, NOW) == Claimed(
        frozenset()
    )
    second = store.claim("api", mine(store, "run-b"), DATE, ["lint"], False, NOW)
    assert isinstance(second, Busy)
    assert second.holder == mine(store, "run-a")
    assert store.read().claims() == {"api": mine(store, "run-a")}
    store.release("api", "run-a", ProjectRecord("ok", DATE, "run-a", None, None))
    assert store.read().claims() == {}
    assert isinstance(store.claim("api", mine(store, "run-b"), DATE, ["lint"], False, NOW), Claimed)


def test_claim_rereads_the_skip_guard(store_factory: StoreFactory) -> None:
    """The guard is read in the claim's own step: a sweep that planned before another
    finished the project learns it there (a second store is that other sweep)."""
    store, other = store_factory(), store_factory()
    tasks = ["lint", "test"]
    other.claim("api", mine(other, "r1"), DATE, tasks, False, NOW)
    other.record("api", "lint", ok("r1"))
    other.release("api", "r1", None)
    assert store.claim("api", mine(store, "run-a"), DATE, tasks, False, NOW) == Claimed(
        frozenset({"lint"})
    )
    store.record("api", "test", ok("run-a"))
    store.release("api", "run-a", None)
    assert other.claim("api", mine(other, "run-b"), DATE, tasks, False, NOW) == AllDone()
    assert "api" not in store.read().claims()
    # --force ignores the guard but never the claims.
    assert store.claim("api", mine(store, "run-c"), DATE, tasks, True, NOW) == Claimed(frozenset())
    assert isinstance(other.claim("api", mine(other, "run-d"), DATE, ["lint"], True, NOW), Busy)
    # A failure after a success undoes it; yesterday's success does not count today.
    store.record("api", "lint", failed("run-c"))
    store.release("api", "run-c", None)
    assert other.claim("api", mine(other, "run-e"), DATE, tasks, False, NOW) == Claimed(
        frozenset({"test"})
    )
    other.release("api", "run-e", None)
    tomorrow = "2026-11-23"
    assert store.claim("api", mine(store, "run-f"), tomorrow, tasks, False, NOW) == Claimed(
        frozenset()
    )


def test_another_hosts_claim_is_stale_once_its_heartbeat_is_older_than_stale_after(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    store_factory(host="other").claim("api", far("run-far"), DATE, ["lint"], False, NOW)
    busy = store.claim("api", mine(store, "run-a", at(STALE)), DATE, ["lint"], False, at(STALE))
    assert busy == Busy(far("run-far"))
    later = at(STALE + 1)
    taken = store.claim("api", mine(store, "run-a", later), DATE, ["lint"], False, later)
    assert taken == Claimed(frozenset(), far("run-far"), f"no heartbeat for {int(STALE) + 1}s")
    assert store.read().claims() == {"api": mine(store, "run-a", later)}


def test_the_heartbeat_keeps_a_claim_alive(store_factory: StoreFactory) -> None:
    store, there = store_factory(), store_factory(host="other")
    there.claim("api", far("run-far"), DATE, ["lint"], False, NOW)
    there.claim("web", far("run-web"), DATE, ["lint"], False, NOW)
    there.heartbeat("run-far", at(100))
    there.heartbeat("run-far", at(200))
    claims = store.read().claims()
    assert claims["api"].heartbeat == stamp(at(200))
    assert claims["web"].heartbeat == stamp(NOW)  # only the claims of that run
    late = at(200 + STALE)
    assert isinstance(store.claim("api", mine(store, "a", late), DATE, ["t"], False, late), Busy)
    assert isinstance(store.claim("web", mine(store, "w", late), DATE, ["t"], False, late), Claimed)


def test_a_live_process_on_this_host_keeps_its_claim_however_old_its_heartbeat(
    store_factory: StoreFactory,
) -> None:
    """On its own host a claimant is judged by its process (a sweep stopped with Ctrl-Z,
    a machine back from suspend), not by its heartbeat."""
    store = store_factory()
    long_ago = at(-3 * 3600)
    store.claim("api", mine(store, "run-stopped", long_ago), DATE, ["lint"], False, long_ago)
    assert isinstance(store.claim("api", mine(store, "run-b"), DATE, ["lint"], False, NOW), Busy)
    assert store.reap(NOW) == []


def test_a_claim_of_a_process_gone_from_this_host_is_taken_over(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    gone = dead(store, "run-dead")
    store.claim("api", gone, DATE, ["lint"], False, NOW)
    taken = store.claim("api", mine(store, "run-new"), DATE, ["lint"], False, NOW)
    assert taken == Claimed(frozenset(), gone, f"process {gone.pid} is gone")
    # Same pid as this live process, another start time: the pid was given to another.
    me = mine(store, "run-a")
    impostor = me.__class__(**{**me.to_dict(), "pid_start": (me.pid_start or 0) + 1})
    store.claim("web", impostor, DATE, ["lint"], False, NOW)
    taken = store.claim("web", mine(store, "run-b"), DATE, ["lint"], False, NOW)
    assert isinstance(taken, Claimed)
    assert "another process" in (taken.replaced_why or "")


def test_a_stale_claim_on_a_project_done_today_is_dropped(store_factory: StoreFactory) -> None:
    """The claimant died after its last task but before releasing: nobody runs the
    project again today, and its claim does not stay to block tomorrow's status."""
    store, there = store_factory(), store_factory(host="other")
    there.claim("api", far("run-far"), DATE, ["lint"], False, NOW)
    there.record("api", "lint", ok("run-far"))
    later = at(STALE + 60)
    assert store.claim("api", mine(store, "run-a", later), DATE, ["lint"], False, later) == (
        AllDone()
    )
    assert store.read().claims() == {}


def test_reap_drops_only_stale_claims(store_factory: StoreFactory) -> None:
    store, there = store_factory(), store_factory(host="other")
    there.claim("api", far("run-far"), DATE, ["lint"], False, NOW)
    there.claim("web", far("run-web"), DATE, ["lint"], False, NOW)
    store.claim("db", mine(store, "run-a"), DATE, ["lint"], False, NOW)
    there.heartbeat("run-web", at(STALE))
    assert store.reap(at(STALE)) == []
    reaped = store.reap(at(STALE + 30))
    assert reaped == [("api", far("run-far"), f"no heartbeat for {int(STALE) + 30}s")]
    assert sorted(store.read().claims()) == ["db", "web"]
    assert store.reap(at(STALE + 30)) == []


def test_a_sweep_whose_claim_was_taken_over_writes_nothing_but_its_spend(
    store_factory: StoreFactory,
) -> None:
    """The loser's word no longer counts (the new holder's outcome stands), but the
    money its agent spent was spent."""
    store, there = store_factory(), store_factory(host="other")
    there.claim("api", far("run-far"), DATE, ["triage", "lint"], False, NOW)
    there.record("api", "lint", ok("run-far"))
    later = at(STALE + 1)
    store.claim("api", mine(store, "run-new", later), DATE, ["triage", "lint"], False, later)
    with pytest.raises(ClaimLost, match="run run-far lost its claim on project 'api'"):
        there.record("api", "triage", agent_run("run-far", 0.75))
    with pytest.raises(ClaimLost, match="run run-far lost its claim"):
        there.release("api", "run-far", ProjectRecord("failed", DATE, "run-far", None, None))
    snap = store.read()
    assert snap.task("api", "triage") is None
    assert snap.task("api", "lint") == ok("run-far").to_dict()  # written while it held it
    assert "last_run" not in snap.project("api")
    assert snap.claims()["api"].run_id == "run-new"
    assert [(e["run_id"], e["cost_usd"]) for e in snap.spend([DATE])] == [("run-far", 0.75)]


def test_only_the_claim_holder_records_and_releases(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.claim("api", mine(store, "run-a"), DATE, ["lint"], False, NOW)
    with pytest.raises(ClaimLost, match="now held by run run-a"):
        store.release("api", "run-b", ProjectRecord("failed", DATE, "run-b", None, None))
    with pytest.raises(ClaimLost):
        store.record("api", "lint", failed("run-b"))
    assert store.read().claims()["api"].run_id == "run-a"
    assert store.read().project("api") == {}
    store.record("api", "lint", ok("run-a"))
    store.release("api", "run-a", None)
    with pytest.raises(ClaimLost, match="now held by nobody"):
        store.record("api", "lint", ok("run-a"))
    with pytest.raises(ClaimLost, match="now held by nobody"):
        store.release("api", "run-a", None)


# -- outcomes ----------------------------------------------------------------------------


def _night(store: StoreFactory, run_id: str, date: str, status: str, end: str) -> None:
    one = store()
    one.claim("api", mine(one, run_id), date, ["lint"], True, NOW)
    record = ok(run_id, date) if status == "ok" else failed(run_id, date)
    one.record("api", "lint", record)
    one.release("api", run_id, ProjectRecord(status, date, run_id, NOW.isoformat(), end))


def test_outcomes_are_kept_and_the_last_success_survives_failed_nights(
    store_factory: StoreFactory,
) -> None:
    _night(store_factory, "r1", "2026-11-21", "ok", "2026-11-21T03:00:00+01:00")
    _night(store_factory, "r2", DATE, "failed", "2026-11-22T03:00:00+01:00")
    snap = store_factory().read()
    assert snap.task("api", "lint") == failed("r2").to_dict()
    assert (
        snap.project("api")["last_run"]
        == ProjectRecord(
            "failed", DATE, "r2", NOW.isoformat(), "2026-11-22T03:00:00+01:00"
        ).to_dict()
    )
    assert snap.project("api")["last_ok"]["run_id"] == "r1"
    assert snap.last_finished("api") == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert snap.last_finished("never") == datetime.min.replace(tzinfo=UTC)
    assert not snap.done_today("api", "lint", DATE)
    assert snap.done_today("api", "lint", "2026-11-21") is False  # its latest run failed
    store = store_factory()
    store.claim("api", mine(store, "r3"), DATE, ["lint"], True, NOW)
    store.release("api", "r3", None)  # a release without an outcome keeps the last one
    assert store.read().project("api")["last_run"]["run_id"] == "r2"


def test_a_blocked_streak_counts_nights_until_the_project_runs(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    block = Blocked("db", "dependency failed: db")
    store.record_blocked({"api": block}, "2026-11-20", "20261120T0100Z", "t1")
    store.record_blocked({"api": block}, "2026-11-20", "20261120T0500Z", "t2")
    later = Blocked("cache", "dependency skipped: cache")
    store.record_blocked({"api": later, "web": block}, "2026-11-21", "20261121T0100Z", "t3")
    snap = store_factory().read()
    assert snap.blocked("api") == {
        "by": "cache",
        "reason": "dependency skipped: cache",
        "since": "2026-11-20",
        "since_at": "t1",
        "date": "2026-11-21",
        "run_id": "20261121T0100Z",
        "nights": 2,
    }
    assert snap.blocked("web")["nights"] == 1  # type: ignore[index]
    store.claim("api", mine(store, "20261122T0100Z"), DATE, ["lint"], False, NOW)
    store.release("api", "20261122T0100Z", ProjectRecord("ok", DATE, "20261122T0100Z", "", ""))
    assert store.read().blocked("api") is None
    store.record_blocked({"api": block}, "2026-11-23", "20261123T0100Z", "t4")
    assert store.read().blocked("api")["since"] == "2026-11-23"  # type: ignore[index]


def test_projects_gone_from_the_configuration_are_forgotten_after_some_sweeps(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    for name in ("api", "web", "db"):
        _one_outcome(store, name)
    assert store.forget_absent(["api", "db"], 3) == []
    assert store.forget_absent(["api"], 3) == []
    assert store.forget_absent(["api", "web"], 3) == []  # web came back: counted anew
    assert store.forget_absent(["api"], 3) == ["db"]
    snap = store_factory().read()
    assert snap.task("db", "lint") is None
    assert snap.task("web", "lint") is not None
    assert store.forget_absent(["api"], 3) == []
    assert store.forget_absent(["api"], 3) == ["web"]
    assert store.read().task("api", "lint") is not None


def _one_outcome(store: object, name: str) -> None:
    from agentd.state import StateStore

    assert isinstance(store, StateStore)
    store.claim(name, mine(store, f"run-{name}"), DATE, ["lint"], False, NOW)
    store.record(name, "lint", ok(f"run-{name}"))
    store.release(name, f"run-{name}", None)


# -- history, ledger, fires, daemon ------------------------------------------------------


def test_runs_come_oldest_first_and_each_host_keeps_its_newest(
    store_factory: StoreFactory,
) -> None:
    """Oldest first by when runs finished, as instants (the stamps carry the offset of
    their day, which differs across a DST change or between hosts), then by run id."""
    one, two = store_factory(host="h1"), store_factory(host="h2")
    plus_one = timezone(timedelta(hours=1))
    for i in range(4):
        ended = at(100 * i).astimezone(plus_one)
        one.record_run(summary(f"2026112{i}T0100Z-a", "h1", ended), keep=2)
    two.record_run(summary("20261119T0100Z-b", "h2", at(250)), keep=2)
    two.record_run(summary("20261119T0200Z-b", "h2", at(50)), keep=2)
    # Started first, finished last: the newest of h2, the first one it forgets is 0200.
    two.record_run(summary("20261118T0100Z-b", "h2", at(400)), keep=2)
    again = {**summary("20261123T0100Z-a", "h1", at(300).astimezone(plus_one)), "status": "x"}
    one.record_run(again, keep=2)  # recorded again: replaced, not added
    runs = store_factory(host="h3").read().runs()
    assert [(r["run_id"], r["host"]) for r in runs] == [
        ("20261122T0100Z-a", "h1"),
        ("20261119T0100Z-b", "h2"),
        ("20261123T0100Z-a", "h1"),
        ("20261118T0100Z-b", "h2"),
    ]
    assert runs[2] == again


def test_agent_runs_go_to_the_ledger_of_their_date_for_14_days(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    days = ["2026-11-01", "2026-11-08", "2026-11-09", "2026-11-21", DATE]
    for i, day in enumerate(days):
        run = f"run-{i}"
        store.claim("api", mine(store, run), day, ["triage"], True, NOW)
        store.record("api", "triage", agent_run(run, 0.5, day))
        store.release("api", run, None)
    store.claim("api", mine(store, "plain"), DATE, ["lint"], True, NOW)
    store.record("api", "lint", ok("plain"))  # not an agent task: no entry
    store.record("api", "ask", agent_run("plain", None))  # its cost unknown: an entry
    snap = store_factory().read()
    # 14 days are kept, the last record's included: from 2026-11-09 on.
    assert [e["date"] for e in snap.spend(days)] == [*days[2:], DATE]
    assert snap.spend_day("2026-11-08") == {}
    assert sorted(snap.spend_day(DATE)) == ["plain/api/ask", "run-4/api/triage"]
    today = {e["task"]: e for e in snap.spend([DATE])}
    assert today["triage"] == {
        "project": "api",
        "task": "triage",
        "agent": "claude",
        "run_id": "run-4",
        "finished_at": stamp(at(1)),
        "known": True,
        "cost_usd": 0.5,
        "tokens": 10,
        "date": DATE,
    }
    assert today["ask"]["known"] is False


def test_fires_never_go_back_and_skipped_ones_are_capped(store_factory: StoreFactory) -> None:
    store = store_factory()
    assert store.read().fires() == {}
    store.record_fire("2026-11-22T02:00:00+01:00", True, None, NOW)
    store.record_fire("2026-11-21T02:00:00+01:00", True, None, NOW)  # a long sweep ends late
    assert store.read().fires()["last_handled"] == "2026-11-22T02:00:00+01:00"
    for i in range(25):
        store.record_fire(f"2026-11-{i + 1:02d}T02:00:00+01:00", False, f"busy {i}", at(i))
    fires = store_factory().read().fires()
    assert fires["last_handled"] == "2026-11-22T02:00:00+01:00"
    assert len(fires["skipped"]) == 20
    assert fires["skipped"][-1] == {
        "fire": "2026-11-25T02:00:00+01:00",
        "at": stamp(at(24)),
        "reason": "busy 24",
    }
    assert fires["skipped"][0]["reason"] == "busy 5"


def test_the_daemon_publishes_itself(store_factory: StoreFactory) -> None:
    store = store_factory()
    assert store.read().daemon() is None
    info = {"pid": 4242, "pid_start": 7, "host": store.host, "next_fire": stamp(at(3600))}
    store.set_daemon(info)
    assert store_factory().read().daemon() == info
    stopped = {**info, "stopped_at": stamp(at(60)), "stop_reason": "SIGTERM"}
    store.set_daemon(stopped)
    assert store.read().daemon() == stopped
