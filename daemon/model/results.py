"""Outcomes of tasks and projects, shared by the executor, the report and the terminal view.

A failure is anything the exit status and the report's ``failures`` list must surface;
skipped work never is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from agentd.daemon.model.status import (
    PROJECT_FAILURES,
    TASK_FAILURES,
    ProjectStatus,
    SkipCause,
    TaskStatus,
)

STOPPED = "sweep interrupted"  # the reason of tasks a stop request kept from starting
BUDGET = "budget: "  # the start of the reason of tasks a spend limit kept from starting

# Parts of a task's record that are other layers' JSON (an agent's usage, a worktree's
# fate, a log's cut): kept as they serialise, since the report is where they go.
Record = dict[str, Any]


@dataclass
class TaskResult:
    name: str
    status: TaskStatus
    exit_code: int | None = None
    reason: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    log: str | None = None  # relative to the run directory
    output_tail: str = ""
    agent: str | None = None  # agent tasks only, with what they reported spending
    usage: Record | None = None
    # What the agent said (agentd.daemon.agents.answers): its final answer, capped and with
    # secrets masked, and for a failed run its own error, which the reason leads with.
    answer: str | None = None
    agent_error: str | None = None
    # isolation = "worktree": branch, path, what was kept, and a kept branch's commits and
    # diffstat
    worktree: Record | None = None
    log_cut: Record | None = None  # output its log does not hold (agentd.daemon.tasks.tasklog)
    # Absolute, for a reader who does not know where the run directory is (``log`` stays
    # relative, as report.json has always had it).
    log_path: str | None = None
    argv: list[str] | None = None  # the command that ran, secrets masked
    # Not in the report (its reason says it in words): why a skipped task never started.
    cause: SkipCause | None = None

    @classmethod
    def skipped(
        cls, name: str, cause: SkipCause, reason: str, agent: str | None = None
    ) -> TaskResult:
        return cls(name, TaskStatus.SKIPPED, reason=reason, agent=agent, cause=cause)

    @property
    def kept_by_budget(self) -> bool:
        return self.cause is SkipCause.BUDGET

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "cause"}


@dataclass
class ProjectResult:
    name: str
    status: ProjectStatus
    reason: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    tasks: list[TaskResult] = field(default_factory=list)
    # What this outcome means for projects that depend on it: None lets them run,
    # otherwise the reason they are skipped.
    blocks: str | None = None
    # Skipped for a dependency (``blocks`` of that one): which, for the state's streak.
    blocked_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "tasks": [t.to_dict() for t in self.tasks],
        }


@dataclass(frozen=True)
class Failure:
    """One entry of the report's ``failures``: where (project, task, or neither: the
    sweep itself), with which status, and why."""

    project: str | None
    task: str | None
    status: TaskStatus | ProjectStatus
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def place(self) -> str:
        return failure_place(self.to_dict())

    def line(self) -> str:
        return f"{self.place}: {self.status}: {self.message}"


@dataclass
class Counts:
    """Projects and tasks by outcome, as the report, the summary and the history show."""

    projects_ok: int = 0
    projects_failed: int = 0
    projects_interrupted: int = 0
    projects_skipped: int = 0
    tasks_ok: int = 0
    tasks_failed: int = 0
    tasks_interrupted: int = 0
    tasks_skipped: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class TaskTally:
    """A project's tasks by outcome, as its table row shows them (interrupted is failed)."""

    ok: int
    failed: int
    skipped: int


def tally(statuses: Iterable[str]) -> TaskTally:
    """Works on statuses read back from a report or the state file as well."""
    seen = list(statuses)
    return TaskTally(
        ok=sum(s == TaskStatus.OK for s in seen),
        failed=sum(s in TASK_FAILURES for s in seen),
        skipped=sum(s == TaskStatus.SKIPPED for s in seen),
    )


def counts(projects: Iterable[ProjectResult]) -> Counts:
    out = Counts()
    for project in projects:
        if project.status in PROJECT_FAILURES:
            out.projects_failed += 1
        elif project.status is ProjectStatus.OK:
            out.projects_ok += 1
        elif project.status is ProjectStatus.INTERRUPTED:
            out.projects_interrupted += 1
        elif project.status is ProjectStatus.SKIPPED:
            out.projects_skipped += 1
        for task in project.tasks:
            if task.status is TaskStatus.INTERRUPTED:
                out.tasks_interrupted += 1
            elif task.status in TASK_FAILURES:
                out.tasks_failed += 1
            elif task.status is TaskStatus.OK:
                out.tasks_ok += 1
            elif task.status is TaskStatus.SKIPPED:
                out.tasks_skipped += 1
    return out


def failure_place(failure: Mapping[str, Any], sep: str = "/") -> str:
    """Where a failure of the report's list happened: ``api/lint``, ``api``, or ``sweep``."""
    return sep.join(str(x) for x in (failure.get("project"), failure.get("task")) if x) or "sweep"


def project_status(tasks: list[TaskResult]) -> ProjectStatus:
    """Interrupted if a stop cut it short (a task killed, or kept from starting), else failed
    if any task failed, else skipped if the budget kept every task left from running, else
    ok."""
    statuses = {t.status for t in tasks}
    if TaskStatus.INTERRUPTED in statuses or any(t.cause is SkipCause.STOPPED for t in tasks):
        return ProjectStatus.INTERRUPTED
    if statuses & TASK_FAILURES:
        return ProjectStatus.FAILED
    if statuses == {TaskStatus.SKIPPED} and any(t.kept_by_budget for t in tasks):
        return ProjectStatus.SKIPPED  # nothing ran: calling that "ok" would hide the budget
    return ProjectStatus.OK
