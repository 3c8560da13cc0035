"""Projects and hosts: pins, a directory missing on this host (a table over selection
with the hosts' answer passed in, and the answers of two hosts sharing a real PostgreSQL
store), and the host a report names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from agentd.config import Config
from agentd.daemon.sweep.presence import ask_hosts, settle_later
from agentd.daemon.sweep.selection import Absence, Absent, missing_here, select
from agentd.state import Snapshot, TaskRecord
from agentd.state.claims import Holder
from tests.builders import cmd, load, one_project, proj
from tests.helpers import Workspace

TODAY = "2026-11-22"
EMPTY = Snapshot({"projects": {}, "claims": {}, "runs": []})


def _holder(run_id: str, host: str, now: datetime) -> Holder:
    stamp = now.isoformat(timespec="seconds")
    return Holder(run_id, 1, host, stamp, stamp)


def _config(tmp_path: Path, *projects: dict[str, Any]) -> Config:
    return load(tmp_path, {"a": cmd("true")}, list(projects))


@pytest.mark.parametrize(
    ("host", "runs"),
    [
        ("build-1", True),
        ("gpu-7", True),
        ("GPU-3", True),  # host names match regardless of case, as DNS names do
        ("build-10", False),
        ("web-1", False),
    ],
)
def test_a_pinned_project_runs_only_on_matching_hosts(
    tmp_path: Path, host: str, runs: bool
) -> None:
    config = _config(tmp_path, proj("pinned", "a", hosts=["build-1", "gpu-*"]), proj("free", "a"))
    out = select(config, EMPTY, TODAY, path_problem=lambda p: None, host=host)
    assert [p.name for p in out.chosen] == (["pinned", "free"] if runs else ["free"])
    if not runs:
        assert out.skipped == {"pinned": "pinned to hosts: build-1, gpu-*"}


def test_a_project_pinned_away_is_never_reported_missing_here(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        proj("away", "a", hosts=["gpu-*"]),
        proj("gone", "a"),
        proj("off", "a", enabled=False),
        proj("here", "a"),
    )
    (tmp_path / "here").mkdir()
    assert missing_here(config, None, "build-1") == {"gone": tmp_path / "gone"}
    assert missing_here(config, {"here", "away"}, "build-1") == {}
    # On the GPU host the pinned project is its own, and missing there.
    assert set(missing_here(config, None, "gpu-1")) == {"away", "gone"}


@pytest.mark.parametrize(
    ("absent", "failed", "reason"),
    [
        (
            Absent(Absence.ELSEWHERE, ("h2", "h3")),
            False,
            "left for another host: {dir} does not exist on h1",
        ),
        (
            Absent(Absence.NOWHERE, ("h1", "h2", "h3")),
            True,
            "project directory {dir} does not exist on any host (asked: h1, h2, h3)",
        ),
        (Absent(Absence.FAILED_ELSEWHERE), False, "failed by another host: not on any host"),
        (
            Absent(Absence.UNASKED),
            False,
            "left for another host: {dir} does not exist on h1 (failed if no host has it)",
        ),
        (
            Absent(Absence.UNANSWERED, detail="cannot reach PostgreSQL at db1:5432"),
            True,
            "{dir} does not exist on h1, and the other hosts could not be asked: "
            "cannot reach PostgreSQL at db1:5432",
        ),
    ],
)
def test_a_directory_missing_on_a_shared_store(
    tmp_path: Path, absent: Absent, failed: bool, reason: str
) -> None:
    config = _config(tmp_path, proj("gone", "a"), proj("here", "a", depends_on=["gone"]))
    out = select(
        config,
        EMPTY,
        TODAY,
        path_problem=lambda p: "unused" if p.name == "gone" else None,
        host="h1",
        absent={"gone": absent},
    )
    expected = reason.format(dir=tmp_path / "gone")
    assert (out.failed if failed else out.skipped) == {"gone": expected}
    assert [p.name for p in out.chosen] == ["here"]
    # A failed project is part of the sweep (its dependants wait on it); a skipped one not.
    assert out.planned("here").deps == (("gone",) if failed else ())


def test_one_host_fails_a_missing_directory_as_it_always_did(tmp_path: Path) -> None:
    config = _config(tmp_path, proj("gone", "a"))
    out = select(config, EMPTY, TODAY, host="h1", absent=None)
    assert out.failed == {"gone": f"project directory {tmp_path / 'gone'} does not exist"}


# -- two hosts on one PostgreSQL store ------------------------------------------------------


def test_hosts_leave_a_missing_project_to_each_other_and_one_fails_it(
    tmp_path: Path, pg_url: str
) -> None:
    from agentd.state.postgres import PostgresStore

    config = _config(tmp_path, proj("gpu", "a"), proj("web", "a"))
    (tmp_path / "web").mkdir()
    now = datetime.now(UTC)
    log = structlog.get_logger("test")
    h1, h2 = PostgresStore(pg_url, host="h1"), PostgresStore(pg_url, host="h2")
    try:
        # h1 starts first: nobody else is known yet, so "gpu" waits for the sweep's end.
        assert ask_hosts(config, h1, None, TODAY, now, log) == {"gpu": Absent(Absence.LATER)}
        # h2 starts, has no "gpu" either, and knows h1 has said so: undecided too.
        assert ask_hosts(config, h2, None, TODAY, now, log) == {"gpu": Absent(Absence.LATER)}
        # h2's sweep ends first: no host has it, and h2, the first to find that, fails it.
        gone = f"project directory {tmp_path / 'gpu'} does not exist on any host"
        assert settle_later(config, h2, ["gpu"], TODAY, now, log) == {
            "gpu": (True, f"{gone} (asked: h1, h2)")
        }
        # h1's sweep ends: failed once, not once per host.
        assert settle_later(config, h1, ["gpu"], TODAY, now, log) == {
            "gpu": (False, "failed by another host: not on any host")
        }
    finally:
        h1.close()
        h2.close()


def test_a_host_that_started_later_is_asked_at_the_end(tmp_path: Path, pg_url: str) -> None:
    """Two hosts on their first night: h2 starts before h1 has ever published, so h1 is
    not known when h2 starts; by h2's end it is, and has not said it lacks "gpu"."""
    from agentd.state.postgres import PostgresStore

    config = _config(tmp_path, proj("gpu", "a"))
    now = datetime.now(UTC)
    log = structlog.get_logger("test")
    h1, h2 = PostgresStore(pg_url, host="h1"), PostgresStore(pg_url, host="h2")
    try:
        assert ask_hosts(config, h2, None, TODAY, now, log) == {"gpu": Absent(Absence.LATER)}
        (tmp_path / "gpu").mkdir()  # h1 has it (the hosts share tmp_path here)
        assert ask_hosts(config, h1, None, TODAY, now, log) == {}
        assert settle_later(config, h2, ["gpu"], TODAY, now, log) == {
            "gpu": (False, f"left for another host: {tmp_path / 'gpu'} does not exist on h2")
        }
        # The already-done check comes first: done today is done, whichever host did it.
        (tmp_path / "gpu").rmdir()
        assert h1.claim("gpu", _holder("r1", "h1", now), TODAY, ["a"], False, now)
        h1.record("gpu", "a", TaskRecord("ok", TODAY, "r1", None, None, 0.1, 0))
        h1.release("gpu", "r1", None)
        assert settle_later(config, h2, ["gpu"], TODAY, now, log) == {
            "gpu": (False, f"done today: finished by another host on {TODAY}")
        }
    finally:
        h1.close()
        h2.close()


