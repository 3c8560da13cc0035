"""The daemon, ``agentd run`` (SPEC section 7).

Threads and their jobs:
- the main thread waits for signals (recorded by the handlers, nothing more) and acts on
  them: SIGHUP reloads, SIGTERM/SIGINT run ``shutdown``. Without a systemd watchdog it
  sleeps until a signal comes: no polling.
- APScheduler's thread keeps the clock and hands each fire to a small pool;
- a fire runs its sweep in that pool thread, under ``sweep_lock``: a fire that finds the
  lock taken is skipped and recorded as skipped, never queued and never run alongside.

The state store keeps the time up to which fires are dealt with: a fire whose sweep ended,
or one skipped (and shown as skipped by `agentd status`). A sweep cut short by a stop
leaves its fire unhandled, so the next start catches it up and the skip guard resumes where
it stopped.
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
import time
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import structlog

from agentd.config import Config, ConfigError, Problem, load_config
from agentd.config.cron import CronSpec
from agentd.config.durations import format_duration
from agentd.daemon.cli.exits import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, UsageError
from agentd.daemon.cli.setup import load, open_store, setup_logging, state_dir
from agentd.daemon.model.results import ProjectResult
from agentd.daemon.output.progress import Observer
from agentd.daemon.service.notify import Notifier
from agentd.daemon.service.schedule import catch_up, next_fires
from agentd.daemon.service.trigger import CrontabTrigger
from agentd.daemon.sweep.engine import SweepRequest, record_crash, record_failed_start, run_sweep
from agentd.daemon.tasks.stop import StopToken
from agentd.state import JsonFileStore, StateError
from agentd.state.claims import process_start, this_host
from agentd.state.daemonlock import DaemonLock, DaemonLocked

log = structlog.get_logger("agentd.daemon")

# Crontab has no seconds field. The test suite sets this (e.g. "*/2") to make the daemon
# fire within seconds; it is not a user-facing setting.
TEST_SECONDS_ENV = "AGENTD_TESTING_CRON_SECONDS"
# With catch_up = "none", a fire delivered later than this (suspend, overload) is skipped.
LATE_FIRE_GRACE = 60
# A file that cannot be taken at a fire is read once more after this long (an editor may
# be saving it that very moment).
CONFIG_RETRY_AFTER = 2.0


class Signals:
    """Signal handlers append to a deque and poke a pipe; the main loop reads both."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.pending: collections.deque[int] = collections.deque()

    def install(self, *signals: int) -> None:
        # Whichever thread the kernel hands a signal to, its C-level handler writes here at
        # once and wakes the main loop, which then runs the Python handler (see stop.py).
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
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
    zone: tzinfo
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
        self.path = config.path
        self.directory = directory
        self.store = store
        self.signals = signals
        self.notifier = notifier
        self.stop = StopToken()
        self.sweep_lock = threading.Lock()
        self.current_run: str | None = None
        self.armed: _Armed | None = None
        self.arm_lock = threading.Lock()  # reloads (main thread) and sweeps (pool) both arm
        # The latest fire skipped while the current sweep runs: dealt with once it ends.
        self.skipped_upto: datetime | None = None
        self.started_at = datetime.now(UTC)
        self.last_summary = ""
        self.reload_error: str | None = None  # the last refused reload, for `agentd status`
        self.ticked = time.monotonic()
        from apscheduler.schedulers.background import BackgroundScheduler

        self.scheduler = BackgroundScheduler(
            timezone=config.zone,
            # A sweep, a fire being turned away meanwhile, and the watchdog tick.
            executors={"default": {"type": "threadpool", "max_workers": 3}},
            # Overlap is decided by sweep_lock, so APScheduler must let a second fire
            # through to be seen (and recorded as skipped) rather than drop it silently.
            job_defaults={"coalesce": True, "max_instances": 2},
        )

    # -- life cycle -----------------------------------------------------------------------

    def run(self) -> int:
        from apscheduler.events import EVENT_JOB_MISSED

        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self._arm(self.config)
        interval = self.notifier.watchdog_interval
        if interval:
            # The watchdog is fed only while the scheduler really runs jobs.
            self.scheduler.add_job(self._tick, "interval", seconds=interval, id="watchdog")
        self.scheduler.start()
        try:
            self._catch_up()
            self._publish()
            self.notifier.ready(self._idle_status())
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
                received = self.signals.wait(interval)
                for i, signum in enumerate(received):
                    if signum == signal.SIGHUP:
                        self.reload()
                    else:
                        # A second stop signal read in the same batch still skips the grace.
                        return self.shutdown(signum, received[i + 1 :])
                if interval and time.monotonic() - self.ticked < 3 * interval:
                    self.notifier.watchdog()
        except Exception:
            # Whatever broke, stop in order: the lock must not be released while a sweep
            # still runs in this process.
            log.exception("daemon.crashed")
            self.shutdown(signal.SIGTERM, cause="an internal error (see the journal)")
            return EXIT_FAILED

    def reload(self) -> None:
        """SIGHUP: re-read the file; reschedule if the schedule changed; keep it if invalid."""
        try:
            config = self._reread()
        except ConfigError as exc:
            problems = [str(p) for p in exc.problems]
            log.error("config.reload_failed", path=str(self.path), problems=problems)
            first = self._refused(problems)
            self._publish()
            self.notifier.status(f"configuration invalid, kept the running schedule: {first}")
            return
        self.reload_error = None
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
        if not self.sweep_lock.locked():
            self.notifier.status(self._idle_status())

    def _refused(self, problems: list[str]) -> str:
        """Remember a file that was refused, for `agentd status`; its first problem."""
        first = problems[0] if problems else "invalid"
        self.reload_error = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%SZ}: {first}"
        return first

    def _reread(self) -> Config:
        """The file as a running daemon may take it over; ConfigError if it must not.

        A file saved in place (truncated, then written) can be read in between: empty, which
        is a valid configuration with the default schedule and nothing to run. Taking that
        would re-arm the daemon on ``30 2 * * *`` and skip the user's sweeps without a word.
        So a file without projects never replaces one with projects: a deliberate pause is
        ``enabled = false`` (or stopping the daemon), not an empty file.
        """
        config = load_config(self.path, os.environ)
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
        return config

    def shutdown(self, signum: int, more: list[int] | None = None, cause: str | None = None) -> int:
        """Stop in order: no new fires, stop the running sweep's tasks, wait for its report.
        ``more``: signals that came with the first one, still to be acted on; ``cause``:
        why, when it was not a signal."""
        name = signal.Signals(signum).name
        log.info("daemon.stopping", signal=name, sweep=self.current_run)
        self.notifier.stopping(f"stopping on {name}")
        self.scheduler.pause()
        self.stop.request(signum)
        # The sweep sends SIGTERM to its task groups now and SIGKILL after kill_grace. A
        # second signal meanwhile skips the rest of the grace period.
        pending = list(more or [])
        while True:
            for again in pending:
                if again in (signal.SIGTERM, signal.SIGINT):
                    log.warning("daemon.stopping_now", signal=signal.Signals(again).name)
                    self.stop.request(again)
            if self.sweep_lock.acquire(timeout=0.25):
                break
            pending = self.signals.wait(0)
        self.scheduler.shutdown(wait=True)
        # Left for `agentd status`, which would otherwise find only a pid that is gone and
        # could not tell a clean stop from a crash.
        self._publish(
            stopped_at=datetime.now(UTC).isoformat(timespec="seconds"), stopped_by=cause or name
        )
        try:
            self.store.checkpoint()
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
        armed = _Armed(self._spec(config), config.zone, schedule.jitter, grace)
        with self.arm_lock:
            if armed == self.armed:
                return False
            trigger = CrontabTrigger(armed.spec, config.zone, armed.jitter or None)
            if self.armed is None:
                self.scheduler.add_job(
                    self._scheduled,
                    trigger=trigger,
                    id="sweep",
                    name="sweep",
                    misfire_grace_time=grace,
                )
            else:
                self.scheduler.modify_job("sweep", misfire_grace_time=grace)
                self.scheduler.reschedule_job("sweep", trigger=trigger)
            self.armed = armed
        return True

    def _catch_up(self) -> None:
        now = datetime.now(UTC)
        last = self.store.read().fires().get("last_handled")
        if not last:
            # First start ever: fires before the daemon existed were never missed.
            self._handled(now)
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
            # No misfire grace: a slow boot must not drop the catch-up it just decided on.
            self.scheduler.add_job(
                self._fire,
                id="catch-up",
                kwargs={"trigger": "catch-up", "fire": decision.fire},
                misfire_grace_time=None,
            )
        elif decision.missed:
            log.warning("catch_up.skipped", missed=decision.missed, reason=decision.reason)
            self._skipped(now, decision.reason)

    def _on_missed(self, event: Any) -> None:
        """APScheduler dropped a fire delivered too late (suspend, overload): say so."""
        late = datetime.now(UTC) - event.scheduled_run_time
        if event.job_id != "sweep":
            return  # the watchdog tick; a missed tick shows as a missing WATCHDOG=1
        grace = self.armed.grace if self.armed else LATE_FIRE_GRACE
        reason = (
            f"delivered {int(late.total_seconds())}s late (machine asleep or overloaded), "
            f"more than the {grace}s allowed"
        )
        log.warning("fire.skipped", fire=event.scheduled_run_time.isoformat(), reason=reason)
        self._skipped(event.scheduled_run_time, reason)

    def _scheduled(self) -> None:
        self._fire("schedule", None)

    def _tick(self) -> None:
        self.ticked = time.monotonic()

    # -- sweeps ---------------------------------------------------------------------------

    def _fire(self, trigger: str, fire: datetime | None) -> None:
        """Run the sweep for one fire. ``fire`` is the missed fire time of a catch-up; a
        scheduled fire is stamped with the time it was delivered."""
        now = datetime.now(UTC)
        fire = fire or now
        if self.stop.requested:
            return
        if not self.sweep_lock.acquire(blocking=False):
            reason = f"a sweep was still running (run {self.current_run or '?'})"
            log.warning("fire.skipped", fire=fire.isoformat(), trigger=trigger, reason=reason)
            self._skipped(fire, reason)
            return
        try:
            self._publish()
            self._sweep(trigger, fire)
            if not self.stop.requested:
                self._publish()
                self.notifier.status(self._idle_status())
        except StateError as exc:
            # The state refused (deleted, damaged, a full disk): the message says it all.
            log.error("sweep.state_refused", trigger=trigger, error=str(exc))
            self.notifier.status(f"the last sweep could not run: {exc}")
            self._record_crash(trigger, exc)
        except Exception as exc:
            log.exception("sweep.crashed", trigger=trigger)
            self.notifier.status("the last sweep crashed; see the journal")
            self._record_crash(trigger, exc)
        finally:
            self.current_run = None
            self.sweep_lock.release()

    def _record_crash(self, trigger: str, error: Exception) -> None:
        """The failed run in the history, with its report and alert, if the state lets us."""
        try:
            record_crash(self.config, self.store, self.directory, trigger, error)
        except Exception:
            log.exception("sweep.crash_not_recorded")

    def _sweep(self, trigger: str, fire: datetime) -> None:
        try:
            config = self._reread_for_sweep()
        except ConfigError as exc:
            # Nothing runs; the run is recorded as failed, with every problem in its report.
            problems = [str(p) for p in exc.problems]
            log.error("sweep.config_invalid", path=str(self.path), problems=problems)
            self._refused(problems)
            report = record_failed_start(self.config, self.store, self.directory, trigger, exc)
            self.last_summary = f"last sweep {report['run_id']} failed: invalid configuration"
            self._handled(fire)
            return
        if config is None:
            return  # stopped while waiting to read the file again
        self.config = config
        self.reload_error = None  # whatever was refused before, this file was taken
        if self._arm(config):
            log.info("schedule.changed", next_fire=self._next_fire_text())
        progress = _StatusProgress(self, trigger)
        report = run_sweep(
            config, self.store, self.directory, SweepRequest(trigger), self.stop, progress
        )
        failures = len(report["failures"])
        self.last_summary = f"last sweep {report['run_id']} {report['status']}" + (
            f" ({failures} failure{'s' if failures != 1 else ''})" if failures else ""
        )
        if report["status"] != "interrupted":
            self._handled(fire)
        else:
            # Fires turned away during a sweep cut short are covered by the catch-up that
            # resumes it at the next start.
            self.skipped_upto = None

    def _reread_for_sweep(self) -> Config | None:
        """The file for this sweep. One that cannot be taken is read once more after a
        moment, in case the fire met an editor saving it; None if a stop came meanwhile."""
        try:
            return self._reread()
        except ConfigError as exc:
            log.warning("sweep.config_retry", problems=[str(p) for p in exc.problems][:3])
        readable, _, _ = select.select([self.stop.fileno()], [], [], CONFIG_RETRY_AFTER)
        if readable or self.stop.requested:
            return None
        return self._reread()

    # -- bookkeeping of fires -------------------------------------------------------------

    def _handled(self, fire: datetime) -> None:
        """Every fire up to ``fire`` (and up to any turned away meanwhile) is dealt with."""
        upto, self.skipped_upto = self.skipped_upto, None
        if upto is not None and upto > fire:
            fire = upto
        self._record(fire, True, None)

    def _skipped(self, fire: datetime, reason: str) -> None:
        """A fire that will not run: shown by `agentd status`, and never caught up later."""
        self._record(fire, False, reason)
        if self.sweep_lock.locked():
            # Dealt with once the running sweep ends (if it is interrupted instead, the
            # catch-up that resumes it covers this fire too).
            if self.skipped_upto is None or fire > self.skipped_upto:
                self.skipped_upto = fire
        else:
            self._record(fire, True, None)

    def _record(self, fire: datetime, handled: bool, reason: str | None) -> None:
        try:
            stamp = fire.isoformat(timespec="seconds")
            self.store.record_fire(stamp, handled, reason, datetime.now(UTC))
        except StateError as exc:
            log.error("state.write_failed", error=str(exc))

    # -- what we tell others --------------------------------------------------------------

    def _next_fire(self) -> datetime | None:
        """The next fire time without jitter, from our own schedule math: asking APScheduler
        from a pool thread could deadlock against its shutdown."""
        if self.armed is None:
            return None
        fires = next_fires(self.armed.spec, self.armed.zone, datetime.now(UTC), 1)
        return fires[0] if fires else None

    def _next_fire_text(self) -> str:
        fire = self._next_fire()
        return fire.isoformat(timespec="seconds") if fire else "never"

    def _idle_status(self) -> str:
        fire = self._next_fire()
        text = f"next sweep {fire:%Y-%m-%d %H:%M %Z}" if fire else "no further fire time"
        if fire and self.armed and self.armed.jitter:
            text += f" (+ up to {format_duration(self.armed.jitter)} jitter)"
        return f"{text}; {self.last_summary}" if self.last_summary else text

    def _publish(self, **extra: Any) -> None:
        """Tell `agentd status` who we are and what is armed: the schedule a reload kept,
        not whatever the file says now, since that is what fires."""
        pid = os.getpid()
        armed = self.armed
        info = {
            "pid": pid,
            "pid_start": process_start(pid),
            "host": this_host(),
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "config": str(self.path),
            "schedule": armed.spec.expression if armed else self.config.settings.schedule.cron,
            "timezone": str(armed.zone if armed else self.config.zone),
            "jitter_s": armed.jitter if armed else 0,
            "next_fire": self._next_fire_text(),
            **({"seconds": armed.spec.second} if armed and armed.spec.second != "0" else {}),
            **({"reload_error": self.reload_error} if self.reload_error else {}),
            **extra,
        }
        try:
            self.store.set_daemon(info)
        except StateError as exc:
            log.error("state.write_failed", error=str(exc))


class _StatusProgress(Observer):
    """Keeps systemd's STATUS= line on the sweep's progress."""

    def __init__(self, daemon: Daemon, trigger: str) -> None:
        self.daemon = daemon
        self.notifier = daemon.notifier
        self.trigger = trigger
        self.lock = threading.Lock()
        self.run_id = ""
        self.total = self.done = self.failed = self.running = 0

    def sweep_started(self, run_id: str, selection: Any, bound: int) -> None:
        self.run_id = run_id
        self.daemon.current_run = run_id
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
