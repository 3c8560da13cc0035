"""What report.html shows, as plain values: strings and numbers, never markup.

Built from the report's JSON form (what report.json holds and ``agentd report`` reads
back), as report.md is, so the page of a run from before this version can be made later
from its report.json alone. Every string here may be a task's output, a project's name or
an agent's answer: the templates escape it; nothing here may mark it safe.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from agentd.daemon.model.budget import amount_text, describe
from agentd.daemon.model.status import TASK_FAILURES
from agentd.daemon.output import spendview
from agentd.daemon.output.textout import harmless

if TYPE_CHECKING:
    from agentd.daemon.model.history import History

# Nights whose wall time the verdict compares this one's with.
MEDIAN_NIGHTS = 7
# An agent's answer on the page; report.json holds what the sweep kept of it.
ANSWER_CHARS = 8000


@dataclass(frozen=True)
class Count:
    label: str
    number: int
    tone: str  # a status word: the colour, beside the label that says it in words


@dataclass(frozen=True)
class Meter:
    label: str  # "nightly limit"
    text: str  # "$1.20 of $5.00"
    fraction: float  # spent / limit, at most 1 (a <meter>'s value)
    reached: bool
    title: str  # the standing in a sentence, as report.md says it


@dataclass(frozen=True)
class Verdict:
    status: str
    trigger: str
    date: str
    started_at: str
    wall: str
    wall_median: str  # "" when no earlier night ran
    wall_change: str  # "+14% vs the median of the last 7 nights", or ""
    counts: list[Count]
    spend: list[str]  # this sweep, today, the last 7 days
    meters: list[Meter]
    host: str
    version: str
    config_errors: list[str]


@dataclass(frozen=True)
class Link:
    text: str
    href: str  # relative to the page: a file of the run directory, percent-quoted


@dataclass(frozen=True)
class AgentRun:
    place: str
    agent: str
    status: str
    headline: str  # the agent's own error for a failed run, else its answer's first line
    answer: str
    facts: list[str]  # cost, tokens, duration
    failed: bool


@dataclass(frozen=True)
class TaskRow:
    name: str
    status: str
    exit: str
    took: str
    note: str
    log: Link | None


@dataclass(frozen=True)
class ProjectRow:
    name: str
    status: str
    ok: int
    failed: int
    skipped: int
    reason: str
    tasks: list[TaskRow] = field(default_factory=list)

    @property
    def counts(self) -> str:
        """ "2 ok, 1 failed": the counts that are not zero (a project of no task: "0 ok")."""
        counts = ((self.ok, "ok"), (self.failed, "failed"), (self.skipped, "skipped"))
        return ", ".join(f"{n} {what}" for n, what in counts if n) or "0 ok"


def text(value: Any) -> str:
    """Any value of a report as text a page can show: nothing that acts, never ``None``."""
    return "" if value is None else harmless(str(value))


def took_text(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def log_link(task: dict[str, Any]) -> Link | None:
    """The task's log, relative to the run directory the page sits in. A ``log`` that is
    not a plain relative path (a report edited by hand) gets no link."""
    rel = task.get("log")
    if not isinstance(rel, str) or not rel or rel.startswith("/") or ".." in rel.split("/"):
        return None
    return Link(text(rel), quote(rel))


def verdict(report: dict[str, Any], history: History | None) -> Verdict:
    c = report["counts"]
    # Failures are counted even when none: "0 tasks failed" is the news a calm night brings.
    counts = [
        Count(f"{kind}{'' if number == 1 else 's'} {state}", number, state)
        for kind in ("project", "task")
        for state in ("ok", "failed", "interrupted", "skipped")
        if (number := int(c.get(f"{kind}s_{state}", 0))) or state == "failed"
    ]
    wall = report.get("duration_s")
    median, change = _wall_median(report, history, wall)
    return Verdict(
        status=text(report["status"]),
        trigger=text(report.get("trigger")),
        date=text(report.get("date")),
        started_at=text(report.get("started_at")),
        wall=took_text(wall),
        wall_median=median,
        wall_change=change,
        counts=counts,
        spend=_spend_lines(report.get("spend"), report.get("budget")),
        meters=_meters((report.get("budget") or {}).get("standing") or []),
        host=text(report.get("host")),
        version=text(report.get("agentd_version")),
        config_errors=[text(e) for e in report.get("config_errors") or []],
    )


def _wall_median(report: dict[str, Any], history: History | None, wall: Any) -> tuple[str, str]:
    if history is None:
        return "", ""
    before = [n.wall_s for n in history.nights if n.date < report["date"] and n.wall_s is not None][
        -MEDIAN_NIGHTS:
    ]
    if not before:
        return "", ""
    median = statistics.median(before)
    nights = f"the last {len(before)} night" + ("" if len(before) == 1 else "s")
    label = f"median of {nights}: {took_text(median)}"
    if not isinstance(wall, int | float) or median <= 0:
        return label, ""
    percent = round((wall - median) / median * 100)
    return label, f"{percent:+d}% against {nights}' median"


def _spend_lines(spend: Any, budget: Any) -> list[str]:
    """As report.md's Spend section: none without an agent run this week or a budget."""
    if not isinstance(spend, dict) or not spendview.anything_to_show(spend, budget):
        return []
    out = []
    for label, totals in (
        ("this sweep", spend.get("sweep")),
        (f"{text(spend.get('date'))}", (spend.get("today") or {}).get("total")),
        ("last 7 days", (spend.get("week") or {}).get("total")),
    ):
        if isinstance(totals, dict):
            money = amount_text(float(totals.get("usd", 0)), "usd")
            line = f"{label}: {money}, {int(totals.get('tokens', 0)):,} tokens"
            runs = int(totals.get("runs", 0))
            line += f" in {runs} agent run" + ("" if runs == 1 else "s")
            out.append(line)
    return out


