"""The daemon, ``agentd run`` (SPEC section 7).

Threads and their jobs:
- the main thread waits for signals (recorded by the handlers, nothing more) and acts on
  them: SIGHUP reloads, SIGTERM/SIGINT run ``shutdown``. Without a systemd watchdog it
  sleeps until a signal comes: no polling.
- APScheduler's thread keeps the clock and hands each fire to a small pool (``scheduler.py``);
- a fire runs its sweep in that pool thread, unless one is running already (``fires.py``
  keeps that bookkeeping, and the time up to which fires are dealt with).

What it needs from whoever starts it comes in plainly: the configuration, the store, the
signals (routed to a SignalInbox first thing, so a SIGTERM during start-up is honoured once
the daemon is up), a ``Setup`` for reloads, and a Clock. It answers with an ``Ending``.
"""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from agentd.config import Config, ConfigError, Problem
from agentd.daemon.model.clock import Clock
from agentd.daemon.model.observer import SweepObserver
from agentd.daemon.output.metrics import metrics_file
from agentd.daemon.output.report import finishing
from agentd.daemon.service.fires import FireBook, SweepEnd
from agentd.daemon.service.host import Ending, Setup
from agentd.daemon.service.notify import Notifier
from agentd.daemon.service.scheduler import Scheduler
from agentd.daemon.service.status import Announcer, StatusProgress
from agentd.daemon.sweep.engine import SweepRequest, record_crash, record_failed_start, run_sweep
from agentd.daemon.tasks.stop import SignalInbox, StopToken
from agentd.slog import structlog
from agentd.state import StateError
from agentd.state.daemonlock import DaemonLock

if TYPE_CHECKING:
    from agentd.state.base import StateStore

log = structlog.get_logger("agentd.daemon")

# A file that cannot be taken at a fire is read once more after this long (an editor may
# be saving it that very moment).
CONFIG_RETRY_AFTER = 2.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def serve(daemon: Daemon) -> Ending:
    """Run ``daemon`` under the state directory's daemon lock. DaemonLocked (another daemon
    holds it) or StateError before anything runs; the lock is released however it ends."""
    lock = DaemonLock(daemon.directory)
    lock.acquire()
    try:
        return daemon.loop()
    finally:
        lock.release()


