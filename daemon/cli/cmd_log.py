"""``agentd log [RUN_ID] PROJECT [TASK] [-f]``: a task's log, printed, or followed while the
task runs.

Which words are which: with three, RUN_ID PROJECT TASK; with one, PROJECT; with two, the
first is a run id when it is one (a run id or a unique prefix of one under runs/), else
PROJECT TASK. A word that is both a run id prefix and a project with logs is refused as
ambiguous, never guessed: ``--run RUN_ID`` says it outright. Without a run id, the run is
the latest one that holds a log of the project (and of the task, when named), finished or
still running: the night's run of that project, even after a no-op sweep since.

Reads the state directory only; the configuration matters only for finding it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from agentd.daemon.cli.elsewhere import refuse_log_elsewhere
from agentd.daemon.cli.exits import EXIT_OK, UsageError
from agentd.daemon.cli.logruns import (
    Run,
    listing,
    log_files,
    pick_run,
    projects_with_logs,
    read_run,
    resolve_names,
)
from agentd.daemon.cli.setup import ReadSetup, open_store, read_setup
from agentd.daemon.output.logview import LogOutput, copy_available
from agentd.daemon.output.textout import harmless
from agentd.daemon.sweep.rundirs import in_use, run_ids, runs_dir
from agentd.daemon.tasks.tasklog import LOG_SUFFIX, LogCut, task_log_path
from agentd.state import StateError, StateStore

# How often a follower looks for more output and for the task's end: a person's wait,
# short enough to feel live, long enough to cost nothing.
POLL_S = 0.5
EXIT_SIGINT = 128 + signal.SIGINT


@dataclass(frozen=True)
class TaskLog:
    name: str
    status: str
    path: Path | None  # None: the task has no log (skipped)


def log_command(args: argparse.Namespace) -> int:
    setup = _read_setup(args)
    directory = setup.state_dir
    root = runs_dir(directory)
    try:
        runs = run_ids(directory)
    except PermissionError:
        from agentd.config.access import denied  # who owns it, and how to get in

        raise UsageError(f"cannot read {root}: {denied(root)}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {root}: {exc.strerror}") from None
    run_id, project, task = resolve_names(args.names, args.run, root, runs)
    if run_id is not None and not any(run.startswith(run_id) for run in runs):
        refuse_log_elsewhere(args, setup, run_id, project, task)  # another host's run?
    if not runs:
        raise UsageError(f"no runs yet in {root}")
    run = pick_run(root, runs, run_id, project, task)
    # One store for the whole command: a follower's polls then read only the journal's new
    # lines, not the whole state each time.
    store = _open(setup)
    try:
        return _show(args, store, run, project, task)
    finally:
        if store is not None:
            store.close()


def _open(setup: ReadSetup) -> StateStore | None:
    """The configured store, or None with a warning: the log is on this disk whatever the
    store says (an unreachable database costs only the tasks' recorded outcomes)."""
    try:
        return open_store(setup.state_dir, setup.state)[0]
    except UsageError as exc:
        print(f"agentd: warning: {harmless(str(exc))}", file=sys.stderr)
        return None


def _show(
    args: argparse.Namespace, store: StateStore | None, run: Run, project: str, task: str | None
) -> int:
    logs = task_logs(store, run, project)
    chosen = _choose(run, project, task, logs)
    assert chosen.path is not None
    print(
        harmless(
            f"agentd: run {run.run_id}, {project}/{chosen.name} ({chosen.status}): {chosen.path}"
        ),
        file=sys.stderr,
        flush=True,
    )
    out = LogOutput(sys.stdout.buffer, sys.stdout.isatty())
    sys.stdout.flush()
    try:
        handle = open(chosen.path, "rb")  # noqa: SIM115 - closed below, or at a follow's end
    except OSError as exc:
        raise UsageError(f"cannot read {chosen.path}: {exc.strerror}") from None
    with handle:
        if args.follow:
            return _follow(handle, out, store, run, project, chosen.name)
        copy_available(handle, out)
        out.close()
    _trailer(run, project, chosen)
    return EXIT_OK


def _read_setup(args: argparse.Namespace) -> ReadSetup:
    """The logs outlive configuration mistakes: the file is read only for where the state
    is, and a broken one is a warning."""
    setup = read_setup(args, need_config=False)
    if setup.warning:
        print(f"agentd: {harmless(setup.warning)}", file=sys.stderr)
    return setup


def task_logs(store: StateStore | None, run: Run, project: str) -> list[TaskLog]:
    """The project's tasks in ``run``, in the order they ran: from its report when it has
    one (skipped tasks included, without a log), else from the logs on disk, with what the
    state store says of each."""
    where = run.path / project
    if run.report is not None:
        entry = next((p for p in run.report.get("projects", []) if p.get("name") == project), None)
        if entry is not None and entry.get("tasks"):
            return [_reported(run.path, project, task) for task in entry["tasks"]]
        if entry is not None:  # skipped whole: a dependency failed, everything done today
            why = entry.get("reason") or entry.get("status")
            raise UsageError(f"project {project} ran no task in run {run.run_id}: {why}")
    files = log_files(where)
    if not files:
        raise UsageError(
            f"run {run.run_id} has no logs of project {project!r}; projects with logs "
            f"there: {listing(projects_with_logs(run.path))}"
        )
    records = _records(store, project)
    logs = []
    for path in files:
        name = path.name.removesuffix(LOG_SUFFIX)
        logs.append(TaskLog(name, _unreported_status(run, records.get(name)), path))
    return sorted(logs, key=lambda log: _mtime(log.path))


def _reported(run_path: Path, project: str, task: dict[str, Any]) -> TaskLog:
    name = str(task.get("name"))
    path = task_log_path(run_path, project, name) if task.get("log") else None
    return TaskLog(name, str(task.get("status")), path)


def _unreported_status(run: Run, record: dict[str, Any] | None) -> str:
    if record is not None and record.get("run_id") == run.run_id:
        return str(record.get("status"))
    if in_use(run.path):
        return "running"
    return "unknown: its sweep ended without a report"


def _records(store: StateStore | None, project: str) -> dict[str, Any]:
    """The state store's last outcome of each of the project's tasks; none if the store
    cannot be read (the logs do not need it)."""
    if store is None:
        return {}
    try:
        tasks = store.read().project(project).get("tasks", {})
    except StateError:
        return {}
    return tasks if isinstance(tasks, dict) else {}


def _mtime(path: Path | None) -> float:
    try:
        return path.stat().st_mtime if path is not None else 0.0
    except OSError:
        return 0.0


def _choose(run: Run, project: str, task: str | None, logs: list[TaskLog]) -> TaskLog:
    with_log = [log for log in logs if log.path is not None]
    if task is None:
        if len(with_log) == 1:
            return with_log[0]
        if not with_log:
            raise UsageError(f"project {project} ran no task in run {run.run_id}:\n{_table(logs)}")
        raise UsageError(
            f"project {project} ran {len(with_log)} tasks in run {run.run_id}; name one:\n"
            f"{_table(logs)}"
        )
    found = next((log for log in logs if log.name == task), None)
    if found is None:
        raise UsageError(
            f"run {run.run_id} has no task {task!r} of project {project}; its tasks there:\n"
            f"{_table(logs)}"
        )
    if found.path is None:
        raise UsageError(f"{project}/{task} did not run in run {run.run_id}: {found.status}")
    return found


def _table(logs: list[TaskLog]) -> str:
    width = max(len(log.name) for log in logs)
    status_width = max(len(log.status) for log in logs)
    return "\n".join(
        f"  {log.name:<{width}}  {log.status:<{status_width}}  {log.path or '(no log)'}"
        for log in logs
    )


def _follow(
    handle: BinaryIO, out: LogOutput, store: StateStore | None, run: Run, project: str, task: str
) -> int:
    """Print what the log holds and what it gains, until the task ends (its outcome is
    recorded) or its sweep does; Ctrl-C ends it quietly, with 130."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            copy_available(handle, out)
            out.flush()
            if _ended(store, run, project, task):
                # The runner writes all of it (a cut log's tail too) before the outcome.
                copy_available(handle, out)
                break
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        out.close()
        return EXIT_SIGINT
    finally:
        signal.signal(signal.SIGINT, previous)
    out.close()
    ended = read_run(run.path.parent, run.run_id)
    # The header said "(running)": how it ended is said too. The exit status stays 0, the
    # log was shown; the task's own is for `agentd status` and the report to give.
    print(
        harmless(f"agentd: {project}/{task} {_outcome(store, ended, project, task)}"),
        file=sys.stderr,
    )
    _trailer(ended, project, TaskLog(task, "", None))
    return EXIT_OK


def _outcome(store: StateStore | None, run: Run, project: str, task: str) -> str:
    """How a followed task ended, from the state's record of it in this run, else from
    the run's report: its status and exit status."""
    record = _records(store, project).get(task)
    if not (isinstance(record, dict) and record.get("run_id") == run.run_id):
        record = next(
            (
                t
                for p in (run.report or {}).get("projects", [])
                if p.get("name") == project
                for t in p.get("tasks", [])
                if t.get("name") == task
            ),
            None,
        )
    if not isinstance(record, dict) or not record.get("status"):
        return "ended: its sweep ended without recording how (see `agentd status`)"
    code = record.get("exit_code")
    return f"ended: {record['status']}" + (f", exit status {code}" if code is not None else "")


def _ended(store: StateStore | None, run: Run, project: str, task: str) -> bool:
    if (run.path / "report.json").exists() or not in_use(run.path):
        return True
    record = _records(store, project).get(task)
    return isinstance(record, dict) and record.get("run_id") == run.run_id


def _trailer(run: Run, project: str, shown: TaskLog) -> None:
    """What the reader should know after the log: it was cut, or it is not over yet."""
    note = None
    if run.report is not None:
        entry = next(
            (
                t
                for p in run.report.get("projects", [])
                if p.get("name") == project
                for t in p.get("tasks", [])
                if t.get("name") == shown.name
            ),
            None,
        )
        cut = entry.get("log_cut") if entry else None
        if cut:
            try:
                note = LogCut(**cut).reason()
            except TypeError:
                note = "log cut (its report's note is not of this agentd)"
    elif shown.status == "running":
        note = f"{project}/{shown.name} is still running: `agentd log -f` follows it"
    if note:
        print(harmless(f"agentd: {note}"), file=sys.stderr)
