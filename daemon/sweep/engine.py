"""A whole sweep (SPEC section 4): select, run under the bound, report.

``agentd run --once`` and the daemon's scheduled fires both call ``run_sweep``; they differ
only in the trigger they name and in who owns the stop token.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import structlog

from agentd.config import Config, ConfigError
from agentd.daemon import __version__
from agentd.daemon.model.results import BUDGET, ProjectResult, failure_place
from agentd.daemon.output.progress import Observer
from agentd.daemon.output.report import (
    counts,
    overall_status,
    summary_of,
    write_report,
)
from agentd.daemon.sweep import budget, ordering, rundirs
from agentd.daemon.sweep.budget import AgentSlots
from agentd.daemon.sweep.executor import execute
from agentd.daemon.sweep.project import Failures, SweepContext, iso, run_project
from agentd.daemon.sweep.rundirs import RunDir
from agentd.daemon.sweep.selection import Selection, select
from agentd.daemon.tasks import orphans
from agentd.daemon.tasks.stop import StopToken
from agentd.state import StateError, StateStore
from agentd.state.claims import HEARTBEAT_EVERY, this_host

log = structlog.get_logger("agentd.sweep")


@dataclass(frozen=True)
class SweepRequest:
    trigger: str = "manual"  # manual | schedule | catch-up
    only: Collection[str] | None = None
    force: bool = False


def sweep_date(config: Config, now: datetime) -> str:
    """'Today' for the skip guard: the calendar date of ``now`` in the schedule's zone."""
    return now.astimezone(config.zone).date().isoformat()


def plan(config: Config, store: StateStore, request: SweepRequest, now: datetime) -> Selection:
    """What to run, in the order to start it (critical path first, see ordering)."""
    snapshot = store.read()
    selection = select(config, snapshot, sweep_date(config, now), request.only, request.force)
    # The benchmark measures file order against ours; not a setting.
    file_order = os.environ.get("AGENTD_TESTING_ORDER") == "file"
    return ordering.order(selection, snapshot, keep_file_order=file_order)


