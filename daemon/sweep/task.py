"""A project's tasks, one at a time: each run, or skipped with its cause, then recorded.

Every task that starts, or fails to start, ends in ``_conclude``: the failure list, the
state store (skip guard and spend ledger), the log and the observers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentd.config.durations import format_duration
from agentd.daemon.agents.answers import Answer, answer_from_log, capped, headline
from agentd.daemon.agents.registry import from_log as read_usage
from agentd.daemon.agents.usage import Usage
from agentd.daemon.model.results import STOPPED, ProjectResult, TaskResult
from agentd.daemon.model.status import TASK_FAILURES, SkipCause, TaskStatus
from agentd.daemon.output.redact import env_secrets, redact
from agentd.daemon.sweep import budget, worktrees
from agentd.daemon.sweep.project import SweepContext, iso
from agentd.daemon.tasks import gitrepo, runner
from agentd.daemon.tasks.taskcmd import base_env, task_argv, task_env
from agentd.daemon.tasks.tasklog import task_log_rel
from agentd.state import ClaimLost, StateError, TaskRecord
from agentd.state.base import Refused

if TYPE_CHECKING:
    from agentd.config import Config
    from agentd.daemon.sweep.selection import Planned


class _Taken(Exception):
    """The project's claim was taken over by another sweep (which believed this one dead):
    what is left of the project is the new holder's to run. ``done``: the task whose outcome
    was refused, as it ran here (None: it never started)."""

    def __init__(self, done: TaskResult | None) -> None:
        super().__init__("claim taken over")
        self.done = done


def run_tasks(
    ctx: SweepContext,
    planned: Planned,
    done: frozenset[str],
    result: ProjectResult,
    problems: list[str],
    log: Any,
) -> str | None:
    """The project's tasks in order; returns why the rest was left if another sweep took
    the project's claim over (the tasks left are skipped for that reason), else None."""
    stop_on_failure = ctx.config.settings.run.on_task_failure == "stop"
    first_failed: str | None = None
    taken: str | None = None
    for task in planned.tasks:
        if taken is not None:
            result.tasks.append(TaskResult.skipped(task, SkipCause.CLAIM_LOST, taken))
        elif ctx.stop.requested:
            result.tasks.append(TaskResult.skipped(task, SkipCause.STOPPED, STOPPED))
        elif task in done:
            result.tasks.append(TaskResult.skipped(task, SkipCause.DONE_TODAY, "done today"))
        elif first_failed is not None and stop_on_failure:
            reason = f'task {first_failed} failed and on_task_failure = "stop"'
            result.tasks.append(TaskResult.skipped(task, SkipCause.AFTER_FAILURE, reason))
        else:
            try:
                outcome = _guarded_task(ctx, planned, task, problems, log.bind(task=task))
            except _Taken as lost:
                taken = _taken_over(ctx, planned.name, task, log)
                outcome = lost.done or TaskResult.skipped(task, SkipCause.CLAIM_LOST, taken)
            result.tasks.append(outcome)
            if outcome.status in TASK_FAILURES and first_failed is None:
                first_failed = task
    return taken


def _taken_over(ctx: SweepContext, project: str, task: str, log: Any) -> str:
    """Why the project's remaining tasks are not run here, naming its new holder if the
    store can still say; logged once, as a warning: the sweep itself did nothing wrong."""
    try:
        holder = ctx.store.read().claims().get(project)
    except StateError:
        holder = None
    reason = "claim taken over by another sweep"
    if holder is not None:
        reason += f": {holder.describe()}"
    log.warning("project.claim_lost", task=task, reason=reason)
    return reason


def _guarded_task(
    ctx: SweepContext, planned: Planned, task: str, problems: list[str], log: Any
) -> TaskResult:
    """One task; a bug while running it makes that task an ``error``, and the sweep goes on."""
    try:
        return _run_task(ctx, planned, task, problems, log)
    except _Taken:
        raise
    except Exception as exc:
        log.exception("task.crashed")
        message = f"internal error: {exc!r}"
        ctx.fail(planned.name, task, TaskStatus.ERROR, message)
        crashed = TaskResult(task, TaskStatus.ERROR, reason=message)
        ctx.observer.task_finished(planned.name, crashed)  # counted now, as _conclude does
        return crashed


