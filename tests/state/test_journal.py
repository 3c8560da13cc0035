"""The journal under state.json: replay, torn lines, interrupted compactions, checkpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentd.state import JsonFileStore, StateCorrupt, StateError, TaskRecord
from agentd.state.claims import me
from agentd.state.journal import COMPACT_AT

NOW = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)


def _ok(run: str = "r") -> TaskRecord:
    return TaskRecord("ok", "2026-11-22", run, None, None, 0.5, 0)


def _claimed(store: JsonFileStore, project: str, run: str = "r") -> None:
    store.claim(project, me(run, NOW), "2026-11-22", ["t"], True, NOW)


def test_writes_go_to_the_journal_and_every_reader_sees_them(tmp_path: Path) -> None:
    writer = JsonFileStore(tmp_path)
    _claimed(writer, "a")
    size = (tmp_path / "state.json").stat().st_size
    for i in range(20):
        writer.record("a", f"t{i}", _ok())
    # state.json was not rewritten for each outcome: they are lines of the journal.
    assert (tmp_path / "state.json").stat().st_size == size
    assert len((tmp_path / "state.journal").read_text().splitlines()) == 1 + 20
    reader = JsonFileStore(tmp_path)
    assert sorted(reader.read().project("a")["tasks"]) == sorted(f"t{i}" for i in range(20))
    writer.record("a", "late", _ok())
    assert "late" in reader.read().project("a")["tasks"]  # read incrementally


def test_a_snapshot_never_changes_under_its_reader(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    before = store.read()
    store.record("a", "t", _ok())
    assert before.project("a") == {}
    assert store.read().task("a", "t") is not None


def test_a_torn_last_line_is_ignored_and_cut_by_the_next_writer(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    store.record("a", "t1", _ok())
    with (tmp_path / "state.journal").open("ab") as handle:
        handle.write(b'[["set",["projects","a","tasks","t2"],{"status":"o')  # killed mid-write
    fresh = JsonFileStore(tmp_path)
    assert sorted(fresh.read().project("a")["tasks"]) == ["t1"]
    fresh.record("a", "t3", _ok())
    lines = (tmp_path / "state.journal").read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends with a newline: the torn bytes are gone
    assert all(json.loads(line) for line in lines[:-1])
    assert sorted(JsonFileStore(tmp_path).read().project("a")["tasks"]) == ["t1", "t3"]


def test_a_compaction_cut_short_between_its_two_renames(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    store.record("a", "t1", _ok())
    store.checkpoint()
    # As if the new state.json was renamed in but the process died before the new journal:
    # the old journal (another token) must be ignored, since state.json already holds it.
    old_journal = b'{"journal": "0000000000000000"}\n[["del",["projects","a"]]]\n'
    (tmp_path / "state.journal").write_bytes(old_journal)
    fresh = JsonFileStore(tmp_path)
    assert fresh.read().task("a", "t1") is not None
    fresh.record("a", "t2", _ok())  # the next write starts a journal that matches
    assert sorted(JsonFileStore(tmp_path).read().project("a")["tasks"]) == ["t1", "t2"]
    assert b"0000000000000000" not in (tmp_path / "state.journal").read_bytes()


def test_the_journal_is_folded_into_state_json_once_it_outgrows_it(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    sizes = []
    for i in range(COMPACT_AT // 60):
        store.record("a", f"task-{i}", _ok())
        sizes.append((tmp_path / "state.journal").stat().st_size)
    snapshot = (tmp_path / "state.json").stat().st_size
    # Bounded by the larger of the threshold and the state itself (plus the line that
    # crossed it): a rewrite of the state is paid for by as many bytes of journal.
    assert max(sizes) <= max(COMPACT_AT, snapshot) + 200
    assert min(sizes[len(sizes) // 2 :]) < 200  # it was started afresh at least once
    doc = json.loads((tmp_path / "state.json").read_text())
    assert len(doc["projects"]["a"]["tasks"]) > len(sizes) // 2
    assert len(JsonFileStore(tmp_path).read().project("a")["tasks"]) == len(sizes)


def test_a_checkpoint_leaves_state_json_complete_on_its_own(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    store.record("a", "t", _ok())
    store.release("a", "r", None)
    store.checkpoint()
    doc = json.loads((tmp_path / "state.json").read_text())
    assert doc["projects"]["a"]["tasks"]["t"]["status"] == "ok"
    assert doc["claims"] == {}
    assert len((tmp_path / "state.journal").read_text().splitlines()) == 1  # the header


def test_a_journal_line_that_is_not_agentds_stops_everything(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    store.record("a", "t", _ok())
    with (tmp_path / "state.journal").open("ab") as handle:
        handle.write(b'{"hello": "world"}\n')
    before = (tmp_path / "state.journal").read_bytes()
    with pytest.raises(StateCorrupt, match=r"state\.journal has a line that is not agentd's"):
        JsonFileStore(tmp_path).read()
    with pytest.raises(StateCorrupt):
        JsonFileStore(tmp_path).record("a", "u", _ok())
    assert (tmp_path / "state.journal").read_bytes() == before


def test_a_state_file_replaced_behind_a_running_store_is_noticed(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    store.read()
    (tmp_path / "state.json").write_text("{ not json")
    with pytest.raises(StateCorrupt, match="not valid JSON"):
        store.record("a", "t", _ok())
    assert (tmp_path / "state.json").read_text() == "{ not json"


WRITER = """
import sys
from datetime import UTC, datetime
from pathlib import Path
import agentd.state.journal
from agentd.state import JsonFileStore, TaskRecord
from agentd.state.claims import me
agentd.state.journal.COMPACT_AT = 2048  # rewrite state.json all the time
store = JsonFileStore(Path(sys.argv[1]))
now = datetime.now(UTC)
store.claim("a", me("w", now), "2026-11-22", ["t"], True, now)
for i in range(int(sys.argv[2])):
    store.record("a", f"t{i}", TaskRecord("ok", "2026-11-22", "w", None, None, 0.1, 0))
