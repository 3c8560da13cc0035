"""The JSON state store on real files, with real locks and concurrent processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentd.state import (
    JsonFileStore,
    StateCorrupt,
    TaskRecord,
)

NOW = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)


def _ok(date: str, run_id: str = "r1") -> TaskRecord:
    return TaskRecord("ok", date, run_id, None, None, 1.0, 0)


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


def test_a_malformed_spend_ledger_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(
        '{"version": 2, "spend": {"2026-11-22": {"k": {"project": "api", "task": "t",'
        ' "known": "yes"}}}}'
    )
    with pytest.raises(StateCorrupt, match="'spend' has the wrong shape"):
        JsonFileStore(tmp_path).read()


def test_run_summaries_from_before_hosts_count_as_this_hosts(tmp_path: Path) -> None:
    """Summaries written before runs named their host are this host's: kept within its
    ``keep``, the oldest dropped first."""
    store = JsonFileStore(tmp_path)
    for day in (20, 21):
        store.record_run(
            {"run_id": f"202611{day}T0100Z", "finished_at": f"2026-11-{day}T02:00Z"}, 5
        )
    for day in (22, 23):
        run = {"run_id": f"202611{day}T0100Z", "finished_at": f"2026-11-{day}T02:00Z", "host": "h1"}
        store.record_run(run, keep=3)
    assert [r["run_id"] for r in store.read().runs()] == [
        "20261121T0100Z",
        "20261122T0100Z",
        "20261123T0100Z",
    ]