def run_sweep(
    config: Config,
    store: StateStore,
    state_dir: Path,
    request: SweepRequest,
    stop: StopToken,
    observer: Observer,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run one sweep to its end (or until ``stop``) and return its report."""
    now = datetime.now(UTC)
    store.read()  # a state that is refused (StateError) stops us before anything is made
    with _open_run(state_dir, now, config.settings.run.keep_runs) as held:
        started = now.astimezone(config.zone)
        date = sweep_date(config, now)
        run_id, run_dir = held.run_id, held.path
        slog = log.bind(run_id=run_id)
        _reap_stale_claims(config, store, now, slog)
        selection = plan(config, store, request, now)
        run = config.settings.run
        slog.info(
            "sweep.start",
            trigger=request.trigger,
            date=date,
            mode="parallel" if run.project_parallelism else "serial",
            bound=run.bound,
            to_run=len(selection.run),
            skipped=len(selection.skipped),
            config=str(config.path),
        )
        observer.sweep_started(run_id, selection, run.bound)
        failures = Failures()
        settled: dict[str, ProjectResult] = {}
        for name, reason in selection.failed.items():
            slog.error("project.failed", project=name, reason=reason)
            failures.add(name, None, "failed", reason)
            settled[name] = ProjectResult(
                name, "failed", reason, blocks=f"dependency failed: {name}"
            )
        for name, reason in selection.skipped.items():
            slog.info("project.skipped", project=name, reason=reason)

        ctx = SweepContext(
            config=config,
            store=store,
            run_id=run_id,
            date=date,
            run_dir=run_dir,
            stop=stop,
            force=request.force,
            environ=os.environ if environ is None else environ,
            observer=observer,
            failures=failures,
            log=slog,
            agent_slots=AgentSlots(run.max_parallel_agents, stop),
            worktrees=state_dir / "worktrees",
        )
        with _Heartbeat(store, run_id, slog):
            results = execute(selection.run, run.bound, partial(run_project, ctx), stop, settled)
        for name, result in results.items():
            if result.status == "skipped" and name not in selection.skipped:
                slog.info("project.skipped", project=name, reason=result.reason)
        _forget_removed_projects(config, store, slog)

        finished = datetime.now(config.zone)
        ordered = _in_config_order(config, results, selection.skipped)
        report = _report(
            run_id,
            request,
            date,
            started,
            finished,
            overall_status(stop.requested, failures.items),
            config,
            ordered,
            failures.items,
        )
        try:
            _add_spend(report, ordered, config, store, slog)
        except Exception as exc:  # noqa: BLE001 - the tasks ran; their report must be written
            slog.exception("spend.failed")
            _sweep_failure(report, f"spend not summed: internal error: {exc!r}")
        _finish(store, run_dir, report, config.settings.run.keep_runs, slog)
        _alert(config, report, run_dir, environ, slog)
        observer.sweep_finished(report, run_dir)
        return report


def _add_spend(
    report: dict[str, Any],
    projects: list[ProjectResult],
    config: Config,
    store: StateStore,
    slog: Any,
) -> None:
    """What agents spent (this sweep, today, this week) and where the budget stands. Read
    back from the store, so the totals include what concurrent sweeps spent."""
    skipped = [
        {"project": p.name, "task": t.name, "reason": t.reason}
        for p in projects
        for t in p.tasks
        if t.status == "skipped" and t.reason.startswith(BUDGET)
    ]
    try:
        snapshot = store.read()
    except StateError as exc:
        slog.error("spend.read_failed", error=str(exc))
        return
    budget_cfg = config.settings.budget
    report["spend"] = budget.summary(snapshot, report["date"], report["run_id"])
    report["budget"] = {
        "limits": budget_cfg.model_dump(exclude_none=True),
        "standing": budget.standing(budget_cfg, snapshot, report["date"]),
        "skipped": skipped,
    }
    if skipped:
        slog.warning("budget.tasks_skipped", tasks=len(skipped), first=skipped[0]["reason"])


def _alert(
    config: Config,
    report: dict[str, Any],
    run_dir: Path,
    environ: Mapping[str, str] | None,
    slog: Any,
) -> None:
    """After the report is on disk (the alert points to it); a failing alert is logged and
    noted in the report, never a failure of the sweep."""
    notify = config.settings.notify
    if not notify.configured:
        return  # the common case: no need to load urllib and friends
    from agentd.daemon.output import alerts

    if not alerts.should_alert(notify, report):
        return
    sent = alerts.send_alerts(
        notify, report, run_dir, os.environ if environ is None else environ, slog
    )
    report["alerts"] = sent
    try:
        write_report(run_dir, report)
    except OSError as exc:
        slog.error("report.write_failed", path=str(run_dir), error=str(exc))


def _forget_removed_projects(config: Config, store: StateStore, slog: Any) -> None:
    """Projects no longer in the configuration leave the state after keep_runs sweeps."""
    keep = config.settings.run.keep_runs
    try:
        forgotten = store.forget_absent([spec.name for spec in config.projects], keep)
    except StateError as exc:
        slog.error("state.write_failed", error=str(exc))
        return
    if forgotten:
        slog.info(
            "state.projects_forgotten", count=len(forgotten), first=forgotten[:10], after=keep
        )


def _reap_stale_claims(config: Config, store: StateStore, now: datetime, slog: Any) -> None:
    """Claims left by dead sweeps go first, with the tasks those sweeps left running."""
    try:
        reaped = store.reap(now)
    except StateError as exc:
        slog.error("claims.reap_failed", error=str(exc))
        return
    for project, holder, why in reaped:
        slog.warning("claim.taken_over", project=project, previous=holder.describe(), why=why)
        if holder.host == this_host():
            grace = config.settings.run.kill_grace
            orphans.stop_orphans(holder.run_id, project, grace, slog.bind(project=project))


def record_failed_start(
    config: Config, store: StateStore, state_dir: Path, trigger: str, error: ConfigError
) -> dict[str, Any]:
    """A sweep whose configuration does not load runs nothing and is recorded as failed.

    ``config`` is the last valid configuration: its zone, keep_runs and [notify] still apply.
    """
    problems = [str(p) for p in error.problems]
    messages = [f"configuration {error.path}: {p}" for p in problems]
    return _record_unrun(config, store, state_dir, trigger, messages, {"config_errors": problems})


def record_crash(
    config: Config, store: StateStore, state_dir: Path, trigger: str, error: Exception
) -> dict[str, Any]:
    """A scheduled sweep that could not run at all (its state unreadable, say) is a failed
    run with the reason, and alerts like one: nobody is watching at 3 a.m."""
    message = str(error) if isinstance(error, StateError) else f"internal error: {error!r}"
    return _record_unrun(config, store, state_dir, trigger, [message], {})


def _record_unrun(
    config: Config,
    store: StateStore,
    state_dir: Path,
    trigger: str,
    messages: list[str],
    extra: dict[str, Any],
) -> dict[str, Any]:
    now = datetime.now(UTC)
    started = now.astimezone(config.zone)
    with _open_run(state_dir, now, config.settings.run.keep_runs) as held:
        failures = [
            {"project": None, "task": None, "status": "error", "message": m} for m in messages
        ]
        report = _report(
            held.run_id,
            SweepRequest(trigger),
            sweep_date(config, now),
            started,
            started,
            "failed",
            config,
            [],
            failures,
        )
        report.update(extra)
        slog = log.bind(run_id=held.run_id)
        _finish(store, held.path, report, config.settings.run.keep_runs, slog)
        _alert(config, report, held.path, None, slog)
    return report


def _report(
    run_id: str,
    request: SweepRequest,
    date: str,
    started: datetime,
    finished: datetime,
    status: str,
    config: Config,
    projects: list[ProjectResult],
    failures: list[dict[str, Any]],
) -> dict[str, Any]:
    run = config.settings.run
    wall = (finished - started).total_seconds()
    work = sum(t.duration_s or 0.0 for p in projects for t in p.tasks)
    return {
        "run_id": run_id,
        "trigger": request.trigger,
        "date": date,
        "started_at": iso(started),
        "finished_at": iso(finished),
        "duration_s": round(wall, 3),
        "status": status,
        "mode": {
            "project_parallelism": run.project_parallelism,
            "max_parallel_projects": run.bound,
        },
        # Task time over wall time: what the bound bought (at most the bound itself).
        "speedup": round(work / wall, 2) if wall > 0 and work > 0 else None,
        "max_parallel_agents": run.max_parallel_agents or None,
        "projects": [p.to_dict() for p in projects],
        "failures": failures,
        "counts": counts(projects),
        "selected": sorted(request.only) if request.only is not None else None,
        "force": request.force,
        "config": str(config.path),
        "host": os.uname().nodename,
        "pid": os.getpid(),
        "agentd_version": __version__,
    }


def _finish(
    store: StateStore,
    run_dir: Path,
    report: dict[str, Any],
    keep: int,
    slog: Any,
) -> None:
    """Record the run in the history, then write the report: a history that could not be
    saved is one more failure the report should show. A report that could not be written
    is noted in the history, if that can still be written, for `agentd report` to say."""
    try:
        store.record_run(summary_of(report), keep)
        store.checkpoint()  # between sweeps, state.json alone holds the whole state
    except StateError as exc:
        slog.error("state.write_failed", error=str(exc))
        _sweep_failure(report, f"run history not saved: {exc}")
    try:
        write_report(run_dir, report)
    except OSError as exc:
        message = f"report not written: {exc.strerror or exc}"
        slog.error("report.write_failed", path=str(run_dir), error=str(exc))
        _sweep_failure(report, message)
        with contextlib.suppress(StateError):  # one short journal line may still fit
            store.record_run({**summary_of(report), "report_error": message}, keep)
    c = report["counts"]
    emit = slog.info if report["status"] == "ok" else slog.warning
    report_md = run_dir / "report.md"
    emit(
        "sweep.finish",
        status=report["status"],
        duration_s=report["duration_s"],
        **c,
        failures=[_failure_line(f) for f in report["failures"]],
        report=str(report_md) if report_md.exists() else None,
    )


def _sweep_failure(report: dict[str, Any], message: str) -> None:
    report["failures"].append(
        {"project": None, "task": None, "status": "error", "message": message}
    )
    if report["status"] != "interrupted":
        report["status"] = "failed"


def _failure_line(failure: dict[str, Any]) -> str:
    where = failure_place(failure)
    return f"{where}: {failure['status']}: {failure['message']}"


def _open_run(state_dir: Path, now: datetime, keep: int) -> RunDir:
    """Old run directories go first, then this sweep's is made: retention needs no write
    and no state, so a full disk, or an unreadable state, still gets its room back."""
    deleted = rundirs.prune(state_dir, keep - 1)  # with this sweep's own: keep
    if deleted:
        log.info("runs.pruned", deleted=deleted, keep=keep)
    return rundirs.open_run(state_dir, now)


def _in_config_order(
    config: Config, results: dict[str, ProjectResult], skipped: dict[str, str]
) -> list[ProjectResult]:
    out = []
    for spec in config.projects:
        if spec.name in results:
            out.append(results[spec.name])
        elif spec.name in skipped:
            out.append(ProjectResult(spec.name, "skipped", skipped[spec.name]))
    return out


class _Heartbeat:
    """Refreshes this sweep's claims so that other sweeps never take them over as stale."""

    def __init__(self, store: StateStore, run_id: str, slog: Any) -> None:
        self.store = store
        self.run_id = run_id
        self.slog = slog
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    def _beat(self) -> None:
        while not self.done.wait(HEARTBEAT_EVERY):
            try:
                self.store.heartbeat(self.run_id, datetime.now(UTC))
            except StateError as exc:
                self.slog.error("claims.heartbeat_failed", error=str(exc))
