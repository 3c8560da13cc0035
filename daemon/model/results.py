"""Outcomes of tasks and projects, shared by the executor, the report and the terminal view.

Statuses are those of SPEC section 5. A failure is anything the exit status and the
report's ``failures`` list must surface; skipped work never is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

TASK_FAILURES = frozenset({"failed", "timeout", "error", "interrupted"})
STOPPED = "sweep interrupted"  # the reason of tasks a stop request kept from starting
BUDGET = "budget: "  # the start of the reason of tasks a spend limit kept from starting
PROJECT_FAILURES = frozenset({"failed", "error"})


@dataclass
class TaskResult:
    name: str
    status: str  # ok | failed | timeout | error | interrupted | skipped
    exit_code: int | None = None
    reason: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    log: str | None = None  # relative to the run directory
    output_tail: str = ""
    agent: str | None = None  # agent tasks only, with what they reported spending
    usage: dict[str, Any] | None = None
    worktree: dict[str, Any] | None = None  # isolation = "worktree": branch, path, what was kept
    log_cut: dict[str, Any] | None = (
        None  # output its log does not hold (agentd.daemon.tasks.tasklog)
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProjectResult:
    name: str
    status: str  # ok | failed | error | interrupted | skipped
    reason: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    tasks: list[TaskResult] = field(default_factory=list)
    # What this outcome means for projects that depend on it: None lets them run,
    # otherwise the reason they are skipped.
    blocks: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["blocks"]
        return data


def failure_place(failure: dict[str, Any], sep: str = "/") -> str:
    """Where a failure of the report's list happened: ``api/lint``, ``api``, or ``sweep``."""
    return sep.join(str(x) for x in (failure.get("project"), failure.get("task")) if x) or "sweep"


def project_status(tasks: list[TaskResult]) -> str:
    """Interrupted if a stop cut it short (a task killed, or kept from starting), else failed
    if any task failed, else skipped if the budget kept every task left from running, else
    ok."""
    statuses = {t.status for t in tasks}
    if "interrupted" in statuses or any(t.reason == STOPPED for t in tasks):
        return "interrupted"
    if statuses & TASK_FAILURES:
        return "failed"
    if statuses == {"skipped"} and any(t.reason.startswith(BUDGET) for t in tasks):
        return "skipped"  # nothing ran: calling that "ok" would hide the budget
    return "ok"