def test_one_host_asks_nobody(tmp_path: Path) -> None:
    from agentd.state import JsonFileStore

    config = _config(tmp_path, proj("gpu", "a"))
    store = JsonFileStore(tmp_path / "state")
    now = datetime.now(UTC)
    assert ask_hosts(config, store, None, TODAY, now, structlog.get_logger("t")) is None


# -- the host a report names ----------------------------------------------------------------


def test_the_report_and_the_run_history_name_the_host(ws: Workspace) -> None:
    one_project(ws, state={"host": "build-7"})
    code, report = ws.once_json()
    assert code == 0, report["failures"]
    assert report["host"] == "build-7"
    [run] = ws.state_doc()["runs"]
    assert run["host"] == "build-7"
    markdown = (ws.state / "runs" / report["run_id"] / "report.md").read_text()
    assert " on host build-7\n" in markdown
    written = json.loads((ws.state / "runs" / report["run_id"] / "report.json").read_text())
    assert written["host"] == "build-7"


def test_a_dry_run_on_a_shared_store_asks_no_host(tmp_path: Path, pg_url: str) -> None:
    """The plan alone writes nothing: a project missing here is shown as left to the
    others, and this host is not published as missing it."""
    from agentd.daemon.sweep.engine import SweepRequest, plan
    from agentd.state.postgres import PostgresStore

    config = _config(tmp_path, proj("gpu", "a"))
    store = PostgresStore(pg_url, host="h1")
    try:
        selection = plan(config, store, SweepRequest(), datetime.now(UTC))
        assert selection.skipped == {
            "gpu": f"left for another host: {tmp_path / 'gpu'} does not exist on h1"
            " (failed if no host has it)"
        }
        assert store.read().hosts() == {}
    finally:
        store.close()


def test_the_skip_guard_comes_before_the_directory(tmp_path: Path) -> None:
    """A project whose every task succeeded today is done today, however its directory
    fares here: missing on every host, missing on this one host, or unusable."""
    config = _config(tmp_path, proj("gone", "a"))
    done = Snapshot({"projects": {"gone": {"tasks": {"a": {"status": "ok", "date": TODAY}}}}})
    reason = f"done today: its task succeeded on {TODAY}"
    for absent in ({"gone": Absent(Absence.NOWHERE, ("h1",))}, None):
        out = select(config, done, TODAY, host="h1", absent=absent)
        assert (out.skipped, out.failed) == ({"gone": reason}, {})
    # --force runs it again, and then its directory counts.
    forced = select(config, done, TODAY, force=True, host="h1", absent=None)
    assert forced.failed == {"gone": f"project directory {tmp_path / 'gone'} does not exist"}


def test_the_last_run_is_read_alone_in_both_stores(tmp_path: Path, pg_url: str) -> None:
    """What a sweep holding a claim reads of another host's run (its host included)."""
    from agentd.state import JsonFileStore, ProjectRecord
    from agentd.state.postgres import PostgresStore

    now = datetime.now(UTC)
    record = ProjectRecord("failed", TODAY, "r1", None, now.isoformat(), "h1")
    for store in (JsonFileStore(tmp_path / "state"), PostgresStore(pg_url, host="h1")):
        try:
            assert store.last_run("beta") is None
            store.claim("beta", _holder("r1", store.host, now), TODAY, ["a"], False, now)
            store.release("beta", "r1", record)
            assert store.last_run("beta") == record.to_dict()
        finally:
            store.close()
