"""One project of a sweep: claim it, run its tasks one at a time, record, release.

Each task's outcome is written to the state store as soon as the task ends, so a sweep
that dies halfway is resumed by the next one: the skip guard sees what already succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.durations import format_duration
from config.model import MASK, is_secret_key
from daemon import orphans, runner
from daemon.results import STOPPED, TASK_FAILURES, ProjectResult, TaskResult, project_status
from daemon.taskcmd import task_argv, task_env
from state import AllDone, Busy, ProjectRecord, StateError, TaskRecord
from state.claims import me, this_host
from state.files import ensure_private_dir

if TYPE_CHECKING:
    from config import Config
    from daemon.progress import Observer
    from daemon.selection import Planned
    from daemon.stop import StopToken
    from state import StateStore


@dataclass
class Failures:
    """Every failure of a sweep, in the order they happened (threads append concurrently)."""

    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, project: str | None, task: str | None, status: str, message: str) -> None:
        # list.append is atomic under the GIL; the order of appends is the order of events.
        self.items.append({"project": project, "task": task, "status": status, "message": message})


@dataclass
class SweepContext:
    config: Config
    store: StateStore
    run_id: str
    date: str
    run_dir: Path
    stop: StopToken
    force: bool
    environ: Mapping[str, str]
    observer: Observer
    failures: Failures
    log: Any  # a structlog logger bound to run_id


def mask_secrets(text: str, env: Mapping[str, str]) -> str:
    """The report quotes task output; a task that echoes its token must not leak it there,
    not even the part of it that the quoted window happens to begin with."""
    for key, value in env.items():
        if not is_secret_key(key) or len(value) < 4:
            continue
        text = text.replace(value, MASK)
        for cut in range(len(value) - 1, 3, -1):
            if text.startswith(value[-cut:]):
                text = MASK + text[cut:]
                break
    return text


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def run_project(ctx: SweepContext, planned: Planned) -> ProjectResult:
    """Never raises: a bug in here surfaces as an ``error`` in the report, not as an ok."""
    try:
        return _run_project(ctx, planned)
    except Exception as exc:
        ctx.log.exception("project.crashed", project=planned.name)
        message = f"internal error: {exc!r}"
        ctx.failures.add(planned.name, None, "error", message)
        return ProjectResult(
            planned.name, "error", message, blocks=f"dependency failed: {planned.name}"
        )


def _run_project(ctx: SweepContext, planned: Planned) -> ProjectResult:
    name = planned.name
    log = ctx.log.bind(project=name)
    now = datetime.now(UTC)
    blocked = f"dependency failed: {name}"
    try:
        claim = ctx.store.claim(
            name, me(ctx.run_id, now), ctx.date, list(planned.tasks), ctx.force, now
        )
    except StateError as exc:
        log.error("project.claim_failed", error=str(exc))
        ctx.failures.add(name, None, "error", f"cannot claim: {exc}")
        return ProjectResult(name, "error", f"cannot claim: {exc}", blocks=blocked)
    if isinstance(claim, Busy):
        reason = f"claimed by {claim.holder.describe()}"
        log.info("project.skipped", reason=reason)
        return ProjectResult(
            name,
            "skipped",
            reason,
            blocks=f"dependency {name} is running in {claim.holder.describe()}",
        )
    if isinstance(claim, AllDone):
        reason = "done today: finished by another sweep since this one started"
        log.info("project.skipped", reason=reason)
        return ProjectResult(name, "skipped", reason)
    if claim.replaced is not None:
        log.warning("claim.taken_over", previous=claim.replaced.describe(), why=claim.replaced_why)
        if claim.replaced.host == this_host():
            # The dead sweep could not stop its tasks; stop them before running ours.
            grace = ctx.config.settings.run.kill_grace
            orphans.stop_orphans(claim.replaced.run_id, name, grace, log)

    zone = ctx.config.zone
    started = datetime.now(zone)
    result = ProjectResult(name, "ok", started_at=iso(started))
    ctx.observer.project_started(name, planned)
    log.info("project.start", tasks=list(planned.tasks), path=str(planned.path))
    problems: list[str] = []  # project-level errors: the store, the run directory, bugs
    try:
        ensure_private_dir(ctx.run_dir / name)
        _run_tasks(ctx, planned, claim.done, result, problems, log)
    except Exception as exc:
        log.exception("project.crashed")
        problems.append(f"internal error: {exc!r}")
        ctx.failures.add(name, None, "error", problems[-1])
    finished = datetime.now(zone)
    result.finished_at = iso(finished)
    result.status = "error" if problems else project_status(result.tasks)
    result.reason = problems[0] if problems else ""
    record = ProjectRecord(
        result.status, ctx.date, ctx.run_id, result.started_at, result.finished_at
    )
    try:
        ctx.store.release(name, ctx.run_id, record)
    except StateError as exc:
        log.error("project.release_failed", error=str(exc))
        ctx.failures.add(name, None, "error", f"claim not released: {exc}")
        result.status, result.reason = "error", f"claim not released: {exc}"
    if result.status in ("failed", "error", "interrupted"):
        result.blocks = blocked
    log.info(
        "project.finish",
        status=result.status,
        duration_s=round((finished - started).total_seconds(), 3),
        tasks_ok=sum(t.status == "ok" for t in result.tasks),
        tasks_failed=sum(t.status in TASK_FAILURES for t in result.tasks),
    )
    ctx.observer.project_finished(result)
    return result


def _run_tasks(
    ctx: SweepContext,
    planned: Planned,
    done: frozenset[str],
    result: ProjectResult,
    problems: list[str],
    log: Any,
) -> None:
    stop_on_failure = ctx.config.settings.run.on_task_failure == "stop"
    first_failed: str | None = None
    for task in planned.tasks:
        if ctx.stop.requested:
            result.tasks.append(TaskResult(task, "skipped", reason=STOPPED))
        elif task in done:
            result.tasks.append(TaskResult(task, "skipped", reason="done today"))
        elif first_failed is not None and stop_on_failure:
            reason = f'task {first_failed} failed and on_task_failure = "stop"'
            result.tasks.append(TaskResult(task, "skipped", reason=reason))
        else:
            outcome = _guarded_task(ctx, planned, task, problems, log.bind(task=task))
            result.tasks.append(outcome)
            if outcome.status in TASK_FAILURES and first_failed is None:
                first_failed = task


def _guarded_task(
    ctx: SweepContext, planned: Planned, task: str, problems: list[str], log: Any
) -> TaskResult:
    """One task; a bug while running it makes that task an ``error``, and the sweep goes on."""
    try:
        return _run_task(ctx, planned, task, problems, log)
    except Exception as exc:
        log.exception("task.crashed")
        message = f"internal error: {exc!r}"
        ctx.failures.add(planned.name, task, "error", message)
        return TaskResult(task, "error", reason=message)


def _run_task(
    ctx: SweepContext, planned: Planned, task: str, problems: list[str], log: Any
) -> TaskResult:
    config = ctx.config
    values = {
        "project": planned.name,
        "project_dir": str(planned.path),
        "run_id": ctx.run_id,
        "date": ctx.date,
    }
    spec = config.project(planned.name)
    log_rel = f"{planned.name}/{task}.log"
    command = runner.Command(
        argv=task_argv(config, task, values),
        cwd=planned.path,
        env=task_env(ctx.environ, spec.env, values, task),
        log_path=ctx.run_dir / log_rel,
        timeout=config.task_timeout(task),
        kill_grace=config.settings.run.kill_grace,
    )
    ctx.observer.task_started(planned.name, task)
    log.debug("task.start", argv=command.argv, timeout=format_duration(command.timeout))
    outcome = runner.run(command, ctx.stop, config.zone, log)
    result = TaskResult(
        name=task,
        status=outcome.status,
        exit_code=outcome.exit_code,
        reason=outcome.reason,
        started_at=iso(outcome.started_at),
        finished_at=iso(outcome.finished_at),
        duration_s=outcome.duration_s,
        log=log_rel,
        output_tail=runner.trim_tail(mask_secrets(outcome.output_end, spec.env)),
    )
    if result.status in TASK_FAILURES:
        ctx.failures.add(planned.name, task, result.status, result.reason)
    record = TaskRecord(
        result.status,
        ctx.date,
        ctx.run_id,
        result.started_at,
        result.finished_at,
        result.duration_s,
        result.exit_code,
    )
    try:
        ctx.store.record(planned.name, task, record)
    except StateError as exc:
        message = f"outcome of {task} not saved: {exc}"
        problems.append(message)
        ctx.failures.add(planned.name, task, "error", message)
        log.error("task.record_failed", error=str(exc))
    emit = log.info if result.status == "ok" else log.warning
    emit(
        "task.finish",
        status=result.status,
        exit_code=result.exit_code,
        duration_s=result.duration_s,
        reason=result.reason or None,
        log=str(command.log_path),
    )
    ctx.observer.task_finished(planned.name, result)
    return result
