"""What a sweep would do (``agentd run --once --dry-run``): computed by the sweep, shown by
output. ``to_dict`` is the ``--json`` form, key for key."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from agentd.daemon.model.budget import Standing
from agentd.daemon.model.report import Mode


@dataclass(frozen=True)
class PlannedStart:
    name: str
    path: str
    tasks: list[str]  # still to run today
    done_today: list[str]
    after: list[str]  # dependencies in this sweep
    expected_start_s: float
    expected_duration_s: float | None  # None: some task never ran
    repository: str | None  # what require_clean and isolation would do, in words
    budget_stops: list[str]  # agent tasks the budget would keep from starting

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DryRun:
    config: str
    state_dir: str
    date: str
    mode: Mode
    to_run: list[PlannedStart]  # in start order
    expected_makespan_s: float
    unknown_durations: list[str]
    assumed_per_unknown_task_s: float | None
    failed: dict[str, str]  # project -> reason
    skipped: dict[str, str]
    budget: list[Standing]
    max_parallel_agents: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "config": self.config,
            "state_dir": self.state_dir,
            "date": self.date,
            "mode": self.mode.to_dict(),
            "to_run": [p.to_dict() for p in self.to_run],
            "expected_makespan_s": self.expected_makespan_s,
            "unknown_durations": self.unknown_durations,
            "assumed_per_unknown_task_s": self.assumed_per_unknown_task_s,
            "failed": self.failed,
            "skipped": self.skipped,
            "budget": [s.to_dict() for s in self.budget],
            "max_parallel_agents": self.max_parallel_agents,
        }
