"""The end of a sweep: its report built, its spend summed, its run recorded in the history,
and the report handed to the observers (which write it and alert)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentd.config.model import BudgetSection
from agentd.daemon import __version__
from agentd.daemon.model.history import build_history, changes
from agentd.daemon.model.observer import ReportNotWritten, SweepObserver
from agentd.daemon.model.report import BudgetReport, BudgetSkip, Mode, Report
from agentd.daemon.model.results import Failure, ProjectResult, counts
from agentd.daemon.model.status import SweepStatus
from agentd.daemon.sweep import budget
from agentd.daemon.sweep.project import iso
from agentd.state import StateError, StateStore
from agentd.state.claims import this_host

if TYPE_CHECKING:
    from agentd.config import Config
    from agentd.daemon.sweep.engine import SweepRequest


@dataclass(frozen=True)
class Ending:
    """Where a sweep's end is recorded: the store's history and the run directory."""

    store: StateStore
    run_dir: Path
    keep: int  # keep_runs: how much history the store keeps
    log: Any  # a structlog logger bound to run_id
    config: Config | None = None  # for the nights' gaps (when a fire was due)


def new_report(
    config: Config,
    run_id: str,
    date: str,
    request: SweepRequest,
    started: datetime,
    finished: datetime,
    status: SweepStatus | None,
    projects: list[ProjectResult],
    failures: list[Failure],
) -> Report:
    """``status`` None: failed if anything failed, else ok."""
    run = config.settings.run
    wall = (finished - started).total_seconds()
    work = sum(t.duration_s or 0.0 for p in projects for t in p.tasks)
    if status is None:
        status = SweepStatus.FAILED if failures else SweepStatus.OK
    return Report(
        run_id=run_id,
        trigger=request.trigger,
        date=date,
        started_at=iso(started),
        finished_at=iso(finished),
        duration_s=round(wall, 3),
        status=status,
        mode=Mode(run.project_parallelism, run.bound),
        # Task time over wall time: what the bound bought (at most the bound itself).
        speedup=round(work / wall, 2) if wall > 0 and work > 0 else None,
        max_parallel_agents=run.max_parallel_agents or None,
        projects=projects,
        failures=failures,
        counts=counts(projects),
        selected=sorted(request.only) if request.only is not None else None,
        force=request.force,
        config=str(config.path),
        host=this_host(),  # [state] host, else the machine's name
        pid=os.getpid(),
        agentd_version=__version__,
    )


def add_spend(report: Report, store: StateStore, limits: BudgetSection, slog: Any) -> None:
    """What agents spent (this sweep, today, this week) and where the budget stands. Read
    back from the store, so the totals include what concurrent sweeps spent."""
    skipped = [
        BudgetSkip(p.name, t.name, t.reason)
        for p in report.projects
        for t in p.tasks
        if t.kept_by_budget
    ]
    try:
        snapshot = store.read()
    except StateError as exc:
        slog.error("spend.read_failed", error=str(exc))
        return
    report.spend = budget.summary(snapshot, report.date, report.run_id)
    report.budget = BudgetReport(
        limits=limits.model_dump(exclude_none=True),
        standing=budget.standing(limits, snapshot, report.date),
        skipped=skipped,
    )
    if skipped:
        slog.warning("budget.tasks_skipped", tasks=len(skipped), first=skipped[0].reason)


def finish(end: Ending, report: Report, observers: Sequence[SweepObserver]) -> None:
    """Record the run in the history, then hand the report to the observers: a history
    that could not be saved is one more failure the report should show, and leaves the
    nights uncompared (they would lack this one). The page needs this night recorded, yet
    may fail to be written and fail the sweep: whatever changes the summary later is
    recorded again before the next observer reads the history (the pings) and for `agentd
    status`, so the history says what report.json says. A report that could not be written
    is noted there too, if that can still be written, for `agentd report` to say."""
    report.run_dir = os.path.abspath(end.run_dir)
    kept: dict[str, Any] | None = report.summary()
    try:
        _record(end, report.summary(), report)
    except StateError as exc:
        end.log.error("state.write_failed", error=str(exc))
        report.fail(f"run history not saved: {exc}")
        kept = None
    if kept is not None:
        add_changes(end, report)
    notes: dict[str, Any] = {}
    for observer in [None, *observers]:  # None: what the nights' comparison changed
        if observer is not None:
            try:
                observer.sweep_finished(report, end.run_dir)
            except ReportNotWritten as exc:
                report.fail(str(exc))
                notes["report_error"] = str(exc)
        summary = {**report.summary(), **notes}
        if summary != kept and (kept is not None or notes):
            with contextlib.suppress(StateError):  # one short journal line may still fit
                _record(end, summary, report)
            kept = summary
    emit = end.log.info if report.status is SweepStatus.OK else end.log.warning
    report_md = end.run_dir / "report.md"
    emit(
        "sweep.finish",
        status=report.status,
        duration_s=report.duration_s,
        **report.counts.to_dict(),
        failures=[f.line() for f in report.failures],
        report=str(report_md) if report_md.exists() else None,
    )


def _record(end: Ending, summary: dict[str, Any], report: Report) -> None:
    # A shared store keeps the report too: other hosts show it (`agentd report RUN_ID`)
    # without this host's disk; the JSON store has it in the run directory already.
    end.store.record_run(summary, end.keep, report=report.to_dict() if end.store.shared else None)
    end.store.checkpoint()  # between sweeps, state.json alone holds the whole state


def add_changes(end: Ending, report: Report) -> None:
    """The nights up to this one (this sweep included, once recorded) and what changed
    since the previous night; without them the report still goes out, without changes."""
    try:
        snapshot = end.store.read()
    except StateError as exc:
        end.log.error("history.read_failed", error=str(exc))
        return
    now = datetime.fromisoformat(report.finished_at)
    try:
        history = build_history(snapshot, end.config, report.date, now=now)
    except Exception as exc:  # any: a history that cannot be built must not lose the report
        end.log.exception("history.failed")
        report.fail(f"nights not compared: internal error: {exc!r}")
        return
    report.history = history
    report.changes = changes(history)