"""


def test_readers_never_see_corruption_or_go_back_while_the_state_is_rewritten(
    tmp_path: Path,
) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), "400"],
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    steady = JsonFileStore(tmp_path)  # one reader that follows the journal incrementally
    seen_steady = seen_fresh = reads = 0
    while writer.poll() is None or reads == 0:
        if not (tmp_path / "state.json").exists():
            continue
        count = len(steady.read().project("a").get("tasks", {}))
        assert count >= seen_steady
        seen_steady = count
        fresh = len(JsonFileStore(tmp_path).read().project("a").get("tasks", {}))
        assert fresh >= seen_fresh  # a reader loading afresh never sees an older state
        seen_fresh = fresh
        reads += 1
    assert writer.wait() == 0
    assert len(JsonFileStore(tmp_path).read().project("a")["tasks"]) == 400
    assert reads > 10


def test_a_damaged_first_line_is_refused_not_ignored(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    store.record("a", "t", _ok())
    journal = tmp_path / "state.journal"
    data = bytearray(journal.read_bytes())
    data[2] ^= 0x01  # one flipped bit in the header
    journal.write_bytes(bytes(data))
    with pytest.raises(StateCorrupt, match="damaged first line"):
        JsonFileStore(tmp_path).read()
    with pytest.raises(StateCorrupt):
        JsonFileStore(tmp_path).record("a", "u", _ok())
    assert journal.read_bytes() == bytes(data)


def test_editing_state_json_by_hand(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    store.record("a", "t", _ok())
    store.checkpoint()
    # Between sweeps (nothing in the journal): the edit stands.
    doc = json.loads((tmp_path / "state.json").read_text())
    doc["projects"]["a"]["tasks"]["t"]["status"] = "failed"
    (tmp_path / "state.json").write_text(json.dumps(doc))
    assert JsonFileStore(tmp_path).read().task("a", "t")["status"] == "failed"
    writer = JsonFileStore(tmp_path)
    writer.record("a", "u", _ok())  # rewrites state.json with the edit, starts a journal
    writer.record("a", "v", _ok())  # a line in that journal
    assert JsonFileStore(tmp_path).read().task("a", "t")["status"] == "failed"
    # With writes in the journal that the edited file lacks: refused, not replayed over it.
    doc = json.loads((tmp_path / "state.json").read_text())
    doc["projects"]["a"]["tasks"]["t"]["status"] = "ok"
    (tmp_path / "state.json").write_text(json.dumps(doc))
    with pytest.raises(StateCorrupt, match="was changed while"):
        JsonFileStore(tmp_path).read()


def test_a_rewrite_cut_short_after_state_json_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    for i in range(5):
        store.record("a", f"t{i}", _ok())
    import agentd.state.journal as journal_module

    real = journal_module.write_atomic
    calls: list[Path] = []

    def second_fails(path: Path, data: bytes, sync_dir: bool = True) -> None:
        calls.append(path)
        if len(calls) == 2:  # the second file a rewrite writes
            raise OSError(28, "No space left on device")
        real(path, data, sync_dir)

    monkeypatch.setattr(journal_module, "write_atomic", second_fails)
    store.checkpoint()  # the write is durable once state.json is in: no error
    monkeypatch.setattr(journal_module, "write_atomic", real)
    assert [p.name for p in calls] == ["state.json", "state.journal"]
    fresh = JsonFileStore(tmp_path)
    assert sorted(fresh.read().project("a")["tasks"]) == [f"t{i}" for i in range(5)]
    fresh.record("a", "t5", _ok())  # and the next write starts a journal that matches
    assert len(JsonFileStore(tmp_path).read().project("a")["tasks"]) == 6


def test_a_failed_append_leaves_no_half_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import agentd.state.journal as journal_module

    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    store.record("a", "t1", _ok())
    before = (tmp_path / "state.journal").read_bytes()
    real = os.write

    def half(fd: int, data: bytes) -> int:
        real(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_module.os, "write", half)
    with pytest.raises(StateError, match="No space left"):
        store.record("a", "t2", _ok())
    monkeypatch.setattr(journal_module.os, "write", real)
    assert (tmp_path / "state.journal").read_bytes() == before
    store.record("a", "t3", _ok())
    assert sorted(JsonFileStore(tmp_path).read().project("a")["tasks"]) == ["t1", "t3"]


def test_each_write_is_one_flush_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agentd.state.journal as journal_module

    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    flushes: list[int] = []
    real = journal_module.os.fdatasync
    monkeypatch.setattr(journal_module.os, "fdatasync", lambda fd: flushes.append(fd) or real(fd))
    store.record("a", "t", _ok())
    assert len(flushes) == 1


def test_when_a_rewrite_is_due_but_fails_the_write_still_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agentd.state.journal as journal_module

    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    monkeypatch.setattr(journal_module, "COMPACT_AT", 0)  # always due

    def full(path: Path, data: bytes, sync_dir: bool = True) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_module, "write_atomic", full)
    store.record("a", "t", _ok())  # the rewrite failed; a one-line append did not
    assert JsonFileStore(tmp_path).read().task("a", "t") is not None


def test_a_fifo_as_journal_hangs_nothing(tmp_path: Path) -> None:
    import os

    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    (tmp_path / "state.journal").unlink()
    os.mkfifo(tmp_path / "state.journal")
    with pytest.raises(StateCorrupt, match="not a regular file"):
        JsonFileStore(tmp_path).read()


def test_leftover_temporary_files_are_removed(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    _claimed(store, "a")
    for name in (".state.json.abc.tmp", ".state.journal.def.tmp"):
        (tmp_path / name).write_text("left by a killed writer")
    JsonFileStore(tmp_path).record("a", "t", _ok())
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_run_summary_costs_one_summary_in_the_journal_not_the_whole_history(
    tmp_path: Path,
) -> None:
    """With its per-project entries, a night's history of 30 runs of 300 projects is most
    of a megabyte: recording one run (several times a sweep) must not write it all again,
    and on a nearly full disk the short line is the one that still fits."""
    store = JsonFileStore(tmp_path)
    projects = {f"project-{i}": {"status": "ok", "duration_s": 1.5} for i in range(300)}
    for n in range(30):
        store.record_run({"run_id": f"2026-11-{n:02d}", "projects": projects}, keep=5)
    journal = (tmp_path / "state.journal").read_text().splitlines()
    one = len(json.dumps({"run_id": "2026-11-00", "projects": projects}))
    assert max(len(line) for line in journal[1:]) < 1.2 * one
    runs = JsonFileStore(tmp_path).read().runs()
    assert [r["run_id"] for r in runs] == [f"2026-11-{n:02d}" for n in range(25, 30)]
    # Recorded again (the sweep's final status): replaced in place, order kept.
    store.record_run({"run_id": "2026-11-27", "status": "failed"}, keep=5)
    runs = JsonFileStore(tmp_path).read().runs()
    assert [r["run_id"] for r in runs] == [f"2026-11-{n:02d}" for n in range(25, 30)]
    assert runs[2] == {"run_id": "2026-11-27", "status": "failed"}
