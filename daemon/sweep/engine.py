"""A whole sweep (SPEC section 4): select, run under the bound, hand the report over.

``agentd run --once`` and the daemon's scheduled fires both call ``run_sweep``; they differ
in the trigger they name, in who owns the stop token, and in the observers they pass: the
sweep itself writes no report and sends no alert, its observers do (see finish.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from agentd.config import Config, ConfigError
from agentd.daemon.model.clock import SYSTEM_CLOCK, Clock
from agentd.daemon.model.observer import Observers, SweepObserver
from agentd.daemon.model.report import Report
from agentd.daemon.model.results import Failure, ProjectResult
from agentd.daemon.model.status import ProjectStatus, SweepStatus, TaskStatus, Trigger
from agentd.daemon.sweep import ordering, rundirs
from agentd.daemon.sweep.abandoned import stop_abandoned
from agentd.daemon.sweep.budget import AgentSlots
from agentd.daemon.sweep.executor import Retry, fan_out
from agentd.daemon.sweep.finish import Ending, add_spend, finish, new_report
from agentd.daemon.sweep.presence import ask_hosts, settle_later
from agentd.daemon.sweep.project import Failures, SweepContext, iso, run_project
from agentd.daemon.sweep.rundirs import RunDir
from agentd.daemon.sweep.selection import Absence, Absent, Selection, missing_here, select
from agentd.daemon.tasks import orphans
from agentd.daemon.tasks.stop import StopToken
from agentd.slog import structlog
from agentd.state import Blocked, StateError, StateStore
from agentd.state.claims import heartbeat_every

log = structlog.get_logger("agentd.sweep")

RETRY_AT_MOST = 5.0  # seconds between tries of a project another host holds


@dataclass(frozen=True)
class SweepRequest:
    trigger: str = Trigger.MANUAL
    only: Collection[str] | None = None
    force: bool = False


def sweep_date(config: Config, now: datetime) -> str:
    """'Today' for the skip guard: the calendar date of ``now`` in the schedule's zone."""
    return now.astimezone(config.zone).date().isoformat()


def plan(
    config: Config,
    store: StateStore,
    request: SweepRequest,
    now: datetime,
    absent: Mapping[str, Absent] | None = None,
) -> Selection:
    """What to run, in the order to start it (critical path first, see ordering).
    ``absent``: what the other hosts answered (``ask_hosts``); without it, a shared
    store's missing projects are left to the others unasked, as a dry run must."""
    snapshot = store.read()
    if absent is None and store.shared:
        missing = missing_here(config, request.only, store.host)
        absent = {name: Absent(Absence.UNASKED) for name in missing}
    date = sweep_date(config, now)
    selection = select(
        config, snapshot, date, request.only, request.force, host=store.host, absent=absent
    )
    return ordering.order(selection, snapshot)


