"""The sweep report (SPEC section 6) as a value: built by the sweep, written and shown by
output. ``to_dict`` is report.json, key for key and in the same order."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from agentd.daemon.model.budget import Spend, Standing
from agentd.daemon.model.results import Counts, Failure, ProjectResult
from agentd.daemon.model.status import SweepStatus, TaskStatus


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
    alerts: list[AlertResult] | None = None

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
            "trigger": self.trigger,
            "date": self.date,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "counts": self.counts.to_dict(),
            "mode": self.mode.to_dict(),
        }

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
        if self.alerts is not None:
            out["alerts"] = [a.to_dict() for a in self.alerts]
        return out


def ran_nothing(report: dict[str, Any]) -> bool:
    """Whether a sweep (its report.json, or its summary in the state's history) started no
    task and failed nothing: a manual sweep after the night's one had done everything.
    ``agentd report`` and ``agentd status`` look past such sweeps to the one that ran."""
    counts = report.get("counts")
    if not isinstance(counts, dict):
        return False  # not one of ours: shown as it is, never skipped over
    started = [counts.get(key) for key in ("tasks_ok", "tasks_failed", "tasks_interrupted")]
    return report.get("status") == SweepStatus.OK and not any(started)
