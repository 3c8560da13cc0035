"""The JSON state store on real files, with real locks and concurrent processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from state import AllDone, Busy, Claimed, ClaimLost, Holder, JsonFileStore, StateCorrupt, TaskRecord
from state.base import ProjectRecord
from state.claims import me

NOW = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)


def _ok(date: str, run_id: str = "r1") -> TaskRecord:
    return TaskRecord("ok", date, run_id, None, None, 1.0, 0)


def test_claim_is_exclusive_while_the_holder_lives(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    first = store.claim("api", me("run-a", NOW), "2026-11-22", ["lint"], False, NOW)
    assert first == Claimed(frozenset())
    second = store.claim("api", me("run-b", NOW), "2026-11-22", ["lint"], False, NOW)
    assert isinstance(second, Busy)
    assert second.holder.run_id == "run-a"
    store.release("api", "run-a", ProjectRecord("ok", "2026-11-22", "run-a", None, None))
    third = store.claim("api", me("run-b", NOW), "2026-11-22", ["lint"], False, NOW)
    assert isinstance(third, Claimed)


def test_only_the_claim_holder_records_and_releases(tmp_path: Path) -> None:
    """A sweep whose claim was taken over (it looked dead) must not overwrite the newer
    outcome, nor drop the new holder's claim."""
    store = JsonFileStore(tmp_path)
    store.claim("api", me("run-a", NOW), "2026-11-22", ["lint"], False, NOW)
    with pytest.raises(ClaimLost, match="run run-b lost its claim on project 'api'"):
        store.release("api", "run-b", ProjectRecord("failed", "2026-11-22", "run-b", None, None))
    with pytest.raises(ClaimLost):
        store.record("api", "lint", TaskRecord("failed", "2026-11-22", "run-b", None, None, 1.0, 1))
    assert store.read().claims()["api"].run_id == "run-a"
    assert store.read().project("api") == {}
    store.record("api", "lint", _ok("2026-11-22", "run-a"))
    store.release("api", "run-a", None)
    with pytest.raises(ClaimLost, match="now held by nobody"):
        store.record("api", "lint", _ok("2026-11-22", "run-a"))


def test_a_live_process_on_this_host_keeps_its_claim_however_old_its_heartbeat(
    tmp_path: Path,
) -> None:
    store = JsonFileStore(tmp_path)
    long_ago = NOW - timedelta(hours=3)
    store.claim("api", me("run-stopped", long_ago), "2026-11-22", ["lint"], False, long_ago)
    assert isinstance(
        store.claim("api", me("run-b", NOW), "2026-11-22", ["lint"], False, NOW), Busy
    )
    assert store.reap(NOW) == []


