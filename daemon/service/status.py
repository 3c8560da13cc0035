"""What the daemon tells others: `agentd status` (through the state store) and systemd
(through its STATUS= line)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentd.config import Config
from agentd.config.durations import format_duration
from agentd.daemon.model.clock import Clock
from agentd.daemon.model.results import ProjectResult
from agentd.daemon.output.progress import Observer
from agentd.daemon.service.fires import FireBook
from agentd.daemon.service.notify import Notifier
from agentd.daemon.service.scheduler import Scheduler
from agentd.slog import structlog
from agentd.state import StateError
from agentd.state.claims import process_start, this_host

if TYPE_CHECKING:
    from agentd.state.base import StateStore

log = structlog.get_logger("agentd.daemon")


class Announcer:
    def __init__(
        self,
        path: Path,
        store: StateStore,
        scheduler: Scheduler,
        notifier: Notifier,
        clock: Clock,
    ) -> None:
        self.path = path
        self.store = store
        self.scheduler = scheduler
        self.notifier = notifier
        self.clock = clock
        self.started_at = clock.now()
        self.last_summary = ""
        self.reload_error: str | None = None  # the last refused file, for `agentd status`

    def refused(self, problems: list[str]) -> str:
        """Remember a file that was refused, for `agentd status`; its first problem."""
        first = problems[0] if problems else "invalid"
        self.reload_error = f"{self.clock.now():%Y-%m-%d %H:%M:%SZ}: {first}"
        return first

    def idle_status(self) -> str:
        fire = self.scheduler.next_fire()
        armed = self.scheduler.armed
        text = f"next sweep {fire:%Y-%m-%d %H:%M %Z}" if fire else "no further fire time"
        if fire and armed and armed.jitter:
            text += f" (+ up to {format_duration(armed.jitter)} jitter)"
        return f"{text}; {self.last_summary}" if self.last_summary else text

    def publish(self, config: Config, **extra: Any) -> None:
        """Tell `agentd status` who we are and what is armed: the schedule a reload kept,
        not whatever the file says now, since that is what fires."""
        pid = os.getpid()
        armed = self.scheduler.armed
        info = {
            "pid": pid,
            "pid_start": process_start(pid),
            "host": this_host(),
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "config": str(self.path),
            "schedule": armed.spec.expression if armed else config.settings.schedule.cron,
            "timezone": str(armed.zone if armed else config.zone),
            "jitter_s": armed.jitter if armed else 0,
            "next_fire": self.scheduler.next_fire_text(),
            **({"seconds": armed.spec.second} if armed and armed.spec.second != "0" else {}),
            **({"reload_error": self.reload_error} if self.reload_error else {}),
            **extra,
        }
        try:
            self.store.set_daemon(info)
        except StateError as exc:
            log.error("state.write_failed", error=str(exc))


class StatusProgress(Observer):
    """Keeps systemd's STATUS= line on the sweep's progress."""

    def __init__(self, fires: FireBook, notifier: Notifier, trigger: str) -> None:
        self.fires = fires
        self.notifier = notifier
        self.trigger = trigger
        self.lock = threading.Lock()
        self.run_id = ""
        self.total = self.done = self.failed = self.running = 0
        self.settled: set[str] = set()  # done, run or not, counted once

    def sweep_started(self, run_id: str, projects: int, bound: int) -> None:
        self.run_id = run_id
        self.fires.current_run = run_id
        self.total = projects
        self._send()

    def project_started(self, name: str, tasks: int) -> None:
        with self.lock:
            self.running += 1
        self._send()

    def project_finished(self, result: ProjectResult) -> None:
        with self.lock:
            self.running -= 1
        self.project_settled(result)

    def project_settled(self, result: ProjectResult) -> None:
        """Skipped ones too (a dependency failed): done as soon as that is known."""
        with self.lock:
            if result.name in self.settled:
                return
            self.settled.add(result.name)
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
