"""The timeline's agent row: how many agent tasks ran at once over the night, as a step
line under a line at the agent-slot bound. Numbers and short strings only, as in charts.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentd.daemon.output.html.chartkit import Point, r1
from agentd.daemon.output.html.timescale import GUTTER, Scale

AGENT_H = 30


@dataclass(frozen=True)
class AgentRow:
    """Agent tasks running at once, as a step line, under a line at the agent bound."""

    y: float
    height: float
    points: list[Point]
    bound_y: float | None
    label: str
    label_y: float
    title: str


def agent_row(
    tasks: Iterable[tuple[Mapping[str, Any], datetime, datetime]],
    agent_bound: int,
    scale: Scale,
    y: float,
) -> AgentRow | None:
    """Agent tasks at once over the night: shown when there is a bound or an agent ran."""
    events = [
        (moment, step)
        for task, start, end in tasks
        if task.get("agent")
        for moment, step in ((start, 1), (end, -1))
    ]
    if not events and agent_bound <= 0:
        return None
    events.sort()  # at one moment an end (-1) comes before a start: no false peak
    peak = max(running(events), default=0)
    top = max(agent_bound, 1, peak)
    base = y + AGENT_H

    def level(n: int) -> float:
        return r1(base - n * (AGENT_H - 4) / top)

    points: list[Point] = [(GUTTER, base)]
    now = 0
    for moment, step in events:
        x = r1(scale.x(moment))
        points.append((x, level(now)))
        now += step
        points.append((x, level(now)))
    points.append((r1(GUTTER + scale.width), level(now)))
    bounded = f"bound {agent_bound}" if agent_bound > 0 else "no bound"
    title = f"agent tasks at once: peak {peak}, {bounded}"
    bound_y = level(agent_bound) if agent_bound > 0 else None
    label = f"agents ≤{agent_bound}" if agent_bound > 0 else "agents"
    return AgentRow(r1(y), AGENT_H, points, bound_y, label, r1(y + AGENT_H / 2 + 4), title)


def running(events: Iterable[tuple[datetime, int]]) -> list[int]:
    out, now = [], 0
    for _, step in events:
        now += step
        out.append(now)
    return out