def test_claim_rereads_the_skip_guard(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    store.claim("api", me("r1", NOW), "2026-11-22", ["lint", "test"], False, NOW)
    store.record("api", "lint", _ok("2026-11-22"))
    store.release("api", "r1", None)
    result = store.claim("api", me("run-a", NOW), "2026-11-22", ["lint", "test"], False, NOW)
    assert result == Claimed(frozenset({"lint"}))
    store.record("api", "test", _ok("2026-11-22", "run-a"))
    store.release("api", "run-a", None)
    assert (
        store.claim("api", me("run-b", NOW), "2026-11-22", ["lint", "test"], False, NOW)
        == AllDone()
    )
    assert "api" not in store.read().claims()
    # --force ignores the guard but never the claims.
    forced = store.claim("api", me("run-c", NOW), "2026-11-22", ["lint", "test"], True, NOW)
    assert forced == Claimed(frozenset())
    assert isinstance(store.claim("api", me("run-d", NOW), "2026-11-22", ["lint"], True, NOW), Busy)
    # Yesterday's success does not count today; a failure after a success does not either.
    store.record("api", "lint", TaskRecord("failed", "2026-11-22", "run-c", None, None, 1.0, 1))
    store.release("api", "run-c", None)
    assert store.claim(
        "api", me("run-e", NOW), "2026-11-23", ["lint", "test"], False, NOW
    ) == Claimed(frozenset())


def test_stale_claims_are_taken_over_with_the_reason(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = Holder("run-dead", child.pid, me("x", NOW).host, NOW.isoformat(), NOW.isoformat())
    store.claim("api", dead, "2026-11-22", ["lint"], False, NOW)
    taken = store.claim("api", me("run-new", NOW), "2026-11-22", ["lint"], False, NOW)
    assert isinstance(taken, Claimed)
    assert taken.replaced == dead
    assert taken.replaced_why == f"process {child.pid} is gone"

    old = NOW - timedelta(minutes=6)
    remote = Holder("run-far", 4242, "elsewhere", old.isoformat(), old.isoformat())
    store.claim("web", remote, "2026-11-22", ["lint"], False, old)
    taken = store.claim("web", me("run-new", NOW), "2026-11-22", ["lint"], False, NOW)
    assert isinstance(taken, Claimed)
    assert taken.replaced_why == "no heartbeat for 360s"


def test_a_recycled_pid_is_not_mistaken_for_the_claimant(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    mine = me("run-a", NOW)
    # Same pid as this (live) process, but another process start time: the pid was reused.
    impostor = Holder(
        "run-a", mine.pid, mine.host, mine.started_at, mine.heartbeat, (mine.pid_start or 0) + 1
    )
    store.claim("api", impostor, "2026-11-22", ["lint"], False, NOW)
    taken = store.claim("api", me("run-b", NOW), "2026-11-22", ["lint"], False, NOW)
    assert isinstance(taken, Claimed)
    assert "another process" in (taken.replaced_why or "")


def test_heartbeat_refreshes_only_our_claims(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    store.claim("a", me("run-a", NOW), "d", ["t"], False, NOW)
    store.claim("b", me("run-b", NOW), "d", ["t"], False, NOW)
    later = NOW + timedelta(minutes=3)
    store.heartbeat("run-a", later)
    claims = store.read().claims()
    assert claims["a"].heartbeat == later.isoformat(timespec="seconds")
    assert claims["b"].heartbeat == NOW.isoformat(timespec="seconds")


def test_run_history_keeps_the_newest(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    for i in range(5):
        store.record_run({"run_id": f"2026112{i}T000000Z-aaaa", "status": "ok"}, keep=3)
    assert [r["run_id"][:9] for r in store.read().runs()] == ["20261122T", "20261123T", "20261124T"]


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from state import JsonFileStore, TaskRecord
    from datetime import datetime, UTC
    from state.claims import me
    store = JsonFileStore(Path(sys.argv[1]))
    who, count = sys.argv[2], int(sys.argv[3])
    now = datetime.now(UTC)
    store.claim(who, me(who, now), "2026-11-22", ["t"], False, now)
    for i in range(count):
        store.record(who, f"t{i}", TaskRecord("ok", "2026-11-22", who, None, None, 0.1, 0))
    """
)

READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    path = Path(sys.argv[1]) / "state.json"
    deadline = time.monotonic() + float(sys.argv[2])
    reads = 0
    while time.monotonic() < deadline:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            continue
        json.loads(raw)  # raises on a torn file
        reads += 1
    print(reads)
    """
)


def test_concurrent_writers_lose_nothing_and_readers_never_see_a_torn_file(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path), "4"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), f"w{n}", "40"], env=env)
        for n in range(4)
    ]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    out, _ = reader.communicate(timeout=120)
    assert reader.returncode == 0, "a reader saw a torn or invalid state.json"
    assert int(out) > 0
    doc = JsonFileStore(tmp_path).read().doc
    for n in range(4):
        assert sorted(doc["projects"][f"w{n}"]["tasks"]) == sorted(f"t{i}" for i in range(40))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "is empty"),
        (b"{", "not valid JSON"),
        (b"[]", 'no "version" key'),
        (b'{"version": "1"}', "unreadable version"),
        (b'{"version": 3}', "newer agentd"),
        (b'{"version": 1, "projects": []}', "'projects' should be a dict"),
        (b'{"version": 1, "projects": {"a": 3}}', "wrong shape"),
    ],
)
def test_bad_state_files_are_refused_and_left_alone(
    tmp_path: Path, content: bytes, words: str
) -> None:
    (tmp_path / "state.json").write_bytes(content)
    store = JsonFileStore(tmp_path)
    with pytest.raises(StateCorrupt, match=words):
        store.read()
    with pytest.raises(StateCorrupt):
        store.record("a", "t", _ok("2026-11-22"))
    assert (tmp_path / "state.json").read_bytes() == content


def _agent_run(date: str, run_id: str, cost: float | None) -> TaskRecord:
    usage = {"known": cost is not None, "cost_usd": cost, "tokens": 10}
    return TaskRecord("ok", date, run_id, None, None, 1.0, 0, "claude", usage)


def test_agent_outcomes_go_to_the_spend_ledger_and_old_days_are_dropped(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    days = ["2026-11-01", "2026-11-08", "2026-11-09", "2026-11-21", "2026-11-22"]
    for i, day in enumerate(days):
        run = f"run-{i}"
        store.claim("api", me(run, NOW), day, ["triage"], True, NOW)
        store.record("api", "triage", _agent_run(day, run, 0.5))
        store.release("api", run, None)
    store.claim("api", me("plain", NOW), days[-1], ["lint"], True, NOW)
    store.record("api", "lint", _ok(days[-1], "plain"))  # not an agent task: no entry
    # 14 days are kept, the last record's included: from 2026-11-09 on.
    fresh = JsonFileStore(tmp_path).read()
    assert sorted(fresh.doc["spend"]) == days[2:]
    today = fresh.spend(["2026-11-22"])
    assert today == [
        {
            "project": "api",
            "task": "triage",
            "agent": "claude",
            "run_id": "run-4",
            "finished_at": None,
            "known": True,
            "cost_usd": 0.5,
            "tokens": 10,
            "date": "2026-11-22",
        }
    ]


def test_a_malformed_spend_ledger_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(
        '{"version": 2, "spend": {"2026-11-22": {"k": {"project": "api", "task": "t",'
        ' "known": "yes"}}}}'
    )
    with pytest.raises(StateCorrupt, match="'spend' has the wrong shape"):
        JsonFileStore(tmp_path).read()


def test_spend_counts_even_when_the_outcome_is_refused(tmp_path: Path) -> None:
    """A sweep whose claim was taken over has its outcome refused, but its agent did spend."""
    store = JsonFileStore(tmp_path)
    store.claim("api", me("run-new", NOW), "2026-11-22", ["triage"], False, NOW)
    with pytest.raises(ClaimLost):
        store.record("api", "triage", _agent_run("2026-11-22", "run-old", 0.75))
    snap = JsonFileStore(tmp_path).read()
    assert snap.task("api", "triage") is None
    assert [e["cost_usd"] for e in snap.spend(["2026-11-22"])] == [0.75]
