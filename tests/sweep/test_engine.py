"""Sweeps run inside the test process, for moments a subprocess cannot be stopped at:
exactly between two tasks, or with a bug injected into agentd itself. Tasks are still real
processes and the state store is the real file store."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentd.daemon.model.results import TaskResult
from agentd.daemon.output.progress import Observer
from agentd.daemon.output.report import ReportWriter
from agentd.daemon.sweep import project as project_module
from agentd.daemon.sweep import task as task_module
from agentd.daemon.sweep.engine import SweepRequest, run_sweep
from agentd.daemon.tasks import gitrepo
from agentd.daemon.tasks.stop import StopToken
from agentd.state import JsonFileStore
from tests.builders import Table, ask, cmd, load, proj, write_config
from tests.helpers import Workspace


def _setup(
    tmp_path: Path, tasks: dict[str, Table], projects: list[Table]
) -> tuple[Any, JsonFileStore, Path]:
    for name in ("p", "q"):
        (tmp_path / name).mkdir()
    state = tmp_path / "state"
    return load(tmp_path, tasks, projects), JsonFileStore(state), state


TWO_TASKS = (
    {"one": cmd("true"), "two": cmd("true")},
    [proj("p", "one", "two"), proj("q", "one")],
)


class StopAfterFirstTask(Observer):
    def __init__(self, stop: StopToken) -> None:
        self.stop = stop

    def task_finished(self, project: str, result: TaskResult) -> None:
        self.stop.request()


def test_a_stop_between_two_tasks_makes_the_project_interrupted(tmp_path: Path) -> None:
    config, store, state = _setup(tmp_path, *TWO_TASKS)
    stop = StopToken()
    report = run_sweep(
        config, store, state, SweepRequest(), stop, [StopAfterFirstTask(stop)]
    ).to_dict()
    assert report["status"] == "interrupted"
    p, q = report["projects"]
    assert [(t["name"], t["status"]) for t in p["tasks"]] == [("one", "ok"), ("two", "skipped")]
    assert p["tasks"][1]["reason"] == "sweep interrupted"
    assert p["status"] == "interrupted"
    assert q["status"] == "skipped"
    assert q["reason"] == "sweep interrupted before it started"
    assert store.read().project("p")["last_run"]["status"] == "interrupted"
    assert report["counts"]["projects_interrupted"] == 1
    # The next sweep resumes: "one" is done today, "two" runs.
    again = run_sweep(config, store, state, SweepRequest(), StopToken(), [Observer()]).to_dict()
    assert [(t["name"], t["status"]) for t in again["projects"][0]["tasks"]] == [
        ("one", "skipped"),
        ("two", "ok"),
    ]


def test_a_bug_while_running_a_task_is_reported_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store, state = _setup(tmp_path, *TWO_TASKS)
    real = task_module._run_task

    def buggy(ctx: Any, planned: Any, task: str, problems: list[str], log: Any) -> TaskResult:
        if task == "one" and planned.name == "p":
            raise RuntimeError("injected")
        return real(ctx, planned, task, problems, log)

    monkeypatch.setattr(task_module, "_run_task", buggy)
    report = run_sweep(config, store, state, SweepRequest(), StopToken(), [Observer()]).to_dict()
    assert report["status"] == "failed"
    p = report["projects"][0]
    assert p["status"] == "failed"
    assert p["tasks"][0]["status"] == "error"
    assert "injected" in p["tasks"][0]["reason"]
    assert p["tasks"][1]["status"] == "ok"  # the sweep went on
    assert report["failures"] == [
        {
            "project": "p",
            "task": "one",
            "status": "error",
            "message": "internal error: RuntimeError('injected')",
        }
    ]


def test_a_bug_outside_the_tasks_fails_the_project_and_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store, state = _setup(tmp_path, *TWO_TASKS)

    def broken(*args: Any) -> None:
        raise OSError("injected")

    monkeypatch.setattr(project_module, "ensure_inner_dir", broken)
    report = run_sweep(config, store, state, SweepRequest(), StopToken(), [Observer()]).to_dict()
    assert report["status"] == "failed"
    assert {p["status"] for p in report["projects"]} == {"error"}
    assert len(report["failures"]) == 2
    assert store.read().project("p")["last_run"]["status"] == "error"


def test_claims_get_heartbeats_while_a_sweep_runs(tmp_path: Path) -> None:
    config, _, state = _setup(tmp_path, {"slow": cmd("sleep", 3)}, [proj("p", "slow")])
    # The heartbeat's period follows the store's stale time: five beats fit in it.
    store = JsonFileStore(state, stale_after=1.0)
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            claim = store.read().claims().get("p")
            if claim is not None:
                seen.append(claim.heartbeat)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        report = run_sweep(
            config, store, state, SweepRequest(), StopToken(), [Observer()]
        ).to_dict()
    finally:
        done.set()
        watcher.join()
    assert report["status"] == "ok"
    assert len(set(seen)) >= 2, "the claim's heartbeat never moved during a 3 s task"


REPO_TASK = {"one": cmd("true")}


def test_a_crash_in_the_repository_check_releases_the_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left claimed by a live daemon, the project would be skipped as "claimed" every night,
    with the sweep ok and no alert."""
    config, store, state = _setup(tmp_path, REPO_TASK, [proj("p", "one", require_clean=True)])

    def broken(*args: Any) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(gitrepo, "default_branch", broken)
    stop = StopToken()
    report = run_sweep(config, store, state, SweepRequest(), stop, [Observer()], {}).to_dict()
    [p] = report["projects"]
    assert p["status"] == "failed"
    assert p["reason"].startswith("require_clean: internal error: PermissionError")
    assert store.read().claims() == {}
    stop.close()