def _meters(standing: list[dict[str, Any]]) -> list[Meter]:
    out = []
    for item in standing:
        limit = str(item.get("limit", ""))
        span, _, unit = limit.partition("_")
        value, spent = float(item.get("value") or 0), float(item.get("spent") or 0)
        scope = f"{item['agent']}'s " if item.get("agent") else ""
        out.append(
            Meter(
                label=text(f"{scope}{span} limit"),
                text=f"{amount_text(spent, unit)} of {amount_text(value, unit)}",
                fraction=min(spent / value, 1.0) if value > 0 else 1.0,
                reached=bool(item.get("reached")),
                title=text(describe(item)),
            )
        )
    return out


def agent_runs(report: dict[str, Any]) -> list[AgentRun]:
    out = []
    for project in report["projects"]:
        for task in project["tasks"]:
            if not task.get("agent") or task.get("status") == "skipped":
                continue
            failed = task.get("status") in TASK_FAILURES
            answer = text(task.get("answer"))
            if len(answer) > ANSWER_CHARS:
                answer = answer[:ANSWER_CHARS] + "\n… (cut here; report.json has more)"
            error = text(task.get("agent_error"))
            if failed:
                headline = error or text(task.get("reason"))
            else:
                headline = next((line for line in answer.splitlines() if line.strip()), "")
            out.append(
                AgentRun(
                    place=text(f"{project['name']} / {task['name']}"),
                    agent=text(task["agent"]),
                    status=text(task.get("status")),
                    headline=headline or "no answer recorded",
                    answer=answer,
                    facts=_usage_facts(task),
                    failed=failed,
                )
            )
    return out


def _usage_facts(task: dict[str, Any]) -> list[str]:
    usage = task.get("usage")
    facts = []
    if isinstance(usage, dict) and usage.get("known"):
        if isinstance(usage.get("cost_usd"), int | float):
            facts.append(amount_text(usage["cost_usd"], "usd"))
        if isinstance(usage.get("tokens"), int | float):
            facts.append(amount_text(usage["tokens"], "tokens"))
    elif isinstance(usage, dict):
        facts.append("usage unknown")
    if task.get("duration_s") is not None:
        facts.append(took_text(task.get("duration_s")))
    return facts


def _table_usage(task: dict[str, Any]) -> list[str]:
    """The usage of an agent run for the table's note (its duration has a column)."""
    if not task.get("agent") or not isinstance(task.get("usage"), dict):
        return []
    facts = _usage_facts({**task, "duration_s": None})
    return [f"{task['agent']}: {', '.join(facts)}"] if facts else []


def project_rows(report: dict[str, Any]) -> list[ProjectRow]:
    rows = []
    for project in report["projects"]:
        statuses = [t.get("status") for t in project["tasks"]]
        tasks = [
            TaskRow(
                name=text(task["name"]),
                status=text(task.get("status")),
                exit=text(task.get("exit_code")),
                took=took_text(task.get("duration_s")),
                note=text("; ".join(x for x in (task.get("reason"), *_table_usage(task)) if x)),
                log=log_link(task),
            )
            for task in project["tasks"]
        ]
        rows.append(
            ProjectRow(
                name=text(project["name"]),
                status=text(project.get("status")),
                ok=statuses.count("ok"),
                failed=sum(s in TASK_FAILURES for s in statuses),
                skipped=statuses.count("skipped"),
                reason=text(project.get("reason")),
                tasks=tasks,
            )
        )
    return rows