def run_sweep(
    config: Config,
    store: StateStore,
    state_dir: Path,
    request: SweepRequest,
    stop: StopToken,
    observers: Sequence[SweepObserver],
    environ: Mapping[str, str] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Report:
    """Run one sweep to its end (or until ``stop``) and return its report.

    ``observers`` hear the sweep as it goes and get its report at the end, in their order:
    pass ``output.report.finishing(...)`` first for the report on disk and the alerts.
    """
    now = clock.now()
    store.read()  # a state that is refused (StateError) stops us before anything is made
    with _open_run(state_dir, now, config.settings.run.keep_runs) as held:
        slog = log.bind(run_id=held.run_id)
        _reap_stale_claims(config, store, now, slog)
        stop_abandoned(store, state_dir, config.settings.run.kill_grace, slog)
        absent = ask_hosts(config, store, request.only, sweep_date(config, now), now, slog)
        selection = plan(config, store, request, now, absent)
        ctx = SweepContext(
            config=config,
            store=store,
            run_id=held.run_id,
            date=sweep_date(config, now),
            run_dir=held.path,
            stop=stop,
            force=request.force,
            environ=os.environ if environ is None else environ,
            observer=Observers(list(observers)),
            failures=Failures(),
            log=slog,
            agent_slots=AgentSlots(config.settings.run.max_parallel_agents, stop),
            worktrees=state_dir / "worktrees",
            clock=clock,
            started=now,
        )
        results = _run_selection(ctx, selection, request)
        results.update(_settle_later(ctx, selection))
        _record_blocked(ctx, results)
        _forget_removed_projects(config, store, slog)
        ordered = _in_config_order(config, results, selection.skipped)
        report = _report(ctx, request, now, ordered)
        keep = config.settings.run.keep_runs
        finish(Ending(store, held.path, keep, slog, config), report, observers)
        return report


def _report(
    ctx: SweepContext, request: SweepRequest, now: datetime, ordered: list[ProjectResult]
) -> Report:
    """The report of what ran, its spend summed; a failure to sum is one more failure."""
    config = ctx.config
    status = SweepStatus.INTERRUPTED if ctx.stop.requested else None
    started, finished = now.astimezone(config.zone), ctx.clock.now(config.zone)
    report = new_report(
        config,
        ctx.run_id,
        ctx.date,
        request,
        started,
        finished,
        status,
        ordered,
        ctx.failures.items,
    )
    try:
        add_spend(report, ctx.store, config.settings.budget, ctx.log)
    except Exception as exc:  # any: the tasks ran, and their report must be written
        ctx.log.exception("spend.failed")
        report.fail(f"spend not summed: internal error: {exc!r}")
    return report


def _run_selection(
    ctx: SweepContext, selection: Selection, request: SweepRequest
) -> dict[str, ProjectResult]:
    """The projects of ``selection`` under the bound, while the claims get heartbeats."""
    run, slog = ctx.config.settings.run, ctx.log
    slog.info(
        "sweep.start",
        trigger=request.trigger,
        date=ctx.date,
        mode="parallel" if run.project_parallelism else "serial",
        bound=run.bound,
        to_run=len(selection.chosen),
        skipped=len(selection.skipped),
        config=str(ctx.config.path),
    )
    ctx.observer.sweep_started(ctx.run_id, len(selection.chosen), run.bound)
    settled: dict[str, ProjectResult] = {}
    for name, reason in selection.failed.items():
        slog.error("project.failed", project=name, reason=reason)
        ctx.failures.add(Failure(name, None, TaskStatus.FAILED, reason))
        settled[name] = ProjectResult(
            name, ProjectStatus.FAILED, reason, blocks=f"dependency failed: {name}"
        )
    for name, reason in selection.skipped.items():
        if name not in selection.later:  # said when decided, at the sweep's end
            slog.info("project.skipped", project=name, reason=reason)
    # On a shared store, a project another host holds is tried again until its claim is
    # released or goes stale (that host died): taken over the same night, not the next.
    # The tries come soon at first (most projects end in seconds or minutes), then every
    # few seconds at most: a host with nothing else left would otherwise linger up to a
    # heartbeat's period (a minute) after the night's work ended. A try that finds the
    # claim still held writes nothing.
    every = min(heartbeat_every(ctx.store.stale_after), RETRY_AT_MOST)
    retry = Retry(ctx.held_elsewhere, every, ctx.clock) if ctx.store.shared else None
    with _Heartbeat(ctx.store, ctx.run_id, slog, ctx.clock):
        results = fan_out(
            selection.chosen,
            run.bound,
            partial(run_project, ctx),
            ctx.stop,
            settled,
            ctx.observer.project_settled,
            retry,
        )
    for name, result in results.items():
        if result.status is ProjectStatus.SKIPPED and name not in selection.skipped:
            slog.info("project.skipped", project=name, reason=result.reason)
    return results


def _settle_later(ctx: SweepContext, selection: Selection) -> dict[str, ProjectResult]:
    """Projects missing here that no other host was known to have when the sweep started,
    decided now that this host's own projects have run (see presence.settle_later)."""
    if not selection.later or ctx.stop.requested:
        return {}
    now = ctx.clock.now()
    verdicts = settle_later(ctx.config, ctx.store, selection.later, ctx.date, now, ctx.log)
    out: dict[str, ProjectResult] = {}
    for name, (failed, reason) in verdicts.items():
        if failed:
            ctx.log.error("project.failed", project=name, reason=reason)
            ctx.fail(name, None, TaskStatus.FAILED, reason)
            out[name] = ProjectResult(name, ProjectStatus.FAILED, reason)
        else:
            ctx.log.info("project.skipped", project=name, reason=reason)
            out[name] = ProjectResult(name, ProjectStatus.SKIPPED, reason)
    return out


def _record_blocked(ctx: SweepContext, results: dict[str, ProjectResult]) -> None:
    """Projects a dependency kept from starting, for ``agentd status`` to say so, and
    since when: otherwise a project blocked night after night shows as never run."""
    blocked = {
        name: Blocked(result.blocked_by, result.reason)
        for name, result in results.items()
        if result.blocked_by is not None
    }
    try:
        at = iso(ctx.clock.now(ctx.config.zone))
        ctx.store.record_blocked(blocked, ctx.date, ctx.run_id, at)
    except StateError as exc:
        ctx.log.error("state.write_failed", error=str(exc))


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
        if holder.host == store.host:
            grace = config.settings.run.kill_grace
            orphans.stop_orphans(holder.run_id, project, grace, slog.bind(project=project))


def record_failed_start(
    config: Config,
    store: StateStore,
    state_dir: Path,
    trigger: str,
    error: ConfigError,
    observers: Sequence[SweepObserver],
    clock: Clock = SYSTEM_CLOCK,
) -> Report:
    """A sweep whose configuration does not load runs nothing and is recorded as failed.

    ``config`` is the last valid configuration: its zone, keep_runs and [notify] still apply.
    """
    problems = [str(p) for p in error.problems]
    messages = [f"configuration {error.path}: {p}" for p in problems]
    return _record_unrun(config, store, state_dir, trigger, messages, problems, observers, clock)


def record_crash(
    config: Config,
    store: StateStore,
    state_dir: Path,
    trigger: str,
    error: Exception,
    observers: Sequence[SweepObserver],
    clock: Clock = SYSTEM_CLOCK,
) -> Report:
    """A scheduled sweep that could not run at all (its state unreadable, say) is a failed
    run with the reason, and alerts like one: nobody is watching at 3 a.m."""
    message = str(error) if isinstance(error, StateError) else f"internal error: {error!r}"
    return _record_unrun(config, store, state_dir, trigger, [message], None, observers, clock)


def _record_unrun(
    config: Config,
    store: StateStore,
    state_dir: Path,
    trigger: str,
    messages: list[str],
    config_errors: list[str] | None,
    observers: Sequence[SweepObserver],
    clock: Clock,
) -> Report:
    now = clock.now()
    started = now.astimezone(config.zone)
    keep = config.settings.run.keep_runs
    with _open_run(state_dir, now, keep) as held:
        slog = log.bind(run_id=held.run_id)
        failures = [Failure(None, None, TaskStatus.ERROR, m) for m in messages]
        date = sweep_date(config, now)
        request = SweepRequest(trigger)
        report = new_report(
            config, held.run_id, date, request, started, started, SweepStatus.FAILED, [], failures
        )
        report.config_errors = config_errors
        finish(Ending(store, held.path, keep, slog, config), report, observers)
    return report


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
            out.append(ProjectResult(spec.name, ProjectStatus.SKIPPED, skipped[spec.name]))
    return out


class _Heartbeat:
    """Refreshes this sweep's claims so that other sweeps never take them over as stale."""

    def __init__(self, store: StateStore, run_id: str, slog: Any, clock: Clock) -> None:
        self.store = store
        self.run_id = run_id
        self.slog = slog
        self.clock = clock
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    def _beat(self) -> None:
        every = heartbeat_every(self.store.stale_after)
        while not self.clock.wait(self.done, every):
            try:
                self.store.heartbeat(self.run_id, self.clock.now())
            except StateError as exc:
                self.slog.error("claims.heartbeat_failed", error=str(exc))
