"""What the sweep tells the layers above it, as it happens and when it is over.

The sweep knows nothing of terminals, report files or alert channels: whoever starts a
sweep (``agentd run --once``, the daemon) passes the observers, and the sweep calls them in
the order given. ``sweep_finished`` gets the finished report; an observer that writes the
report raises ReportNotWritten when it cannot, and the sweep then fails and says why
(before the observers after it see the report). Nothing else an observer raises is the
sweep's business: an observer that may fail (an alert) catches its own errors.

Every method may be called from any thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from agentd.daemon.model.report import Report
from agentd.daemon.model.results import ProjectResult, TaskResult


class ReportNotWritten(Exception):
    """The report could not be put on disk; ``str()`` says why, for the failure list."""


class SweepObserver(Protocol):
    def sweep_started(self, run_id: str, projects: int, bound: int) -> None: ...
    def project_started(self, name: str, tasks: int) -> None: ...
    def task_started(self, project: str, task: str) -> None: ...
    def task_finished(self, project: str, result: TaskResult) -> None: ...
    def project_finished(self, result: ProjectResult) -> None: ...
    def project_settled(self, result: ProjectResult) -> None: ...
    def sweep_finished(self, report: Report, run_dir: Path) -> None: ...


class QuietObserver:
    """Hears everything, does nothing: a base for observers that want one or two events."""

    def sweep_started(self, run_id: str, projects: int, bound: int) -> None:
        pass

    def project_started(self, name: str, tasks: int) -> None:
        pass

    def task_started(self, project: str, task: str) -> None:
        pass

    def task_finished(self, project: str, result: TaskResult) -> None:
        pass

    def project_finished(self, result: ProjectResult) -> None:
        pass

    def project_settled(self, result: ProjectResult) -> None:
        """A chosen project's outcome is known, whether it ran (after its
        ``project_finished``) or not (a dependency failed, another sweep holds it, the
        sweep was stopped first): once per project, from the sweep's coordinating thread,
        as soon as it is decided, not at the sweep's end."""

    def sweep_finished(self, report: Report, run_dir: Path) -> None:
        pass


class Observers(QuietObserver):
    """Several observers as one, for the events during a sweep (in the order given)."""

    def __init__(self, observers: list[SweepObserver]) -> None:
        self.each = observers

    def sweep_started(self, run_id: str, projects: int, bound: int) -> None:
        for o in self.each:
            o.sweep_started(run_id, projects, bound)

    def project_started(self, name: str, tasks: int) -> None:
        for o in self.each:
            o.project_started(name, tasks)

    def task_started(self, project: str, task: str) -> None:
        for o in self.each:
            o.task_started(project, task)

    def task_finished(self, project: str, result: TaskResult) -> None:
        for o in self.each:
            o.task_finished(project, result)

    def project_finished(self, result: ProjectResult) -> None:
        for o in self.each:
            o.project_finished(result)

    def project_settled(self, result: ProjectResult) -> None:
        for o in self.each:
            o.project_settled(result)
