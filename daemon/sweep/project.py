"""One project of a sweep: claim it, run its tasks (task.py), record, release.

Each task's outcome is written to the state store as soon as the task ends, so a sweep
that dies halfway is resumed by the next one: the skip guard sees what already succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentd.daemon.model.clock import Clock
from agentd.daemon.model.observer import SweepObserver
from agentd.daemon.model.results import Failure, ProjectResult, project_status, tally
from agentd.daemon.model.status import BLOCKING, ProjectStatus, TaskStatus
from agentd.daemon.sweep import budget
from agentd.daemon.tasks import gitrepo, orphans
from agentd.state import AllDone, Busy, Claimed, ProjectRecord, Snapshot, StateError
from agentd.state.claims import Holder, me
from agentd.state.files import ensure_inner_dir

if TYPE_CHECKING:
    from agentd.config import Config
    from agentd.daemon.sweep.selection import Planned
    from agentd.daemon.tasks.stop import StopToken
    from agentd.state import StateStore


@dataclass
class Failures:
    """Every failure of a sweep, in the order they happened (threads append concurrently)."""

    items: list[Failure] = field(default_factory=list)

    def add(self, failure: Failure) -> None:
        # list.append is atomic under the GIL; the order of appends is the order of events.
        self.items.append(failure)


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
    observer: SweepObserver
    failures: Failures
    log: Any  # a structlog logger bound to run_id
    agent_slots: budget.AgentSlots
    worktrees: Path  # where isolation = "worktree" puts them: agentd's, not the user's
    clock: Clock
    started: datetime | None = None  # when the sweep started (None: long ago)
    # Projects another host's live claim holds (shared store): the holder met, so the
    # executor tries them again before the sweep ends (see held_elsewhere).
    held: dict[str, Holder] = field(default_factory=dict)

    def fail(self, project: str, task: str | None, status: TaskStatus, message: str) -> None:
        self.failures.add(Failure(project, task, status, message))

    def held_elsewhere(self, result: ProjectResult) -> bool:
        """The executor's retry rule: ``result`` is a skip because another host's live
        claim holds the project (a project's own thread writes ``held``, the executor's
        loop reads it after that thread's result: no race)."""
        return result.name in self.held


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def run_project(ctx: SweepContext, planned: Planned) -> ProjectResult:
    """Never raises: a bug in here surfaces as an ``error`` in the report, not as an ok."""
    try:
        return _run_project(ctx, planned)
    except Exception as exc:
        ctx.log.exception("project.crashed", project=planned.name)
        message = f"internal error: {exc!r}"
        ctx.fail(planned.name, None, TaskStatus.ERROR, message)
        return ProjectResult(
            planned.name, ProjectStatus.ERROR, message, blocks=f"dependency failed: {planned.name}"
        )


def _run_project(ctx: SweepContext, planned: Planned) -> ProjectResult:
    log = ctx.log.bind(project=planned.name)
    claim = _claim(ctx, planned, log)
    if isinstance(claim, ProjectResult):
        return claim
    tonight = _done_tonight(ctx, planned.name, log)
    if tonight is not None:
        return tonight
    refused = _refusal(ctx, planned, log)
    if refused is not None:
        return refused
    return _run_claimed(ctx, planned, claim.done, log)


def _claim(ctx: SweepContext, planned: Planned, log: Any) -> Claimed | ProjectResult:
    """The project's claim, or why this sweep does not run it."""
    name = planned.name
    now = ctx.clock.now()
    waited_for = ctx.held.pop(name, None)  # the other host's claim met last time
    try:
        claim = ctx.store.claim(
            name, me(ctx.run_id, now), ctx.date, list(planned.tasks), ctx.force, now
        )
    except StateError as exc:
        log.error("project.claim_failed", error=str(exc))
        ctx.fail(name, None, TaskStatus.ERROR, f"cannot claim: {exc}")
        return ProjectResult(
            name, ProjectStatus.ERROR, f"cannot claim: {exc}", blocks=f"dependency failed: {name}"
        )
    if isinstance(claim, Busy):
        holder = claim.holder.describe()
        if ctx.store.shared and claim.holder.host != ctx.store.host:
            # Tried again before this sweep ends: when the other host releases it, or
            # dies and its claim goes stale, this sweep takes it over the same night.
            if waited_for is None:
                log.info("project.waiting", reason=f"claimed by {holder}")
            ctx.held[name] = claim.holder
        else:
            log.info("project.skipped", reason=f"claimed by {holder}")
        blocks = f"dependency {name} is running in {holder}"
        return ProjectResult(name, ProjectStatus.SKIPPED, f"claimed by {holder}", blocks=blocks)
    if isinstance(claim, AllDone):
        reason = "done today: finished by another sweep since this one started"
        if waited_for is not None:
            reason = f"done by host {waited_for.host} (run {waited_for.run_id})"
        log.info("project.skipped", reason=reason)
        return ProjectResult(name, ProjectStatus.SKIPPED, reason)
    if claim.replaced is not None:
        log.warning("claim.taken_over", previous=claim.replaced.describe(), why=claim.replaced_why)
        if claim.replaced.host == ctx.store.host:
            # The dead sweep could not stop its tasks; stop them before running ours.
            grace = ctx.config.settings.run.kill_grace
            orphans.stop_orphans(claim.replaced.run_id, name, grace, log)
    return claim


def _done_tonight(ctx: SweepContext, name: str, log: Any) -> ProjectResult | None:
    """On a shared store, a project another host's run has finished since this sweep
    started (its failing task run once that night, not once per host) is released and
    skipped. Read while this sweep holds the claim, so no host can change it meanwhile.
    One host's sweeps that overlap behave as they always did (they share a process table:
    each is a second sweep of that host)."""
    if not ctx.store.shared or ctx.started is None:
        return None
    try:
        last = ctx.store.last_run(name) or {}
    except StateError as exc:  # then run it: a task twice is better than none
        log.error("project.last_run_unread", error=str(exc))
        return None
    host, status = last.get("host"), str(last.get("status"))
    finished = Snapshot({"projects": {name: {"last_run": last}}}).last_finished(name)
    if (
        not isinstance(host, str)
        or host == ctx.store.host
        or last.get("run_id") == ctx.run_id
        or status == ProjectStatus.INTERRUPTED  # stopped, not done: run it here
        or finished < ctx.started
    ):
        return None
    reason = f"done in this night's sweep by host {host} ({status})"
    log.info("project.skipped", reason=reason, run=last.get("run_id"))
    try:
        ctx.store.release(name, ctx.run_id, None)
    except StateError as exc:
        log.error("project.release_failed", error=str(exc))
    blocks = f"dependency failed: {name}" if status in BLOCKING else None
    return ProjectResult(name, ProjectStatus.SKIPPED, reason, blocks=blocks)


def _refusal(ctx: SweepContext, planned: Planned, log: Any) -> ProjectResult | None:
    """require_clean, checked once the project is claimed; a refused project's claim is
    released here."""
    name = planned.name
    try:
        refusal = _refused(ctx, planned)
    except Exception as exc:  # the claim below must be released whatever happens
        log.exception("project.check_crashed")
        refusal = (ProjectStatus.FAILED, f"require_clean: internal error: {exc!r}")
    if refusal is None:
        return None
    status, reason = refusal
    log.warning("project.refused", status=status, reason=reason)
    if status is ProjectStatus.FAILED:
        ctx.fail(name, None, TaskStatus.FAILED, reason)
    try:
        ctx.store.release(name, ctx.run_id, None)
    except StateError as exc:
        log.error("project.release_failed", error=str(exc))
    return ProjectResult(name, status, reason, blocks=f"dependency {status}: {name}")


def _refused(ctx: SweepContext, planned: Planned) -> tuple[ProjectStatus, str] | None:
    """require_clean: a dirty checkout, or one on another branch, is skipped (the user is
    working there); one where the question cannot be answered is a failure to fix."""
    spec = ctx.config.project(planned.name)
    if not ctx.config.require_clean(spec):
        return None
    verdict = gitrepo.clean_verdict(planned.path, spec.default_branch)
    return (ProjectStatus(verdict[0]), f"require_clean: {verdict[1]}") if verdict else None


def _run_claimed(
    ctx: SweepContext, planned: Planned, done: frozenset[str], log: Any
) -> ProjectResult:
    from agentd.daemon.sweep.task import run_tasks

    name = planned.name
    started = ctx.clock.now(ctx.config.zone)
    result = ProjectResult(name, ProjectStatus.OK, started_at=iso(started))
    ctx.observer.project_started(name, len(planned.tasks))
    log.info("project.start", tasks=list(planned.tasks), path=str(planned.path))
    problems: list[str] = []  # project-level errors: the store, the run directory, bugs
    lost: str | None = None  # the claim taken over by another sweep: the rest is its own
    try:
        ensure_inner_dir(ctx.run_dir / name)
        lost = run_tasks(ctx, planned, done, result, problems, log)
    except Exception as exc:
        log.exception("project.crashed")
        problems.append(f"internal error: {exc!r}")
        ctx.fail(name, None, TaskStatus.ERROR, problems[-1])
    finished = ctx.clock.now(ctx.config.zone)
    result.finished_at = iso(finished)
    result.status = ProjectStatus.ERROR if problems else project_status(result.tasks)
    result.reason = problems[0] if problems else ""
    if result.status is ProjectStatus.SKIPPED:
        result.reason = next(t.reason for t in result.tasks if t.kept_by_budget)
    if lost is None:
        _release(ctx, result, log)
    elif not problems:  # nothing of it was ours to record or release any more
        result.status, result.reason = ProjectStatus.SKIPPED, lost
        result.blocks = f"dependency {name} was taken over by another sweep"
    if result.status in BLOCKING:
        result.blocks = f"dependency failed: {name}"
    n = tally(t.status for t in result.tasks)
    log.info(
        "project.finish",
        status=result.status,
        duration_s=round((finished - started).total_seconds(), 3),
        tasks_ok=n.ok,
        tasks_failed=n.failed,
    )
    ctx.observer.project_finished(result)
    return result


def _release(ctx: SweepContext, result: ProjectResult, log: Any) -> None:
    """The project's outcome into the state, its claim given up."""
    record = ProjectRecord(
        result.status,
        ctx.date,
        ctx.run_id,
        result.started_at,
        result.finished_at,
        ctx.store.host,
    )
    try:
        ctx.store.release(result.name, ctx.run_id, record)
    except StateError as exc:
        log.error("project.release_failed", error=str(exc))
        ctx.fail(result.name, None, TaskStatus.ERROR, f"claim not released: {exc}")
        result.status, result.reason = ProjectStatus.ERROR, f"claim not released: {exc}"
