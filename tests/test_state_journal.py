"""The journal under state.json: replay, torn lines, interrupted compactions, checkpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from state import JsonFileStore, StateCorrupt, TaskRecord
from state.claims import me
from state.journal import COMPACT_AT

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
