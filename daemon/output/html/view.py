"""What report.html shows, as plain values: strings and numbers, never markup.

Built from the report's JSON form (what report.json holds and ``agentd report`` reads
back), as report.md is, so the page of a run from before this version can be made later
from its report.json alone. Every string here may be a task's output, a project's name or
an agent's answer: the templates escape it; nothing here may mark it safe.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from agentd.daemon.model.budget import amount_text, describe
from agentd.daemon.model.status import TASK_FAILURES
from agentd.daemon.output import agentview, spendview
from agentd.daemon.output.figures import duration_text, number
from agentd.daemon.output.html.chartkit import STATUSES
from agentd.daemon.output.textout import harmless

if TYPE_CHECKING:
    from pathlib import Path

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


class TaskRow(NamedTuple):
    """A row of the projects table: a tuple the template unpacks in its loop (900 rows on
    a night of 300 projects), every field text."""

    name: str
    status: str
    exit: str
    took: str
    href: str  # the log's link, relative to the page; "" when it has none
    note: str


@dataclass(frozen=True)
class ProjectRow:
    name: str
    status: str
    counts: str  # "2 ok, 1 failed": the counts that are not zero (no task: "0 ok")
    reason: str
    tasks: list[TaskRow] = field(default_factory=list)


def text(value: Any) -> str:
    """Any value of a report as text a page can show: nothing that acts, never ``None``."""
    return "" if value is None else harmless(str(value))


def log_link(task: dict[str, Any]) -> Link | None:
    """The task's log, relative to the run directory the page sits in. A ``log`` that is
    not a plain relative path (a report edited by hand) gets no link."""
    href = log_href(task)
    return Link(text(task["log"]), href) if href else None


# A log's path as agentd names them (project and task names are often no more): a link
# as it is, without quote()'s work, 900 times on a night of 300 projects.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_.~/-]+")


def log_href(task: dict[str, Any]) -> str:
    """``log_link``'s href, percent-quoted; "" for none."""
    rel = task.get("log")
    if not isinstance(rel, str) or not rel or rel.startswith("/") or ".." in rel.split("/"):
        return ""
    return rel if _PLAIN_PATH.fullmatch(rel) else quote(rel)


def logs_elsewhere(doc: dict[str, Any], host: str, run_dir: Path) -> dict[tuple[str, str], str]:
    """(project, task) -> "log on HOST: PATH" for each task log a page of ``host``'s run
    would link to: the absolute path the report recorded there (or its place in
    ``run_dir``, that host's run directory, for a report without one)."""
    where = {}
    for project in doc["projects"]:
        for task in project["tasks"]:
            if not log_href(task):
                continue
            path = task.get("log_path")
            if not (isinstance(path, str) and path.startswith("/")):
                path = str(run_dir / task["log"])
            where[text(project["name"]), text(task["name"])] = text(f"log on {host}: {path}")
    return where


def verdict(report: dict[str, Any], history: History | None) -> Verdict:
    wall = number(report.get("duration_s"))
    median, change = _wall_median(report, history, wall)
    return Verdict(
        status=text(report["status"]),
        trigger=text(report.get("trigger")),
        date=text(report.get("date")),
        started_at=text(report.get("started_at")),
        wall=duration_text(wall),
        wall_median=median,
        wall_change=change,
        counts=_counts(report.get("counts")),
        spend=_spend_lines(report.get("spend"), report.get("budget")),
        meters=_meters(report.get("budget")),
        host=text(report.get("host")),
        version=text(report.get("agentd_version")),
        config_errors=[text(e) for e in _list(report.get("config_errors"))],
    )


