"""One line of ``agentd doctor``: what was checked, about what, and how it stands."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Level = Literal["ok", "warning", "problem"]
LEVELS: tuple[Level, ...] = ("ok", "warning", "problem")


@dataclass(frozen=True)
class Check:
    check: str  # the kind: project, git, program, agent, state, unit, schedule, zone
    subject: str  # what it is about: a project, a task, an agent, a path
    level: Level
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def ok(check: str, subject: str, message: str) -> Check:
    return Check(check, subject, "ok", message)


def warning(check: str, subject: str, message: str) -> Check:
    return Check(check, subject, "warning", message)


def problem(check: str, subject: str, message: str) -> Check:
    return Check(check, subject, "problem", message)
