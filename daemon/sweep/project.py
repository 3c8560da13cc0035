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

from agentd.config.durations import format_duration
from agentd.daemon.agents.registry import from_log as read_usage
from agentd.daemon.agents.usage import Usage
from agentd.daemon.model.results import (
    BUDGET,
    STOPPED,
    TASK_FAILURES,
    ProjectResult,
    TaskResult,
    project_status,
)
from agentd.daemon.output.redact import env_secrets, redact
from agentd.daemon.sweep import budget
from agentd.daemon.tasks import gitrepo, orphans, runner
from agentd.daemon.tasks.taskcmd import task_argv, task_env
from agentd.state import AllDone, Busy, ProjectRecord, StateError, TaskRecord
from agentd.state.claims import me, this_host
from agentd.state.files import ensure_private_dir

if TYPE_CHECKING:
    from agentd.config import Config
    from agentd.daemon.output.progress import Observer
    from agentd.daemon.sweep.selection import Planned
    from agentd.daemon.tasks.stop import StopToken
    from agentd.state import StateStore


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
    agent_slots: budget.AgentSlots
    worktrees: Path  # where isolation = "worktree" puts them: agentd's, not the user's


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

    try:
        refusal = _refused(ctx, planned)
    except Exception as exc:  # the claim below must be released whatever happens
        log.exception("project.check_crashed")
        refusal = ("failed", f"require_clean: internal error: {exc!r}")
    if refusal is not None:
        status, reason = refusal
        log.warning("project.refused", status=status, reason=reason)
        if status == "failed":
            ctx.failures.add(name, None, status, reason)
        try:
            ctx.store.release(name, ctx.run_id, None)
        except StateError as exc:
            log.error("project.release_failed", error=str(exc))
        return ProjectResult(name, status, reason, blocks=f"dependency {status}: {name}")

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
    if result.status == "skipped":
        result.reason = next(t.reason for t in result.tasks if t.reason.startswith(BUDGET))
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


def _refused(ctx: SweepContext, planned: Planned) -> tuple[str, str] | None:
    """require_clean: a dirty checkout, or one on another branch, is skipped (the user is
    working there); one where the question cannot be answered is a failure to fix."""
    spec = ctx.config.project(planned.name)
    if not ctx.config.require_clean(spec):
        return None
    verdict = gitrepo.clean_verdict(planned.path, spec.default_branch)
    return (verdict[0], f"require_clean: {verdict[1]}") if verdict else None


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
    agent = ctx.config.task(task).agent
    if agent is None:
        return _execute(ctx, planned, task, None, problems, log)
    # A slot first, then the budget: what others spent while this task waited counts.
    if not ctx.agent_slots.acquire():
        return TaskResult(task, "skipped", reason=STOPPED, agent=agent)
    try:
        over = budget.exhausted(ctx.config.settings.budget, ctx.store.read(), ctx.date, agent)
        if over is not None:
            log.warning("task.skipped", reason=over)
            return TaskResult(task, "skipped", reason=over, agent=agent)
        return _execute(ctx, planned, task, agent, problems, log)
    finally:
        ctx.agent_slots.release()