class Daemon:
    def __init__(
        self,
        config: Config,
        directory: Path,
        store: StateStore,
        setup: Setup,
        signals: SignalInbox,
        notifier: Notifier,
        clock: Clock,
    ) -> None:
        self.config = config
        self.path = config.path
        self.directory = directory
        self.store = store
        self.setup = setup
        self.signals = signals
        self.notifier = notifier
        self.clock = clock
        self.stop = StopToken()
        self.fires = FireBook(store, clock, self.stop)
        self.scheduler = Scheduler(config.zone, clock, self._fire, self.fires.missed)
        self.status = Announcer(self.path, store, self.scheduler, notifier, clock)
        self.ticked = clock.monotonic()

    # -- life cycle -----------------------------------------------------------------------

    def loop(self) -> Ending:
        from agentd.daemon.output.html import page  # Jinja2: the daemon's, not every command's

        page.warm()
        interval = self.notifier.watchdog_interval
        self.scheduler.start(self.config, self._tick, interval)
        try:
            self._catch_up()
            self.status.publish(self.config)
            self._write_metrics()
            self.notifier.ready(self.status.idle_status())
            log.info(
                "daemon.ready",
                pid=os.getpid(),
                config=str(self.path),
                state_dir=str(self.directory),
                schedule=self.config.settings.schedule.cron,
                timezone=str(self.config.zone),
                next_fire=self.scheduler.next_fire_text(),
            )
            while True:
                received = self.signals.wait(interval)
                for i, signum in enumerate(received):
                    if signum == signal.SIGHUP:
                        self.reload()
                    else:
                        # A second stop signal read in the same batch still skips the grace.
                        return self.shutdown(signum, received[i + 1 :])
                if interval and self.clock.monotonic() - self.ticked < 3 * interval:
                    self.notifier.watchdog()
        except Exception:
            # Whatever broke, stop in order: the lock must not be released while a sweep
            # still runs in this process.
            log.exception("daemon.crashed")
            self.shutdown(signal.SIGTERM, cause="an internal error (see the journal)")
            return Ending.CRASHED

    def reload(self) -> None:
        """SIGHUP: re-read the file; reschedule if the schedule changed; keep it if invalid."""
        try:
            config = self._reread()
        except ConfigError as exc:
            problems = [str(p) for p in exc.problems]
            log.error("config.reload_failed", path=str(self.path), problems=problems)
            first = self.status.refused(problems)
            self.status.publish(self.config)
            self.notifier.status(f"configuration invalid, kept the running schedule: {first}")
            return
        self.status.reload_error = None
        self.setup.set_up_logging(config)
        if self.setup.state_dir(config) != self.directory:
            log.warning(
                "config.state_dir_changed",
                running=str(self.directory),
                note="takes effect after a restart",
            )
        self.config = config
        changed = self.scheduler.arm(config)
        log.info(
            "config.reloaded",
            path=str(self.path),
            schedule_changed=changed,
            next_fire=self.scheduler.next_fire_text(),
        )
        self.status.publish(config)
        self._write_metrics()
        if not self.fires.running.locked():
            self.notifier.status(self.status.idle_status())

    def _reread(self) -> Config:
        """The file as a running daemon may take it over; ConfigError if it must not.

        A file saved in place (truncated, then written) can be read in between: empty, which
        is a valid configuration with the default schedule and nothing to run. Taking that
        would re-arm the daemon on ``30 2 * * *`` and skip the user's sweeps without a word.
        So a file without projects never replaces one with projects: a deliberate pause is
        ``enabled = false`` (or stopping the daemon), not an empty file.
        """
        config = self.setup.read_config()
        if self.config.projects and not config.projects:
            count = len(self.config.projects)
            raise ConfigError(
                str(self.path),
                [
                    Problem(
                        "",
                        f"has no [[projects]] while the running configuration has {count}: "
                        "refused as probably half-written, the running configuration is kept "
                        "(to pause every project, set enabled = false, or stop the daemon)",
                    )
                ],
            )
        if config.settings.state != self.config.settings.state:
            config = _keeping_state(config, self.config)
        return config

    def shutdown(
        self, signum: int, more: list[int] | None = None, cause: str | None = None
    ) -> Ending:
        """Stop in order: no new fires, stop the running sweep's tasks, wait for its report.
        ``more``: signals that came with the first one, still to be acted on; ``cause``:
        why, when it was not a signal."""
        name = signal.Signals(signum).name
        log.info("daemon.stopping", signal=name, sweep=self.fires.current_run)
        self.notifier.stopping(f"stopping on {name}")
        self.scheduler.pause()
        self.stop.request(signum)
        # The sweep sends SIGTERM to its task groups now and SIGKILL after kill_grace. A
        # second signal meanwhile skips the rest of the grace period.
        pending = list(more or [])
        while True:
            for again in pending:
                if again in STOP_SIGNALS:
                    log.warning("daemon.stopping_now", signal=signal.Signals(again).name)
                    self.stop.request(again)
            if self.fires.running.acquire(timeout=0.25):
                break
            pending = self.signals.wait(0)
        self.scheduler.shutdown()
        # Left for `agentd status`, which would otherwise find only a pid that is gone and
        # could not tell a clean stop from a crash.
        stopped_at = self.clock.now().isoformat(timespec="seconds")
        self.status.publish(self.config, stopped_at=stopped_at, stopped_by=cause or name)
        self._write_metrics()
        try:
            self.store.checkpoint()
        except StateError as exc:
            log.error("state.write_failed", error=str(exc))
        self.fires.running.release()
        log.info("daemon.stopped", signal=name)
        return Ending.STOPPED

    # -- scheduling -----------------------------------------------------------------------

    def _catch_up(self) -> None:
        schedule = self.config.settings.schedule
        armed = self.scheduler.armed
        assert armed is not None
        window = timedelta(seconds=schedule.catch_up_window)
        fire = self.fires.start(armed.spec, armed.zone, schedule.catch_up, window)
        if fire is not None:
            self.scheduler.catch_up(fire)

    def _tick(self) -> None:
        self.ticked = self.clock.monotonic()

    # -- sweeps ---------------------------------------------------------------------------

    def _fire(self, trigger: str, fire: datetime | None) -> None:
        """One fire, handed over by the scheduler's pool."""
        self.fires.fire(trigger, fire, self._sweep, self._swept)

    def _swept(self, end: SweepEnd) -> None:
        if end is not SweepEnd.UNFINISHED and not self.stop.requested:
            self.status.publish(self.config)
            self.notifier.status(self.status.idle_status())

    def _sweep(self, trigger: str, fire: datetime) -> SweepEnd:
        """The sweep for one fire, with the sweep lock held; a crash is recorded, never
        raised to the scheduler."""
        try:
            self.status.publish(self.config)
            return self._sweep_once(trigger)
        except StateError as exc:
            # The state refused (deleted, damaged, a full disk): the message says it all.
            log.error("sweep.state_refused", trigger=trigger, error=str(exc))
            self.notifier.status(f"the last sweep could not run: {exc}")
            self._record_crash(trigger, exc)
        except Exception as exc:
            log.exception("sweep.crashed", trigger=trigger)
            self.notifier.status("the last sweep crashed; see the journal")
            self._record_crash(trigger, exc)
        return SweepEnd.UNFINISHED

    def _record_crash(self, trigger: str, error: Exception) -> None:
        """The failed run in the history, with its report and alert, if the state lets us."""
        try:
            record_crash(
                self.config,
                self.store,
                self.directory,
                trigger,
                error,
                self._finishing(self.config),
                self.clock,
            )
        except Exception:
            log.exception("sweep.crash_not_recorded")
            notify = self.config.settings.notify
            if notify.ping_url is not None:
                from agentd.daemon.output.ping import ping_failure

                ping_failure(notify.ping_url, notify.timeout, self.fires.current_run)

    def _sweep_once(self, trigger: str) -> SweepEnd:
        try:
            config = self._reread_for_sweep()
        except ConfigError as exc:
            # Nothing runs; the run is recorded as failed, with every problem in its report.
            problems = [str(p) for p in exc.problems]
            log.error("sweep.config_invalid", path=str(self.path), problems=problems)
            self.status.refused(problems)
            report = record_failed_start(
                self.config,
                self.store,
                self.directory,
                trigger,
                exc,
                self._finishing(self.config),
                self.clock,
            )
            self.status.last_summary = f"last sweep {report.run_id} failed: invalid configuration"
            return SweepEnd.DONE
        if config is None:
            return SweepEnd.UNFINISHED  # stopped while waiting to read the file again
        self.config = config
        self.status.reload_error = None  # whatever was refused before, this file was taken
        if self.scheduler.arm(config):
            log.info("schedule.changed", next_fire=self.scheduler.next_fire_text())
        progress = StatusProgress(self.fires, self.notifier, trigger)
        observers = [*self._finishing(config), progress]
        report = run_sweep(
            config,
            self.store,
            self.directory,
            SweepRequest(trigger),
            self.stop,
            observers,
            clock=self.clock,
        )
        failures = len(report.failures)
        self.status.last_summary = f"last sweep {report.run_id} {report.status}" + (
            f" ({failures} failure{'s' if failures != 1 else ''})" if failures else ""
        )
        return SweepEnd.INTERRUPTED if report.status == "interrupted" else SweepEnd.DONE

    def _finishing(self, config: Config) -> list[SweepObserver]:
        return finishing(
            config.settings.notify,
            os.environ,
            self.clock,
            metrics_file(config, self.store, self.directory, self.clock),
            store=self.store,
            config=config,
        )

    def _write_metrics(self) -> None:
        """The metrics file at the daemon's start, reload and stop: up, the next fire."""
        metrics = metrics_file(self.config, self.store, self.directory, self.clock)
        if metrics is not None:
            metrics.write()

    def _reread_for_sweep(self) -> Config | None:
        """The file for this sweep. One that cannot be taken is read once more after a
        moment, in case the fire met an editor saving it; None if a stop came meanwhile."""
        try:
            return self._reread()
        except ConfigError as exc:
            log.warning("sweep.config_retry", problems=[str(p) for p in exc.problems][:3])
        if self.stop.wait(CONFIG_RETRY_AFTER):
            return None
        return self._reread()


def _keeping_state(config: Config, running: Config) -> Config:
    """``config`` with the running ``[state]``: the store (a database's connections, this
    host's name in its claims) is opened once, and a sweep may be writing to it now. The
    change takes effect at the next start, as a new state directory does; the url is
    never logged."""
    log.warning(
        "config.state_changed",
        note="[state] takes effect after a restart; the running store is kept",
    )
    settings = config.settings.model_copy(update={"state": running.settings.state})
    return replace(config, settings=settings)
