"""Statuses (SPEC section 5) as types: a misspelt status is a mypy error, not a silent miss.

They are ``StrEnum``s, so they serialise as the plain words report.json and the state file
have always held, and compare equal to those words where a record read back is a string.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    ERROR = "error"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"


class ProjectStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    ERROR = "error"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"


class SweepStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Trigger(StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    CATCH_UP = "catch-up"


class SkipCause(StrEnum):
    """Why a task was kept from starting; the report shows only its reason's words."""

    STOPPED = "stopped"  # a stop request came first
    BUDGET = "budget"  # a spend limit was reached
    DONE_TODAY = "done today"  # it already succeeded on the sweep's date
    AFTER_FAILURE = "after failure"  # on_task_failure = "stop"
    CLAIM_LOST = "claim lost"  # another sweep took the project's claim over


TASK_FAILURES = frozenset(
    {TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.ERROR, TaskStatus.INTERRUPTED}
)
PROJECT_FAILURES = frozenset({ProjectStatus.FAILED, ProjectStatus.ERROR})
# What stops a project's dependants from starting, besides a skip that says so itself.
BLOCKING = frozenset({ProjectStatus.FAILED, ProjectStatus.ERROR, ProjectStatus.INTERRUPTED})