def _execute(
    ctx: SweepContext,
    planned: Planned,
    task: str,
    agent: str | None,
    problems: list[str],
    log: Any,
) -> TaskResult:
    config = ctx.config
    spec = config.project(planned.name)
    log_rel = f"{planned.name}/{task}.log"
    workdir, extra_env = planned.path, {}
    tree: gitrepo.Worktree | None = None
    if config.isolation(spec) == "worktree":
        try:
            tree = _new_worktree(ctx, planned, task)
        except gitrepo.GitError as exc:
            log.error("task.worktree_failed", error=str(exc))
            now = iso(datetime.now(config.zone))
            failed = TaskResult(
                task,
                "error",
                reason=f"cannot create a worktree: {exc}",
                started_at=now,
                finished_at=now,
                agent=agent,
            )
            return _conclude(ctx, planned.name, failed, problems, log)
        workdir = tree.cwd
        extra_env = {"AGENTD_REPO_DIR": str(planned.path), "AGENTD_BRANCH": tree.branch}
    values = {
        "project": planned.name,
        "project_dir": str(workdir),
        "run_id": ctx.run_id,
        "date": ctx.date,
    }
    command = runner.Command(
        argv=task_argv(config, task, values),
        cwd=workdir,
        env={**task_env(ctx.environ, spec.env, values, task), **extra_env},
        log_path=ctx.run_dir / log_rel,
        timeout=config.task_timeout(task),
        kill_grace=config.settings.run.kill_grace,
        max_log_size=config.max_log_size(task),
    )
    ctx.observer.task_started(planned.name, task)
    log.debug("task.start", argv=command.argv, timeout=format_duration(command.timeout))
    outcome = runner.run(command, ctx.stop, config.zone, log)
    # An agent that never started spent nothing: not "a run with usage unknown".
    usage = usage_of(config, agent, command.log_path) if outcome.spawned else None
    result = TaskResult(
        name=task,
        status=outcome.status,
        exit_code=outcome.exit_code,
        reason=outcome.reason,
        started_at=iso(outcome.started_at),
        finished_at=iso(outcome.finished_at),
        duration_s=outcome.duration_s,
        log=log_rel,
        # A task that echoes its token must not leak it into the report, not even the
        # part of it that the quoted window happens to begin with.
        output_tail=runner.trim_tail(
            redact(outcome.output_end, env_secrets(spec.env), window=True)
        ),
        agent=agent,
        usage=usage.to_dict() if usage else None,
        log_cut=outcome.log_cut.to_dict() if outcome.log_cut else None,
    )
    if outcome.log_cut is not None:
        log.warning("task.log_cut", **outcome.log_cut.to_dict())
    cleanup_failed = None
    if tree is not None:
        result.worktree, cleanup_failed = _finish_worktree(tree, log)
    _conclude(ctx, planned.name, result, problems, log, command.log_path, usage)
    if cleanup_failed is not None:  # after the task's own outcome: the order they happened
        ctx.failures.add(planned.name, task, "error", cleanup_failed)
    cut = outcome.log_cut
    if cut is not None and cut.lost and result.status not in TASK_FAILURES:
        # Unlike a log cut at its configured size, a log the disk could not hold is a
        # problem to fix: the sweep fails and says so, even though the task did not.
        ctx.failures.add(planned.name, task, "error", cut.reason())
    return result


def _conclude(
    ctx: SweepContext,
    project: str,
    result: TaskResult,
    problems: list[str],
    log: Any,
    log_path: Path | None = None,
    usage: Usage | None = None,
) -> TaskResult:
    """Every task that was started, or failed to start, ends here: the failure list, the
    state store (skip guard and spend ledger), the log and the live view."""
    task = result.name
    if result.status in TASK_FAILURES:
        ctx.failures.add(project, task, result.status, result.reason)
    record = TaskRecord(
        result.status,
        ctx.date,
        ctx.run_id,
        result.started_at,
        result.finished_at,
        result.duration_s,
        result.exit_code,
        result.agent,
        result.usage,
    )
    try:
        ctx.store.record(project, task, record)
    except StateError as exc:
        message = f"outcome of {task} not saved: {exc}"
        problems.append(message)
        ctx.failures.add(project, task, "error", message)
        log.error("task.record_failed", error=str(exc))
    emit = log.info if result.status == "ok" else log.warning
    emit(
        "task.finish",
        status=result.status,
        exit_code=result.exit_code,
        duration_s=result.duration_s,
        reason=result.reason or None,
        log=str(log_path) if log_path else None,
        **_usage_fields(usage),
    )
    ctx.observer.task_finished(project, result)
    return result


def usage_of(config: Config, agent: str | None, log_path: Path) -> Usage | None:
    if agent is None:
        return None
    return read_usage(log_path, config.usage_format(agent))


def _usage_fields(usage: Usage | None) -> dict[str, Any]:
    if usage is None:
        return {}
    if not usage.known:
        return {"usage": "unknown", "usage_reason": usage.reason}
    return {"cost_usd": usage.cost_usd, "tokens": usage.tokens}


def _new_worktree(ctx: SweepContext, planned: Planned, task: str) -> gitrepo.Worktree:
    configured = ctx.config.project(planned.name).default_branch
    try:
        base: str | None = gitrepo.default_branch(planned.path, configured)
    except gitrepo.GitError:
        if configured is not None:
            raise
        base = None  # no default branch to be found: start from the checkout's HEAD
    return gitrepo.add_worktree(planned.path, ctx.worktrees, ctx.date, task, base)


def _finish_worktree(tree: gitrepo.Worktree, log: Any) -> tuple[dict[str, Any], str | None]:
    """What became of the worktree, for the report, and the failure to report if its
    cleanup failed."""
    info: dict[str, Any] = {"branch": tree.branch, "path": str(tree.path), "base": tree.base}
    try:
        done = gitrepo.finish_worktree(tree)
    except Exception as exc:  # noqa: BLE001 - the task's outcome must still be recorded
        message = f"worktree {tree.path} not cleaned up: {exc}"
        log.error("task.worktree_cleanup_failed", error=str(exc), path=str(tree.path))
        return {**info, "kept": "worktree", "message": message}, message
    log.info("task.worktree", branch=tree.branch, kept=done.kept, commits=done.commits)
    info |= {"commits": done.commits, "kept": done.kept, "message": done.message}
    return info, None
