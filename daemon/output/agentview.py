"""What each agent run said and left, as people read it: the "Agents" section of
``report.md`` (the HTML page shows the same runs from the same fields).

It renders the JSON form (report.json), so a report read back from disk shows as the sweep
wrote it. An answer is shortened here (report.json keeps it, capped at 16 KiB); a failed
run shows the agent's own error instead, never the JSON around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agentd.daemon.model.budget import Unit, amount_text
from agentd.daemon.model.status import TASK_FAILURES
from agentd.daemon.output.figures import number

# How much of an answer report.md quotes: enough to tell what the agent did.
ANSWER_LINES = 6
ANSWER_CHARS = 600
SHOWN_COMMITS = 5  # of a kept branch's, newest first (report.json lists up to 20)


@dataclass(frozen=True)
class AgentRun:
    """An agent task that started, as report.md and report.html both show it."""

    project: str
    task: str
    agent: str
    status: str
    duration_s: float | None
    spend: list[str]  # ["$0.0312", "2,242 tokens"], ["usage unknown: <why>"], [] when not read
    answer: str | None
    error: str | None
    reason: str
    worktree: dict[str, Any] | None

    @property
    def place(self) -> str:
        return f"{self.project} / {self.task}"

    @property
    def spent(self) -> str:
        return ", ".join(self.spend)

    @property
    def failed(self) -> bool:
        return self.status in TASK_FAILURES

    @property
    def headline(self) -> str:
        """A failed run's own error (else its reason); another's answer's first line."""
        if self.failed:
            return self.error or self.reason
        return next((line for line in (self.answer or "").splitlines() if line.strip()), "")


def agent_runs(report: dict[str, Any]) -> list[AgentRun]:
    """Every agent task that started, in the report's order (skipped ones never spoke).
    A field of the wrong type (report.json read back) is left out, not shown as its repr."""
    return [
        AgentRun(
            project=str(project["name"]),
            task=str(task["name"]),
            agent=str(task["agent"]),
            status=str(task.get("status")),
            duration_s=number(task.get("duration_s")),
            spend=usage_parts(task.get("usage")),
            answer=_string(task.get("answer")),
            error=_string(task.get("agent_error")),
            reason=str(task.get("reason") or ""),
            worktree=task["worktree"] if isinstance(task.get("worktree"), dict) else None,
        )
        for project in report["projects"]
        for task in project["tasks"]
        if task.get("agent") and task.get("started_at") and task.get("status") != "skipped"
    ]


def usage_parts(usage: Any) -> list[str]:
    """What an agent run reported spending, in words: its cost and tokens, or why that is
    unknown; none when it was not read (not an agent run, or a report from before)."""
    if not isinstance(usage, dict):
        return []
    if not usage.get("known"):
        return [f"usage unknown: {usage.get('reason')}"]
    parts = []
    for key, unit in (("cost_usd", Unit.USD), ("tokens", Unit.TOKENS)):
        if (amount := number(usage.get(key))) is not None:
            parts.append(amount_text(amount, unit))
    return parts


def spent_text(usage: Any) -> str:
    return ", ".join(usage_parts(usage))


def usage_note(task: dict[str, Any]) -> str:
    """An agent run's spend for a table of tasks (report.md's and the page's): "claude:
    $0.03, 2,242 tokens", or why it is unknown; "" for a task that is no agent run."""
    if not task.get("agent") or task.get("usage") is None:
        return ""
    spent = spent_text(task.get("usage"))
    known = isinstance(task.get("usage"), dict) and task["usage"].get("known")
    return f"{task['agent']}: {spent}" if known else spent


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def shortened(text: str, lines: int = ANSWER_LINES, chars: int = ANSWER_CHARS) -> str:
    """The start of an answer: at most ``lines`` lines and ``chars`` characters, with "…"
    where it was cut."""
    kept = text.strip().splitlines()
    short = "\n".join(kept[:lines])
    cut = len(kept) > lines
    if len(short) > chars:
        short, cut = short[:chars].rstrip(), True
    return short + (" …" if cut else "")


def work_text(worktree: dict[str, Any] | None) -> str:
    """What a kept branch or worktree holds: "branch agentd/... kept: 2 commits, 3 files
    changed, +10 -2"; "" when nothing was kept."""
    if not worktree or worktree.get("kept") in (None, "nothing"):
        return ""
    count = worktree.get("commit_count")
    text = f"{worktree['kept']} {worktree.get('branch')} kept"
    if isinstance(count, int):
        text += f": {count} commit" + ("" if count == 1 else "s")
        stat = worktree.get("diffstat")
        if count and isinstance(stat, dict):
            files = stat.get("files", 0)
            text += f", {files} file" + ("" if files == 1 else "s")
            text += f" changed, +{stat.get('insertions', 0)} -{stat.get('deletions', 0)}"
    return text


def markdown_lines(report: dict[str, Any]) -> list[str]:
    """The "Agents" section: a line per run (agent, status, time, spend, kept work), then
    its error or the start of its answer, fenced as the output tails are: an agent's
    Markdown or HTML shows as the text it is, never rendered by a viewer. None when no
    agent ran."""
    runs = agent_runs(report)
    if not runs:
        return []
    lines = ["", f"## Agents ({len(runs)})", ""]
    for run in runs:
        took = f" ({run.duration_s:.1f}s)" if run.duration_s is not None else ""
        facts = [f"{run.agent}, {run.status}{took}", run.spent, work_text(run.worktree)]
        lines.append(f"- **{_md(run.place)}**: " + "; ".join(f for f in facts if f))
        lines += _commit_lines(run.worktree or {})
        if run.error:
            lines.append(f"  - error: **{_md(run.error)}**")
        if run.answer:
            said = shortened(run.answer)
            fence = fence_for(said)
            lines += ["", f"  {fence}", *(f"  {line}".rstrip() for line in said.split("\n"))]
            lines += [f"  {fence}", ""]
        elif not run.error:
            lines.append("  - no answer found in its output")
    return lines[:-1] if lines[-1] == "" else lines  # the next section brings its own


def fence_for(text: str) -> str:
    """A code fence that ``text`` cannot close: longer than any run of backticks in it."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _commit_lines(worktree: dict[str, Any]) -> list[str]:
    commits = [c for c in worktree.get("commits") or [] if isinstance(c, dict)]
    lines = [
        f"  - `{str(c.get('sha'))[:10]}` {_md(str(c.get('subject')))}"
        for c in commits[:SHOWN_COMMITS]
    ]
    count = worktree.get("commit_count")
    more = (count if isinstance(count, int) else len(commits)) - len(lines)
    if more > 0:
        lines.append(f"  - … and {more} more (git log shows them)")
    return lines


def _md(text: str) -> str:
    return text.replace("\n", " ")
