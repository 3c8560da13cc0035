"""A whole sweep (SPEC section 4): select, run under the bound, report.

``agentd run --once`` and the daemon's scheduled fires both call ``run_sweep``; they differ
only in the trigger they name and in who owns the stop token.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import structlog

from config import Config, ConfigError
from daemon import __version__, budget, ordering, orphans
from daemon.budget import AgentSlots
from daemon.executor import execute
from daemon.progress import Observer
from daemon.project import Failures, SweepContext, iso, run_project
from daemon.report import (
    counts,
    overall_status,
    prune_runs,
    runs_dir,
    summary_of,
    write_report,
)
from daemon.results import BUDGET, ProjectResult, failure_place
from daemon.selection import Selection, select
from daemon.stop import StopToken
from state import StateError, StateStore
from state.claims import HEARTBEAT_EVERY, this_host
from state.files import ensure_private_dir

log = structlog.get_logger("agentd.sweep")


@dataclass(frozen=True)
class SweepRequest:
    trigger: str = "manual"  # manual | schedule | catch-up
    only: Collection[str] | None = None
    force: bool = False


def new_run_id(now: datetime, bump: int = 0) -> str:
    """``20261122T023000Z-3f9a``: the suffix is the fraction of the second in 1/65536ths,
    so ids of sweeps started within one second still sort by start time."""
    utc = now.astimezone(UTC)
    fraction = utc.microsecond * 65536 // 1_000_000 + bump
    return f"{utc:%Y%m%dT%H%M%SZ}-{fraction:04x}"


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
    started = now.astimezone(config.zone)
    date = sweep_date(config, now)
    run_id, run_dir = _make_run_dir(state_dir, now)
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
        settled[name] = ProjectResult(name, "failed", reason, blocks=f"dependency failed: {name}")
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
    _finish(store, state_dir, run_dir, report, config.settings.run.keep_runs, slog)
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
    from daemon import alerts

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
    run_id, run_dir = _make_run_dir(state_dir, now)
    failures = [{"project": None, "task": None, "status": "error", "message": m} for m in messages]
    report = _report(
        run_id,
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
    slog = log.bind(run_id=run_id)
    _finish(store, state_dir, run_dir, report, config.settings.run.keep_runs, slog)
    _alert(config, report, run_dir, None, slog)
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
    state_dir: Path,
    run_dir: Path,
    report: dict[str, Any],
    keep: int,
    slog: Any,
) -> None:
    """Record the run in the history, then write the report: a history that could not be
    saved is one more failure the report should show."""
    live: set[str] | None = None
    try:
        store.record_run(summary_of(report), keep)
        store.checkpoint()  # between sweeps, state.json alone holds the whole state
        live = {claim.run_id for claim in store.read().claims().values()}
    except StateError as exc:
        slog.error("state.write_failed", error=str(exc))
        _sweep_failure(report, f"run history not saved: {exc}")
    try:
        write_report(run_dir, report)
    except OSError as exc:
        slog.error("report.write_failed", path=str(run_dir), error=str(exc))
        _sweep_failure(report, f"report not written: {exc.strerror or exc}")
    if live is not None:
        deleted = prune_runs(state_dir, keep, live | {report["run_id"]})
        if deleted:
            slog.info("runs.pruned", deleted=deleted, keep=keep)
    c = report["counts"]
    emit = slog.info if report["status"] == "ok" else slog.warning
    emit(
        "sweep.finish",
        status=report["status"],
        duration_s=report["duration_s"],
        **c,
        failures=[_failure_line(f) for f in report["failures"]],
        report=str(run_dir / "report.md"),
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


def _make_run_dir(state_dir: Path, now: datetime) -> tuple[str, Path]:
    try:
        ensure_private_dir(state_dir)
        if runs_dir(state_dir).is_symlink():
            # Retention deletes old run directories in there: never somewhere else.
            raise StateError(f"{runs_dir(state_dir)} is a symbolic link; agentd will not follow it")
        root, _ = ensure_private_dir(runs_dir(state_dir))
        bump = 0
        while True:
            run_id = new_run_id(now, bump)
            try:
                (root / run_id).mkdir(mode=0o700)
            except FileExistsError:
                bump += 1  # another sweep started within the same 15 microseconds
                continue
            return run_id, root / run_id
    except OSError as exc:
        raise StateError(
            f"cannot create a run directory in {state_dir}: {exc.strerror or exc}"
        ) from None


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
