"""The sweep report (SPEC section 6) as a value: built by the sweep, written and shown by
output. ``to_dict`` is report.json, key for key and in the same order."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentd.daemon.model.budget import Spend, Standing
from agentd.daemon.model.results import Counts, Failure, ProjectResult
from agentd.daemon.model.status import SweepStatus, TaskStatus
from agentd.state.base import RunProject

if TYPE_CHECKING:
    # Not at run time: history imports this module (ran_nothing).
    from agentd.daemon.model.history import Changes, History


@dataclass(frozen=True)
class Mode:
    project_parallelism: bool
    max_parallel_projects: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BudgetSkip:
    project: str
    task: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BudgetReport:
    limits: dict[str, Any]  # as configured: overall keys, then "agents"
    standing: list[Standing]
    skipped: list[BudgetSkip]

    def to_dict(self) -> dict[str, Any]:
        return {
            "limits": self.limits,
            "standing": [s.to_dict() for s in self.standing],
            "skipped": [s.to_dict() for s in self.skipped],
        }


@dataclass(frozen=True)
class AlertResult:
    via: str  # command | webhook
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    run_id: str
    trigger: str
    date: str
    started_at: str
    finished_at: str
    duration_s: float
    status: SweepStatus
    mode: Mode
    speedup: float | None  # task time over wall time: what the bound bought
    max_parallel_agents: int | None
    projects: list[ProjectResult]
    failures: list[Failure]
    counts: Counts
    selected: list[str] | None
    force: bool
    config: str
    host: str
    pid: int
    agentd_version: str
    # Absolute; set once the run directory is known to the sweep's end (finish).
    run_dir: str | None = None
    # Only in some reports, and then in this order, after the fields above.
    config_errors: list[str] | None = None  # a sweep whose configuration did not load
    spend: Spend | None = None
    budget: BudgetReport | None = None
    changes: Changes | None = None  # against the previous night (daemon.model.history)
    alerts: list[AlertResult] | None = None
    # The nights up to this sweep's, built with ``changes`` for the views that show them
    # (the HTML page); not part of report.json, which keeps the changes alone.
    history: History | None = field(default=None, repr=False, compare=False)

    def fail(self, message: str) -> None:
        """A failure of the sweep itself (its history, its spend, its report): listed, and
        the sweep failed unless a stop already says why it ended."""
        self.failures.append(Failure(None, None, TaskStatus.ERROR, message))
        if self.status is not SweepStatus.INTERRUPTED:
            self.status = SweepStatus.FAILED

    def summary(self) -> dict[str, Any]:
        """The part of a report kept in the state store's run history."""
        return {
            "run_id": self.run_id,
            "host": self.host,  # several hosts may share a store's history
            "trigger": self.trigger,
            "date": self.date,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "counts": self.counts.to_dict(),
            "mode": self.mode.to_dict(),
            "duration_s": self.duration_s,
            "spend_usd": self._sweep_spend(),
            "projects": {p.name: project_run(p).to_dict() for p in self.projects},
        }

    def _sweep_spend(self) -> float | None:
        """What this sweep's agent runs cost, from the ledger; None if no agent ran."""
        sweep = self.spend.sweep if self.spend is not None else None
        return round(sweep.usd, 6) if sweep is not None and sweep.runs else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "date": self.date,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
            "status": self.status,
            "mode": self.mode.to_dict(),
            "speedup": self.speedup,
            "max_parallel_agents": self.max_parallel_agents,
            "projects": [p.to_dict() for p in self.projects],
            "failures": [f.to_dict() for f in self.failures],
            "counts": self.counts.to_dict(),
            "selected": self.selected,
            "force": self.force,
            "config": self.config,
            "host": self.host,
            "pid": self.pid,
            "agentd_version": self.agentd_version,
        }
        if self.run_dir is not None:
            out["run_dir"] = self.run_dir
        if self.config_errors is not None:
            out["config_errors"] = self.config_errors
        if self.spend is not None:
            out["spend"] = self.spend.to_dict()
        if self.budget is not None:
            out["budget"] = self.budget.to_dict()
        # null: the nights were not compared (this sweep not recorded, or not readable).
        out["changes"] = self.changes.to_dict() if self.changes is not None else None
        if self.alerts is not None:
            out["alerts"] = [a.to_dict() for a in self.alerts]
        return out


def project_run(project: ProjectResult) -> RunProject:
    """A project's part in a sweep as the run history keeps it."""
    costs = [
        t.usage["cost_usd"]
        for t in project.tasks
        if t.usage and isinstance(t.usage.get("cost_usd"), (int, float))
    ]
    return RunProject(
        status=str(project.status),
        duration_s=_seconds(project.started_at, project.finished_at),
        spend_usd=round(sum(costs), 6) if costs else None,
    )


def _seconds(start: str | None, end: str | None) -> float | None:
    if start is None or end is None:
        return None
    took = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(took.total_seconds(), 3)


def ran_nothing(report: dict[str, Any]) -> bool:
    """Whether a sweep (its report.json, or its summary in the state's history) started no
    task and failed nothing: a manual sweep after the night's one had done everything.
    ``agentd report`` and ``agentd status`` look past such sweeps to the one that ran."""
    counts = report.get("counts")
    if not isinstance(counts, dict):
        return False  # not one of ours: shown as it is, never skipped over
    started = [counts.get(key) for key in ("tasks_ok", "tasks_failed", "tasks_interrupted")]
    return report.get("status") == SweepStatus.OK and not any(started)


def latest_that_ran(runs: list[dict[str, Any]]) -> int | None:
    """The index in ``runs`` (the state's history, oldest first) of the latest sweep that
    did not run nothing, None if none did. ``agentd status``, the metrics file and the
    dead-man's switch all take that one as the standing of the sweeps, so a manual no-op
    after a failed night neither hides the failure nor clears its alarm."""
    for index in range(len(runs) - 1, -1, -1):
        if not ran_nothing(runs[index]):
            return index
    return None