def _run_task(
    ctx: SweepContext, planned: Planned, task: str, problems: list[str], log: Any
) -> TaskResult:
    agent = ctx.config.task(task).agent
    if agent is None:
        return _launch(ctx, planned, task, None, problems, log)
    # A slot first, then the budget: what others spent while this task waited counts.
    # The reservation is waited for holding the slot: this host's bound stays the bound.
    if not ctx.agent_slots.acquire():
        return TaskResult.skipped(task, SkipCause.STOPPED, STOPPED, agent)
    try:
        rule = budget.rule_for(ctx.config, ctx.date, agent)
        key = (planned.name, task, ctx.run_id)
        try:
            answer, waits = budget.reserve(ctx.store, key, rule, ctx.stop, ctx.clock, log)
        except ClaimLost:
            raise _Taken(None) from None
        except StateError as exc:
            return _unreserved(ctx, planned.name, task, agent, exc, log)
        if waits:  # on the task's every line from here on, its finish line too
            log = log.bind(reservation_waits=waits)
        if answer is None:
            log.info("task.skipped", reason=STOPPED)
            return TaskResult.skipped(task, SkipCause.STOPPED, STOPPED, agent)
        if isinstance(answer, Refused):
            log.warning("task.skipped", reason=answer.reason)
            return TaskResult.skipped(task, SkipCause.BUDGET, answer.reason, agent)
        return _launch(ctx, planned, task, agent, problems, log)
    finally:
        ctx.agent_slots.release()


def _unreserved(
    ctx: SweepContext, project: str, task: str, agent: str, exc: StateError, log: Any
) -> TaskResult:
    """The store could not be asked for room under the budget: the agent does not start
    (an unchecked budget may be overspent on every host), and the task is an error."""
    message = f"budget not checked: {exc}"
    log.error("task.reserve_failed", error=str(exc))
    ctx.fail(project, task, TaskStatus.ERROR, message)
    result = TaskResult(task, TaskStatus.ERROR, reason=message, agent=agent)
    ctx.observer.task_finished(project, result)
    return result


def _launch(
    ctx: SweepContext,
    planned: Planned,
    task: str,
    agent: str | None,
    problems: list[str],
    log: Any,
) -> TaskResult:
    config = ctx.config
    spec = config.project(planned.name)
    log_rel = task_log_rel(planned.name, task)
    tree: gitrepo.Worktree | None = None
    if config.isolation(spec) == "worktree":
        try:
            tree = worktrees.new_worktree(ctx, planned, task)
        except gitrepo.GitError as exc:
            log.error("task.worktree_failed", error=str(exc))
            failed = worktrees.no_worktree(ctx, task, agent, exc)
            return _conclude(ctx, planned.name, failed, problems, log)
    command = _command(ctx, planned, task, tree, ctx.run_dir / log_rel)
    ctx.observer.task_started(planned.name, task)
    argv = _masked_argv(command)  # the log is read by more people than the task's env
    log.debug("task.start", argv=argv, timeout=format_duration(command.timeout))
    outcome = runner.run_process(command, ctx.stop, config.zone, log, ctx.clock)
    # An agent that never started spent nothing: not "a run with usage unknown".
    usage = usage_of(config, agent, command.log_path) if outcome.spawned else None
    result = _result(task, agent, outcome, command, log_rel, argv, usage)
    if agent is not None and outcome.spawned:
        _record_answer(result, answer_of(config, agent, command.log_path, result), command)
    if outcome.log_cut is not None:
        log.warning("task.log_cut", **outcome.log_cut.to_dict())
    cleanup_failed = None
    if tree is not None:
        result.worktree, cleanup_failed = worktrees.finish_worktree(
            tree, log, env_secrets(command.env)
        )
    try:
        _conclude(ctx, planned.name, result, problems, log, command.log_path, usage)
    finally:  # this host's own trouble counts even if the claim was taken over meanwhile
        if cleanup_failed is not None:  # after the task's outcome: the order they happened
            ctx.fail(planned.name, task, TaskStatus.ERROR, cleanup_failed)
        cut = outcome.log_cut
        if cut is not None and cut.lost and result.status not in TASK_FAILURES:
            # Unlike a log cut at its configured size, a log the disk could not hold is a
            # problem to fix: the sweep fails and says so, even though the task did not.
            ctx.fail(planned.name, task, TaskStatus.ERROR, cut.reason())
    return result


