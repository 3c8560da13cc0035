"""Prometheus metrics in a node_exporter textfile (``[metrics] textfile``).

Written at each sweep's end (the daemon's and ``agentd run --once`` alike) and when the
daemon starts, reloads and stops, always whole and always from what the state directory
knows at that moment, so no writer drops or invents another's series: a manual sweep
reports the daemon as ``agentd status`` sees it (up while its process lives and it has not
said it stopped, or while it holds the daemon lock), and the daemon's start reports the
last sweep from the history.

The "last sweep" series describe the latest sweep that ran something, as ``agentd status``
and ``agentd report`` show it (model.report.latest_that_ran): a manual sweep that found
everything done must not clear the alarm of a failed night. Times are rounded to the
millisecond the state stores them in, so a difference of two stamps is no float noise.
prometheus_client renders the text and renames a temporary file over the old one, so
node_exporter never reads half a file.

Names follow Prometheus' conventions: an ``agentd_`` prefix, base units in the suffix
(``_seconds``, ``_timestamp_seconds`` for Unix times, ``_usd``, ``_tokens``), gauges
throughout (each value is a fact about the latest state, not a counter), and an outcome
as one series per possible value, 1 for the one that holds and 0 for the others, so that
``agentd_last_sweep_status{status="ok"} == 0`` is an alert rule and no series comes and
goes with the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentd.daemon.model.budget import Totals, week_of
from agentd.daemon.model.clock import SYSTEM_CLOCK, Clock
from agentd.daemon.model.observer import QuietObserver
from agentd.daemon.model.report import Report, latest_that_ran, ran_nothing
from agentd.daemon.model.status import SweepStatus
from agentd.state import Snapshot, StateError, StateStore
from agentd.state.daemonlock import daemon_state, read_holder

if TYPE_CHECKING:
    from agentd.config import Config

COUNTED = ("ok", "failed", "interrupted", "skipped")  # the report's counts, by outcome
HELP = {
    "agentd_last_sweep_start_timestamp_seconds": "When the last sweep started.",
    "agentd_last_sweep_end_timestamp_seconds": "When the last sweep ended.",
    "agentd_last_sweep_duration_seconds": "How long the last sweep took (wall time).",
    "agentd_last_sweep_status": "The last sweep's status: 1 for the one it ended with.",
    "agentd_last_sweep_tasks": "The last sweep's tasks, by outcome.",
    "agentd_last_sweep_projects": "The last sweep's projects, by outcome.",
    "agentd_project_last_success_timestamp_seconds": "When the project last ended ok; 0: never.",
    "agentd_project_last_duration_seconds": "How long the project's last run took.",
    "agentd_spend_today_usd": "What agents cost today (the schedule's calendar day).",
    "agentd_spend_today_tokens": "The tokens agents used today.",
    "agentd_spend_week_usd": "What agents cost in the last 7 days, today included.",
    "agentd_spend_week_tokens": "The tokens agents used in the last 7 days, today included.",
    "agentd_daemon_up": "1 while the daemon runs, 0 once it stopped or died.",
    "agentd_daemon_start_timestamp_seconds": "When the running daemon started.",
    "agentd_daemon_next_fire_timestamp_seconds": "The running daemon's next scheduled fire.",
}


class MetricsFile:
    """The textfile of one configuration and state directory."""

    def __init__(
        self,
        path: Path,
        store: StateStore,
        state_dir: Path,
        projects: Sequence[str],
        zone: tzinfo,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.path = path
        self.store = store
        self.state_dir = state_dir  # its daemon.lock: who runs, if the state does not say
        self.projects = list(projects)  # the enabled ones: a disabled one is not expected to run
        self.zone = zone  # the schedule's: "today" as the skip guard and budgets count it
        self.clock = clock

    def write(self, sweep: Mapping[str, Any] | None = None) -> bool:
        """Rewrite the file; ``sweep`` is the sweep just ended (report.json's form), if
        any. A failure is a warning in the log, never raised."""
        from agentd.slog import structlog

        log = structlog.get_logger("agentd.metrics")
        try:
            from prometheus_client import write_to_textfile

            snapshot = self.store.read()
            last = standing_sweep(sweep, snapshot.runs())
            today = self.clock.now(self.zone).date().isoformat()
            registry = render(snapshot, last, self.projects, today, self.state_dir)
            write_to_textfile(str(self.path), registry)
        except (OSError, StateError, ImportError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            log.warning("metrics.not_written", path=str(self.path), error=why)
            return False
        return True


class MetricsWriter(QuietObserver):
    """At a sweep's end, after its report (and its run in the history)."""

    def __init__(self, file: MetricsFile) -> None:
        self.file = file

    def sweep_finished(self, report: Report, run_dir: Path) -> None:
        self.file.write(report.to_dict())


def metrics_file(
    config: Config, store: StateStore, state_dir: Path, clock: Clock
) -> MetricsFile | None:
    """The configuration's textfile, None without ``[metrics] textfile``."""
    text = config.settings.metrics.textfile
    if text is None:
        return None
    names = [spec.name for spec in config.projects if spec.enabled]
    return MetricsFile(config.resolve_path(text), store, state_dir, names, config.zone, clock)


def standing_sweep(
    sweep: Mapping[str, Any] | None, runs: list[dict[str, Any]]
) -> Mapping[str, Any] | None:
    """The sweep the "last sweep" series describe: the one just ended if it ran something
    (its report has the exact duration), else the history's latest that did, else the
    latest sweep of all (none ran anything yet: that one is all there is to show)."""
    if sweep is not None and not ran_nothing(dict(sweep)):
        return sweep
    last = latest_that_ran(runs)
    if last is not None:
        return runs[last]
    return sweep if sweep is not None else (runs[-1] if runs else None)


def render(
    snapshot: Snapshot,
    sweep: Mapping[str, Any] | None,
    projects: Sequence[str],
    today: str,
    state_dir: Path,
) -> Any:
    """A prometheus_client CollectorRegistry holding every series."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    gauges: dict[str, Gauge] = {}

    def put(name: str, value: float | None, **labels: str) -> None:
        if value is None:
            return
        if name not in gauges:
            gauges[name] = Gauge(name, HELP[name], sorted(labels), registry=registry)
        gauge = gauges[name]
        (gauge.labels(**labels) if labels else gauge).set(value)

    if sweep is not None:
        _sweep(put, sweep)
    for name in projects:
        _project(put, name, snapshot.project(name))
    _spend(put, snapshot, today)
    if snapshot.daemon() or read_holder(state_dir) is not None:
        # A daemon has run here: it published its status, or took daemon.lock, whose file
        # keeps its last holder. Without one (cron only), "down" would be a false alarm.
        _daemon(put, daemon_state(snapshot.daemon(), state_dir))
    return registry


def _sweep(put: Any, sweep: Mapping[str, Any]) -> None:
    started, ended = _stamp(sweep.get("started_at")), _stamp(sweep.get("finished_at"))
    put("agentd_last_sweep_start_timestamp_seconds", started)
    put("agentd_last_sweep_end_timestamp_seconds", ended)
    duration = sweep.get("duration_s")
    if not isinstance(duration, int | float) and started is not None and ended is not None:
        duration = ended - started  # the history keeps the times, not the duration
    put(
        "agentd_last_sweep_duration_seconds",
        round(duration, 3) if isinstance(duration, int | float) else None,
    )
    status = sweep.get("status")
    for value in SweepStatus:
        put("agentd_last_sweep_status", float(status == value), status=str(value))
    counts = sweep.get("counts")
    if isinstance(counts, Mapping):
        for outcome in COUNTED:
            for kind in ("tasks", "projects"):
                number = counts.get(f"{kind}_{outcome}")
                if isinstance(number, int):
                    put(f"agentd_last_sweep_{kind}", number, status=outcome)


def _project(put: Any, name: str, entry: Mapping[str, Any]) -> None:
    """Its last success, 0 (the convention for "never") until it has one, so that an age
    rule fires for a project that has failed since its first night; its last run's
    duration once it has run."""
    ok = entry.get("last_ok")
    if ok is None:
        success: float | None = 0.0
    else:  # damage (not a record, no time) is left out, not taken for "never"
        success = _stamp(ok.get("finished_at")) if isinstance(ok, Mapping) else None
    put("agentd_project_last_success_timestamp_seconds", success, project=name)
    last = entry.get("last_run")
    if isinstance(last, Mapping):
        started, ended = _stamp(last.get("started_at")), _stamp(last.get("finished_at"))
        if started is not None and ended is not None and ended >= started:
            took = round(ended - started, 3)
            put("agentd_project_last_duration_seconds", took, project=name)


def _spend(put: Any, snapshot: Snapshot, today: str) -> None:
    """From the ledger, as ``agentd status`` sums it: runs with usage unknown count 0."""
    for span, dates in (("today", [today]), ("week", week_of(today))):
        totals = Totals()
        for entry in snapshot.spend(dates):
            totals.add(entry)
        put(f"agentd_spend_{span}_usd", totals.usd)
        put(f"agentd_spend_{span}_tokens", totals.tokens)


def _daemon(put: Any, daemon: Mapping[str, Any]) -> None:
    """Up as ``agentd status`` says it (state.daemonlock.daemon_state). A daemon of another
    host (a shared state) cannot be checked from here: no daemon series then, rather than
    a guess."""
    if daemon["running"] is None:
        return
    put("agentd_daemon_up", float(daemon["running"]))
    if daemon["running"]:
        put("agentd_daemon_start_timestamp_seconds", _stamp(daemon.get("started_at")))
        put("agentd_daemon_next_fire_timestamp_seconds", _stamp(daemon.get("next_fire")))


def _stamp(text: object) -> float | None:
    """A stored ISO time as a Unix time to the millisecond; None for anything else
    ("never", damage)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return round((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp(), 3)
