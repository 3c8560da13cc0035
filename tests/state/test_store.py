"""The JSON state store on real files, with real locks and concurrent processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentd.state import (
    AllDone,
    Busy,
    Claimed,
    ClaimLost,
    Holder,
    JsonFileStore,
    StateCorrupt,
    TaskRecord,
)
from agentd.state.base import ProjectRecord
from agentd.state.claims import me

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
    from agentd.state import JsonFileStore, TaskRecord
    from datetime import datetime, UTC
    from agentd.state.claims import me
    store = JsonFileStore(Path(sys.argv[1]))
    who, first, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    now = datetime.now(UTC)
    store.claim(who, me(who, now), "2026-11-22", ["t"], False, now)
    for i in range(first, first + count):
        store.record(who, f"t{i}", TaskRecord("ok", "2026-11-22", who, None, None, 0.1, 0))
        store.checkpoint()  # a whole new state.json each time, renamed over the old one
    """
)

# Reads state.json without a lock and without pause until told to stop (stdin closed).
# Prints how many reads it made, how many of them did not parse (torn), and how many
# different inodes state.json had when read: each new one is a replacement it saw (also
# kept up to date in the file argv[2], for the test to see while it runs).
READER = textwrap.dedent(
    """
    import json, os, sys, threading
    from pathlib import Path
    path, progress = Path(sys.argv[1]) / "state.json", Path(sys.argv[2])
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    reads, torn, inodes = 0, 0, set()
    while not done.is_set():
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        with os.fdopen(fd, "rb") as handle:
            inode = os.fstat(fd).st_ino
            raw = handle.read()
        reads += 1
        try:
            json.loads(raw)
        except ValueError:
            torn += 1
        if inode not in inodes:
            inodes.add(inode)
            progress.write_text(str(len(inodes)))
    print(reads, torn, len(inodes))
    """
)


def test_concurrent_writers_lose_nothing_and_readers_never_see_a_torn_file(tmp_path: Path) -> None:
    """4 writers of 40 records, each followed by a checkpoint, so state.json (about 200 KB)
    is replaced after every record while a reader parses it without pause. The reader must
    see at least 10 of those replacements (distinct inodes: proof that it raced real
    renames; on a machine so loaded that it saw fewer, the writers go on, 40 records more
    each, a few times at most), and never a torn file."""
    state = tmp_path / "state"
    state.mkdir()
    # Enough state that a rewrite is not over in an instant.
    record = _ok("2026-11-22", "seed").to_dict()
    projects = {f"seed{i}": {"tasks": {"t": record}} for i in range(1000)}
    seed = {"version": 2, "projects": projects, "claims": {}, "runs": [], "fires": {}}
    (state / "state.json").write_text(json.dumps(seed, indent=1))
    assert (state / "state.json").stat().st_size > 150_000
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    progress = tmp_path / "inodes-seen"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(state), str(progress)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def seen() -> int:
        try:
            return int(progress.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    written = 0
    for _ in range(5):
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(state), f"w{n}", str(written), "40"], env=env
            )
            for n in range(4)
        ]
        for writer in writers:
            assert writer.wait(timeout=120) == 0
        written += 40
        if seen() >= 10:
            break
    out, _ = reader.communicate("", timeout=120)
    assert reader.returncode == 0
    reads, torn, inodes = map(int, out.split())
    print(
        f"\n{reads} reads of state.json during {4 * written} replacements: "
        f"{inodes} distinct inodes seen, {torn} torn"
    )
    assert torn == 0, f"{torn} of {reads} reads found a torn state.json"
    # Proof that the reader raced real replacements, not one file rewritten in place.
    assert inodes >= 10, f"the reader saw state.json replaced only {inodes - 1} times"
    doc = JsonFileStore(state).read().doc
    for n in range(4):
        assert sorted(doc["projects"][f"w{n}"]["tasks"]) == sorted(f"t{i}" for i in range(written))
    leftovers = [p.name for p in state.iterdir() if p.name.endswith(".tmp")]
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