def _result(
    task: str,
    agent: str | None,
    outcome: runner.Outcome,
    command: runner.Command,
    log_rel: str,
    argv: list[str],
    usage: Usage | None,
) -> TaskResult:
    return TaskResult(
        name=task,
        status=TaskStatus(outcome.status),
        exit_code=outcome.exit_code,
        reason=outcome.reason,
        started_at=iso(outcome.started_at),
        finished_at=iso(outcome.finished_at),
        duration_s=outcome.duration_s,
        log=log_rel,
        # A task that echoes its token must not leak it into the report, not even the
        # part of it that the quoted window happens to begin with. Every secret-named
        # variable it was given counts: [run] env's and agentd's own, not only the
        # project's.
        output_tail=runner.trim_tail(
            redact(outcome.output_end, env_secrets(command.env), window=True)
        ),
        agent=agent,
        usage=usage.to_dict() if usage else None,
        log_cut=outcome.log_cut.to_dict() if outcome.log_cut else None,
        log_path=str(command.log_path.absolute()),
        argv=argv,
    )


def _record_answer(result: TaskResult, said: Answer, command: runner.Command) -> None:
    """What the agent said, for the report: masked as the output is, before the cut (a
    secret the cut would halve is masked whole), and a failed run's reason led by the
    agent's own error ("claude: Not logged in · Please run /login; exit status 1")."""
    secrets = env_secrets(command.env)
    if said.text is not None:
        result.answer = capped(redact(said.text, secrets))
    if said.error is not None:
        result.agent_error = headline(redact(said.error, secrets))
        if result.status in TASK_FAILURES:
            result.reason = f"{result.agent_error}; {result.reason}"


def _masked_argv(command: runner.Command) -> list[str]:
    """The argv for the report: a secret reaches it through a placeholder (a {prompt} that
    holds one, say), so the values of the secret-named variables the task was given are
    masked."""
    secrets = env_secrets(command.env)
    return [redact(part, secrets) for part in command.argv]


def _command(
    ctx: SweepContext, planned: Planned, task: str, tree: gitrepo.Worktree | None, log_path: Path
) -> runner.Command:
    """The task's process: in the checkout, or in its worktree (told where the repository
    and its branch are)."""
    config = ctx.config
    spec = config.project(planned.name)
    postgres = config.settings.state.backend == "postgres"  # libpq's password kept from it
    workdir = tree.cwd if tree is not None else planned.path
    extra_env = (
        {"AGENTD_REPO_DIR": str(planned.path), "AGENTD_BRANCH": tree.branch}
        if tree is not None
        else {}
    )
    values = {
        "project": planned.name,
        "project_dir": str(workdir),
        "run_id": ctx.run_id,
        "date": ctx.date,
    }
    return runner.Command(
        argv=task_argv(config, task, values),
        cwd=workdir,
        env={
            **task_env(
                base_env(ctx.environ, config.settings.run, postgres), spec.env, values, task
            ),
            **extra_env,
        },
        log_path=log_path,
        timeout=config.task_timeout(task),
        kill_grace=config.settings.run.kill_grace,
        max_log_size=config.max_log_size(task),
    )


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
    state store (skip guard and spend ledger), the log and the live view. Raises _Taken
    (once all that is done) if another sweep holds the project's claim now: the outcome is
    not recorded and, the task being the new holder's to run again, no failure here."""
    task = result.name
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
    unsaved: StateError | None = None
    lost = False
    try:
        ctx.store.record(project, task, record)
    except ClaimLost:
        lost = True
    except StateError as exc:
        unsaved = exc
    if result.status in TASK_FAILURES and not lost:
        ctx.fail(project, task, result.status, result.reason)
    if unsaved is not None:
        message = f"outcome of {task} not saved: {unsaved}"
        problems.append(message)
        ctx.fail(project, task, TaskStatus.ERROR, message)
        log.error("task.record_failed", error=str(unsaved))
    emit = log.info if result.status is TaskStatus.OK else log.warning
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
    if lost:
        raise _Taken(result)
    return result


def usage_of(config: Config, agent: str | None, log_path: Path) -> Usage | None:
    if agent is None:
        return None
    return read_usage(log_path, config.usage_format(agent))


def answer_of(config: Config, agent: str, log_path: Path, result: TaskResult) -> Answer:
    failed = result.status in TASK_FAILURES
    return answer_from_log(log_path, config.usage_format(agent), failed=failed, agent=agent)


def _usage_fields(usage: Usage | None) -> dict[str, Any]:
    if usage is None:
        return {}
    if not usage.known:
        return {"usage": "unknown", "usage_reason": usage.reason}
    return {"cost_usd": usage.cost_usd, "tokens": usage.tokens}
