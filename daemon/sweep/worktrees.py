"""A task's own git worktree (``isolation = "worktree"``): made before the task from the
project's default branch, and after it, cleaned up or kept with what the task left there
for the report (its commits and what they changed)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from agentd.daemon.model.results import TaskResult
from agentd.daemon.model.status import TaskStatus
from agentd.daemon.output.redact import redact
from agentd.daemon.sweep.project import SweepContext, iso
from agentd.daemon.tasks import gitrepo

if TYPE_CHECKING:
    from agentd.daemon.sweep.selection import Planned


def no_worktree(
    ctx: SweepContext, task: str, agent: str | None, exc: gitrepo.GitError
) -> TaskResult:
    now = iso(ctx.clock.now(ctx.config.zone))
    reason = f"cannot create a worktree: {exc}"
    return TaskResult(
        task, TaskStatus.ERROR, reason=reason, started_at=now, finished_at=now, agent=agent
    )


def new_worktree(ctx: SweepContext, planned: Planned, task: str) -> gitrepo.Worktree:
    configured = ctx.config.project(planned.name).default_branch
    try:
        base: str | None = gitrepo.default_branch(planned.path, configured)
    except gitrepo.GitError:
        if configured is not None:
            raise
        base = None  # no default branch to be found: start from the checkout's HEAD
    return gitrepo.add_worktree(planned.path, ctx.worktrees, ctx.date, task, base)


def finish_worktree(
    tree: gitrepo.Worktree, log: Any, secrets: list[str]
) -> tuple[dict[str, Any], str | None]:
    """What became of the worktree, for the report, and the failure to report if its
    cleanup failed. ``secrets``: the task's, masked in its commits' subjects."""
    info: dict[str, Any] = {"branch": tree.branch, "path": str(tree.path), "base": tree.base}
    try:
        done = gitrepo.finish_worktree(tree)
    except Exception as exc:  # noqa: BLE001 - the task's outcome must still be recorded
        message = f"worktree {tree.path} not cleaned up: {exc}"
        log.error("task.worktree_cleanup_failed", error=str(exc), path=str(tree.path))
        return {**info, "kept": "worktree", "message": message}, message
    log.info("task.worktree", branch=tree.branch, kept=done.kept, commits=done.commits)
    info |= {"kept": done.kept, "message": done.message, **_work_left(done, secrets)}
    return info, None


def _work_left(done: gitrepo.Cleanup, secrets: list[str]) -> dict[str, Any]:
    """The commits the task left on its branch (newest first, at most LOG_COMMITS of
    ``commit_count``) and what they changed. A subject is the agent's text, as its answer
    is: masked as that is, then cut."""
    stat = asdict(done.diffstat) if done.diffstat is not None else None
    commits = [
        {"sha": sha, "subject": gitrepo.cut_subject(redact(subject, secrets))}
        for sha, subject in done.log
    ]
    return {"commits": commits, "commit_count": done.commits, "diffstat": stat}