def test_a_worktree_that_cannot_be_made_is_a_recorded_error(tmp_path: Path) -> None:
    """p is not a git repository: the task is an error, in the report and in the store."""
    config, store, state = _setup(tmp_path, REPO_TASK, [proj("p", "one", isolation="worktree")])
    stop = StopToken()
    report = run_sweep(config, store, state, SweepRequest(), stop, [Observer()], {}).to_dict()
    [task] = report["projects"][0]["tasks"]
    assert task["status"] == "error"
    assert task["reason"].startswith("cannot create a worktree:")
    assert "not in a git repository" in task["reason"]
    assert store.read().task("p", "one")["status"] == "error"  # type: ignore[index]
    assert report["failures"][0]["task"] == "one"
    stop.close()


def test_the_debug_log_shows_a_tasks_argv_with_its_secrets_masked(ws: Workspace) -> None:
    """A secret reaches an argv through a placeholder ({prompt} here): the task.start record
    masks it as the report does."""
    secret = "s3cr3t-debug-token"
    write_config(
        ws,
        {"agent": ask("echoer", f"use {secret} on {{project}}")},
        [proj("p", "agent", env={"DEMO_TOKEN": secret})],
        agents={"echoer": cmd("echo", "{prompt}")},
    )
    proc = ws.once("--log-level", "debug", "--log-format", "json")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    (start,) = [e for e in events if e["event"] == "task.start"]
    assert start["argv"] == ["echo", "use ******** on p"]
    assert secret not in proc.stderr


class LockTurnsToADirectory(Observer):
    """After the task: the state can still be read, and no longer written (its lock file
    cannot be opened), as on a file system gone read-only or full."""

    def __init__(self, store: JsonFileStore) -> None:
        self.store = store

    def task_finished(self, project: str, result: TaskResult) -> None:
        lock = Path(self.store.lock_path)
        lock.unlink()
        lock.mkdir()


def test_a_sweep_not_recorded_compares_no_nights(tmp_path: Path) -> None:
    """The history would lack tonight's sweep: what changed since the night before is not
    known, and report.json says so (null), rather than "nothing"."""
    config, store, state = _setup(tmp_path, {"one": cmd("true")}, [proj("p", "one")])
    observers = [LockTurnsToADirectory(store), ReportWriter(store, config)]
    report = run_sweep(config, store, state, SweepRequest(), StopToken(), observers)
    assert any(f.message.startswith("run history not saved: ") for f in report.failures)
    assert report.changes is None
    saved = json.loads((Path(report.run_dir or "") / "report.json").read_text())
    assert (saved["status"], saved["changes"]) == ("failed", None)


def test_the_history_says_what_report_json_says_when_the_page_fails(tmp_path: Path) -> None:
    """report.html cannot be written (a directory holds its name), after the summary was
    recorded as ok: the history, which `agentd status`, the metrics and the pings read,
    ends up failed as report.json does."""
    config, store, state = _setup(tmp_path, {"one": cmd("true")}, [proj("p", "one")])
    runs = state / "runs"

    class PageInTheWay(Observer):
        def task_finished(self, project: str, result: TaskResult) -> None:
            (run_dir,) = [d for d in runs.iterdir() if not d.name.startswith(".")]
            (run_dir / "report.html").mkdir()

    observers = [PageInTheWay(), ReportWriter(store, config)]
    report = run_sweep(config, store, state, SweepRequest(), StopToken(), observers)
    saved = json.loads((Path(report.run_dir or "") / "report.json").read_text())
    assert saved["status"] == "failed"
    assert [f["message"] for f in saved["failures"]] == ["report.html not written: Is a directory"]
    (summary,) = JsonFileStore(state).read().runs()
    assert summary["status"] == "failed"
    assert summary["counts"] == saved["counts"]
