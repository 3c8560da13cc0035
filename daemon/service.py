"""The daemon, ``agentd run`` (SPEC section 7).

Threads and their jobs:
- the main thread waits for signals (recorded by the handlers, nothing more) and acts on
  them: SIGHUP reloads, SIGTERM/SIGINT run ``shutdown``. Without a systemd watchdog it
  sleeps until a signal comes: no polling.
- APScheduler's thread keeps the clock and hands each fire to a small pool;
- a fire runs its sweep in that pool thread, under ``sweep_lock``: a fire that finds the
  lock taken is skipped and recorded as skipped, never queued and never run alongside.

A fire counts as handled once its sweep has ended. A sweep cut short by a stop leaves its
fire unhandled, so the next start catches it up and the skip guard resumes where it
stopped.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import faulthandler
import os
import select
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from config import Config, ConfigError, load_config
from config.cron import CronSpec
from daemon.bootstrap import config_path, load, open_store, setup_logging, state_dir
from daemon.cli import EXIT_LOCKED, EXIT_OK, UsageError
from daemon.notify import Notifier
from daemon.progress import Observer
from daemon.results import ProjectResult
from daemon.schedule import catch_up
from daemon.stop import StopToken
from daemon.sweep import SweepRequest, record_failed_start, run_sweep
from state import JsonFileStore, StateError
from state.claims import process_start, this_host
from state.daemonlock import DaemonLock, DaemonLocked

log = structlog.get_logger("agentd.daemon")

# Crontab has no seconds field. The test suite sets this (e.g. "*/2") to make the daemon
# fire within seconds; it is not a user-facing setting.
TEST_SECONDS_ENV = "AGENTD_TESTING_CRON_SECONDS"
# With catch_up = "none", a fire delivered later than this (suspend, overload) is skipped.
LATE_FIRE_GRACE = 60


class Signals:
    """Signal handlers append to a deque and poke a pipe; the main loop reads both."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.pending: collections.deque[int] = collections.deque()

    def install(self, *signals: int) -> None:
        for sig in signals:
            signal.signal(sig, self._handler)

    def _handler(self, signum: int, frame: object) -> None:
        self.pending.append(signum)
        with contextlib.suppress(BlockingIOError):
            os.write(self._write, b"!")

    def wait(self, timeout: float | None) -> list[int]:
        """Signals received, waiting up to ``timeout`` seconds (None: until one comes)."""
        if not self.pending:
            with contextlib.suppress(InterruptedError):
                select.select([self._read], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 512):
                pass
        out = []
        while self.pending:
            out.append(self.pending.popleft())
        return out