def _counts(counts: Any) -> list[Count]:
    """Failures are counted even when none: "0 tasks failed" is the news a calm night
    brings. A count that is not a number (a report edited by hand) is left out."""
    c = counts if isinstance(counts, dict) else {}
    out = []
    for kind in ("project", "task"):
        for state in ("ok", "failed", "interrupted", "skipped"):
            value = number(c.get(f"{kind}s_{state}", 0))
            if value is not None and (value or state == "failed"):
                n = int(value)
                out.append(Count(f"{kind}{'' if n == 1 else 's'} {state}", n, state))
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _wall_median(
    report: dict[str, Any], history: History | None, wall: float | None
) -> tuple[str, str]:
    if history is None:
        return "", ""
    date = text(report.get("date"))
    walls = [number(n.wall_s) for n in history.nights if n.date < date]
    before = [wall for wall in walls if wall is not None][-MEDIAN_NIGHTS:]
    if not before:
        return "", ""
    median = float(statistics.median(before))
    nights = f"the last {len(before)} night" + ("" if len(before) == 1 else "s")
    label = f"median of {nights}: {duration_text(median)}"
    if wall is None or median <= 0 or number((wall - median) / median * 100) is None:
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
            usd, tokens = number(totals.get("usd", 0)), number(totals.get("tokens", 0))
            runs = int(number(totals.get("runs", 0)) or 0)
            line = f"{label}: {amount_text(usd, 'usd') if usd is not None else '?'}"
            line += f", {int(tokens):,} tokens" if tokens is not None else ""
            line += f" in {runs} agent run" + ("" if runs == 1 else "s")
            out.append(line)
    return out


def _meters(budget: Any) -> list[Meter]:
    standing = budget.get("standing") if isinstance(budget, dict) else None
    out = []
    for item in _list(standing):
        if not isinstance(item, dict):
            continue
        value, spent = number(item.get("value") or 0), number(item.get("spent") or 0)
        if value is None or spent is None:
            continue  # a limit a report edited by hand made no figure of
        limit = str(item.get("limit", ""))
        span, _, unit = limit.partition("_")
        scope = f"{item['agent']}'s " if item.get("agent") else ""
        out.append(
            Meter(
                label=text(f"{scope}{span} limit"),
                text=f"{amount_text(spent, unit)} of {amount_text(value, unit)}",
                fraction=min(spent / value, 1.0) if value > 0 else 1.0,
                reached=bool(item.get("reached")),
                title=_described(item),
            )
        )
    return out


def _described(item: dict[str, Any]) -> str:
    """The standing in report.md's words; none for one a hand has made no standing of."""
    try:
        return text(describe(item))
    except (ArithmeticError, ValueError, TypeError, KeyError, AttributeError):
        return ""


def agent_runs(report: dict[str, Any]) -> list[AgentRun]:
    """The page's view of report.md's agent runs (agentview: one rule for which runs)."""
    out = []
    for run in agentview.agent_runs(report):
        answer = text(run.answer)
        if len(answer) > ANSWER_CHARS:
            answer = answer[:ANSWER_CHARS] + "\n… (cut here; report.json has more)"
        took = [duration_text(run.duration_s)] if run.duration_s is not None else []
        out.append(
            AgentRun(
                place=text(run.place),
                agent=text(run.agent),
                status=text(run.status),
                headline=text(run.headline) or "no answer recorded",
                answer=answer,
                facts=[text(fact) for fact in run.spend] + took,
                failed=run.failed,
            )
        )
    return out


def _word(value: Any) -> str:
    """A status: one a report writes is shown as it is, without a look for what acts."""
    return value if value in STATUSES else text(value)


def project_rows(report: dict[str, Any]) -> list[ProjectRow]:
    """report.md's table, a row per task: what the sweep's end renders 900 times on a
    night of 300 projects, kept to what each row must say."""
    rows = []
    for project in report["projects"]:
        statuses = [t.get("status") for t in project["tasks"]]
        counts = (
            (statuses.count("ok"), "ok"),
            (sum(s in TASK_FAILURES for s in statuses), "failed"),
            (statuses.count("skipped"), "skipped"),
        )
        rows.append(
            ProjectRow(
                name=text(project["name"]),
                status=_word(project.get("status")),
                counts=", ".join(f"{n} {what}" for n, what in counts if n) or "0 ok",
                reason=text(project.get("reason")),
                tasks=[_task_row(task) for task in project["tasks"]],
            )
        )
    return rows


def _task_row(task: dict[str, Any]) -> TaskRow:
    code, took = task.get("exit_code"), number(task.get("duration_s"))
    note = "; ".join(x for x in (task.get("reason"), agentview.usage_note(task)) if x)
    return TaskRow(
        name=text(task["name"]),
        status=_word(task.get("status")),
        exit=str(code) if type(code) is int else text(code),
        took=duration_text(took) if took is not None else "",
        href=log_href(task),
        note=text(note) if note else "",
    )