def serve(args: argparse.Namespace) -> int:
    signals = Signals()
    # First thing: a SIGTERM during start-up is recorded and honoured once we are up.
    signals.install(signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    # `kill -USR2` prints every thread's stack to stderr (the journal): for a daemon that
    # seems stuck, that answers "where" without a debugger.
    faulthandler.register(signal.SIGUSR2, all_threads=True)
    config = load(args)
    setup_logging(args, config)
    directory = state_dir(args, config)
    store, _ = open_store(directory, create=True)
    lock = DaemonLock(directory)
    try:
        lock.acquire()
    except DaemonLocked as exc:
        print(f"agentd: {exc}", file=sys.stderr, flush=True)
        return EXIT_LOCKED
    except StateError as exc:
        raise UsageError(str(exc)) from None
    daemon = Daemon(args, config, directory, store, signals, Notifier(os.environ))
    try:
        return daemon.run()
    finally:
        lock.release()


@dataclasses.dataclass(frozen=True)
class _Armed:
    """The schedule as armed; a reload reschedules only when this changes."""

    spec: CronSpec
    zone: str
    jitter: float
    grace: int


class Daemon:
    def __init__(
        self,
        args: argparse.Namespace,
        config: Config,
        directory: Path,
        store: JsonFileStore,
        signals: Signals,
        notifier: Notifier,
    ) -> None:
        self.args = args
        self.config = config
        self.path = config_path(args)
        self.directory = directory
        self.store = store
        self.signals = signals
        self.notifier = notifier
        self.stop = StopToken()
        self.sweep_lock = threading.Lock()
        self.current_run: str | None = None
        self.armed: _Armed | None = None
        self.started_at = datetime.now(UTC)
        self.last_summary = ""
        from apscheduler.schedulers.background import BackgroundScheduler

        self.scheduler = BackgroundScheduler(
            timezone=config.zone,
            executors={"default": {"type": "threadpool", "max_workers": 2}},
            # Overlap is decided by sweep_lock, so APScheduler must let a second fire
            # through to be seen (and recorded as skipped) rather than drop it silently.
            job_defaults={"coalesce": True, "max_instances": 2},
        )

    # -- life cycle -----------------------------------------------------------------------

    def run(self) -> int:
        from apscheduler.events import EVENT_JOB_MISSED

        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self._arm(self.config)
        self.scheduler.start()
        self._catch_up()
        self._publish()
        status = self._idle_status()
        self.notifier.ready(status)
        log.info(
            "daemon.ready",
            pid=os.getpid(),
            config=str(self.path),
            state_dir=str(self.directory),
            schedule=self.config.settings.schedule.cron,
            timezone=str(self.config.zone),
            next_fire=self._next_fire_text(),
        )
        while True:
            for signum in self.signals.wait(self.notifier.watchdog_interval):
                if signum == signal.SIGHUP:
                    self.reload()
                else:
                    return self.shutdown(signum)
            if self.notifier.watchdog_interval and self.scheduler.running:
                self.notifier.watchdog()

    def reload(self) -> None:
        """SIGHUP: re-read the file; reschedule if the schedule changed; keep it if invalid."""
        try:
            config = load_config(self.path, os.environ)
        except ConfigError as exc:
            log.error(
                "config.reload_failed", path=str(self.path), problems=[str(p) for p in exc.problems]
            )
            first = exc.problems[0] if exc.problems else "invalid"
            self.notifier.status(f"configuration invalid, kept the running schedule: {first}")
            return
        setup_logging(self.args, config)
        if state_dir(self.args, config) != self.directory:
            log.warning(
                "config.state_dir_changed",
                running=str(self.directory),
                note="takes effect after a restart",
            )
        self.config = config
        changed = self._arm(config)
        log.info(
            "config.reloaded",
            path=str(self.path),
            schedule_changed=changed,
            next_fire=self._next_fire_text(),
        )
        self._publish()
        if self.sweep_lock.acquire(blocking=False):
            self.sweep_lock.release()
            self.notifier.status(self._idle_status())

    def shutdown(self, signum: int) -> int:
        """Stop in order: no new fires, stop the running sweep's tasks, wait for its report."""
        name = signal.Signals(signum).name
        log.info("daemon.stopping", signal=name, sweep=self.current_run)
        self.notifier.stopping(f"stopping on {name}")
        self.scheduler.pause()
        self.stop.request(signum)
        # The sweep sends SIGTERM to its task groups now and SIGKILL after kill_grace. A
        # second signal meanwhile skips the rest of the grace period.
        while not self.sweep_lock.acquire(timeout=0.25):
            for again in self.signals.wait(0):
                if again in (signal.SIGTERM, signal.SIGINT):
                    log.warning("daemon.stopping_now", signal=signal.Signals(again).name)
                    self.stop.request(again)
        self.scheduler.shutdown(wait=True)
        try:
            self.store.set_daemon(None)
        except StateError as exc:
            log.error("state.write_failed", error=str(exc))
        self.sweep_lock.release()
        log.info("daemon.stopped", signal=name)
        return EXIT_OK

    # -- scheduling -----------------------------------------------------------------------

    def _spec(self, config: Config) -> CronSpec:
        seconds = os.environ.get(TEST_SECONDS_ENV)
        return dataclasses.replace(config.cron, second=seconds) if seconds else config.cron

    def _arm(self, config: Config) -> bool:
        schedule = config.settings.schedule
        grace = int(schedule.catch_up_window) if schedule.catch_up == "once" else LATE_FIRE_GRACE
        armed = _Armed(self._spec(config), str(config.zone), schedule.jitter, grace)
        if armed == self.armed:
            return False
        trigger = armed.spec.trigger(config.zone, jitter=armed.jitter or None)
        if self.armed is None:
            self.scheduler.add_job(
                self._scheduled, trigger=trigger, id="sweep", name="sweep", misfire_grace_time=grace
            )
        else:
            self.scheduler.modify_job("sweep", misfire_grace_time=grace)
            self.scheduler.reschedule_job("sweep", trigger=trigger)
        self.armed = armed
        return True

    def _catch_up(self) -> None:
        now = datetime.now(UTC)
        fires = self.store.read().fires()
        last = fires.get("last_handled")
        if not last:
            # First start ever: fires before the daemon existed were never missed.
            self.store.record_fire(now.isoformat(timespec="seconds"), True, "first start", now)
            return
        schedule = self.config.settings.schedule
        assert self.armed is not None
        decision = catch_up(
            self.armed.spec,
            self.config.zone,
            datetime.fromisoformat(last),
            now,
            timedelta(seconds=schedule.catch_up_window),
            schedule.catch_up,
        )
        if decision.fire is not None:
            log.info(
                "catch_up.start",
                fire=decision.fire.isoformat(),
                missed=decision.missed,
                reason=decision.reason,
            )
            self.scheduler.add_job(
                self._fire, kwargs={"trigger": "catch-up", "fire": decision.fire}
            )
        elif decision.missed:
            log.warning("catch_up.skipped", missed=decision.missed, reason=decision.reason)
            stamp = now.isoformat(timespec="seconds")
            self.store.record_fire(stamp, False, decision.reason, now)
            self.store.record_fire(stamp, True, None, now)

    def _on_missed(self, event: Any) -> None:
        """APScheduler dropped a fire delivered too late (suspend, overload): say so."""
        late = datetime.now(UTC) - event.scheduled_run_time
        reason = (
            f"delivered {int(late.total_seconds())}s late (machine asleep or overloaded), "
            f"beyond the {self.armed.grace if self.armed else '?'}s allowed"
        )
        log.warning("fire.skipped", fire=event.scheduled_run_time.isoformat(), reason=reason)
        self._record_skip(event.scheduled_run_time, reason)

    def _scheduled(self) -> None:
        self._fire("schedule", None)

    # -- sweeps ---------------------------------------------------------------------------

    def _fire(self, trigger: str, fire: datetime | None) -> None:
        """Run the sweep for one fire. ``fire`` is the missed fire time of a catch-up;
        a scheduled fire is stamped with the time it was delivered, the time up to which
        fires have been dealt with once its sweep ends."""
        now = datetime.now(UTC)
        fire = fire or now
        if self.stop.requested:
            return
        if not self.sweep_lock.acquire(blocking=False):
            reason = f"a sweep was still running (run {self.current_run or '?'})"
            log.warning("fire.skipped", fire=fire.isoformat(), trigger=trigger, reason=reason)
            self._record_skip(fire, reason)
            return
        try:
            if not self.stop.requested:
                self._sweep(trigger, fire)
            # Still under the lock: once shutdown() holds it, this thread makes no more
            # scheduler calls, which would deadlock against the scheduler's shutdown.
            if not self.stop.requested:
                with contextlib.suppress(StateError):
                    self._publish()
                self.notifier.status(self._idle_status())
        except Exception:
            log.exception("sweep.crashed", trigger=trigger)
            self.notifier.status("the last sweep crashed; see the journal")
        finally:
            self.current_run = None
            self.sweep_lock.release()

    def _sweep(self, trigger: str, fire: datetime) -> None:
        now = datetime.now(UTC)
        try:
            config = load_config(self.path, os.environ)
        except ConfigError as exc:
            # Nothing runs; the run is recorded as failed, with every problem in its report.
            log.error(
                "sweep.config_invalid", path=str(self.path), problems=[str(p) for p in exc.problems]
            )
            report = record_failed_start(self.config, self.store, self.directory, trigger, exc)
            self.last_summary = f"last sweep {report['run_id']} failed: invalid configuration"
            self._handled(fire, now)
            return
        self.config = config
        if self._arm(config):
            log.info("schedule.changed", next_fire=self._next_fire_text())
        progress = _StatusProgress(self.notifier, trigger)
        report = run_sweep(
            config, self.store, self.directory, SweepRequest(trigger), self.stop, progress
        )
        failures = len(report["failures"])
        self.last_summary = f"last sweep {report['run_id']} {report['status']}" + (
            f" ({failures} failure{'s' if failures != 1 else ''})" if failures else ""
        )
        if report["status"] != "interrupted":
            self._handled(fire, now)

    def _handled(self, fire: datetime, now: datetime) -> None:
        try:
            self.store.record_fire(fire.isoformat(timespec="seconds"), True, None, now)
        except StateError as exc:
            log.error("state.write_failed", error=str(exc))

    def _record_skip(self, fire: datetime, reason: str) -> None:
        try:
            self.store.record_fire(
                fire.isoformat(timespec="seconds"), False, reason, datetime.now(UTC)
            )
        except StateError as exc:
            log.error("state.write_failed", error=str(exc))

    # -- what we tell others --------------------------------------------------------------

    def _next_fire(self) -> datetime | None:
        job = self.scheduler.get_job("sweep")
        fire: datetime | None = job.next_run_time if job is not None else None
        return fire.astimezone(self.config.zone) if fire else None

    def _next_fire_text(self) -> str:
        fire = self._next_fire()
        return fire.isoformat(timespec="seconds") if fire else "never"

    def _idle_status(self) -> str:
        fire = self._next_fire()
        text = f"next sweep {fire:%Y-%m-%d %H:%M %Z}" if fire else "no further fire time"
        return f"{text}; {self.last_summary}" if self.last_summary else text

    def _publish(self) -> None:
        """Tell `agentd status` who we are and when we fire next."""
        pid = os.getpid()
        self.store.set_daemon(
            {
                "pid": pid,
                "pid_start": process_start(pid),
                "host": this_host(),
                "started_at": self.started_at.isoformat(timespec="seconds"),
                "config": str(self.path),
                "schedule": self.config.settings.schedule.cron,
                "timezone": str(self.config.zone),
                "next_fire": self._next_fire_text(),
            }
        )


class _StatusProgress(Observer):
    """Keeps systemd's STATUS= line on the sweep's progress."""

    def __init__(self, notifier: Notifier, trigger: str) -> None:
        self.notifier = notifier
        self.trigger = trigger
        self.lock = threading.Lock()
        self.run_id = ""
        self.total = self.done = self.failed = self.running = 0

    def sweep_started(self, run_id: str, selection: Any, bound: int) -> None:
        self.run_id = run_id
        self.total = len(selection.run)
        self._send()

    def project_started(self, name: str, planned: Any) -> None:
        with self.lock:
            self.running += 1
        self._send()

    def project_finished(self, result: ProjectResult) -> None:
        with self.lock:
            self.running -= 1
            self.done += 1
            self.failed += result.status in ("failed", "error")
        self._send()

    def _send(self) -> None:
        with self.lock:
            text = (
                f"sweep {self.run_id} ({self.trigger}): {self.done}/{self.total} projects done, "
                f"{self.running} running, {self.failed} failed"
            )
        self.notifier.status(text)
