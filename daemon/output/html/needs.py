"""What needs someone, as report.html's "Needs you" section shows it: every failure (the
first few in full, the rest as rows), the projects newly failing and recovered, tasks
skipped for the budget or ``require_clean``, kept worktrees and branches with the commits
an agent left, agent runs with usage unknown. Plain values, never markup: every string
may be a task's output or a project's name, and the template escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentd.daemon.model.results import BUDGET, failure_place
from agentd.daemon.output.html.view import Link, log_link, text
from agentd.daemon.output.report import command_text

# A failure's log as the page quotes it: its last lines (report.json keeps ~the tail).
TAIL_LINES = 30
# Failures shown in full (message, command, the last lines of the log), by project and
# task name; the rest as rows of a table (its status, reason, last line and log), so a
# night of 30 failures reaches its timeline in a screen or two and still lists them all.
FAILURES_IN_FULL = 8
# The quoted lines of the failures shown in full, together, in characters. Each keeps at
# least TAIL_FLOOR characters, and its log is a link away.
TAILS_CHARS = 80_000
LAST_LINE_CHARS = 160  # a compact row's last line of output
TAIL_FLOOR = 240
TAIL_CUT = "…\n"  # lines left out above: the log, a link below, has them
REQUIRE_CLEAN = "require_clean: "


@dataclass(frozen=True)
class FailureView:
    place: str
    project: str  # "" for the sweep's own failure (it failed to start, a report not written)
    task: str
    status: str
    message: str
    command: str
    tail: str
    log: Link | None
    # An agent's own words on why it failed: the headline, its raw output (a JSON dump,
    # mostly) folded away below it.
    agent_error: str
    last_line: str  # the log's last line that says something (a compact row quotes it)


@dataclass(frozen=True)
class Skip:
    place: str
    reason: str


@dataclass(frozen=True)
class Kept:
    place: str
    kept: str  # "branch" | "worktree"
    branch: str
    path: str
    message: str
    commits: list[tuple[str, str]]  # (short sha, subject), newest first
    diffstat: str  # "3 files, +40 -2", or ""


@dataclass(frozen=True)
class NeedsYou:
    failures: list[FailureView]  # in full: the first FAILURES_IN_FULL by place
    more_failures: list[FailureView]  # the others, as a table's rows (no tail)
    newly_failing: list[str]
    recovered: list[str]
    skipped: list[Skip]
    kept: list[Kept]
    usage_unknown: list[Skip]

    @property
    def failure_count(self) -> int:
        return len(self.failures) + len(self.more_failures)

    @property
    def empty(self) -> bool:
        return not (
            self.failures or self.newly_failing or self.skipped or self.kept or self.usage_unknown
        )


def _place_key(failure: dict[str, Any]) -> tuple[str, str]:
    """By project, then task; the sweep's own failures (no project) first."""
    return (text(failure.get("project")), text(failure.get("task")))


def _failure(failure: dict[str, Any], task: dict[str, Any], room: int) -> FailureView:
    """One failure; ``room``: characters of its tail to quote (0: none, a compact row)."""
    argv = task.get("argv")
    tail = text(task.get("output_tail"))
    return FailureView(
        place=text(failure_place(failure, " / ")),
        project=text(failure.get("project")),
        task=text(failure.get("task")),
        status=text(failure.get("status")),
        message=text(failure.get("message")),
        command=text(_command(argv)) if isinstance(argv, list) and room else "",
        tail=last_lines(tail, room) if room else "",
        log=log_link(task),
        agent_error=text(task.get("agent_error")),
        last_line=last_line(tail),
    )


def last_line(tail: str) -> str:
    """The last line of ``tail`` with something on it, cut to LAST_LINE_CHARS."""
    line = next((x.strip() for x in reversed(tail.splitlines()) if x.strip()), "")
    return line if len(line) <= LAST_LINE_CHARS else line[: LAST_LINE_CHARS - 1] + "…"


def needs_you(report: dict[str, Any], changes: Any) -> NeedsYou:
    tasks: dict[tuple[Any, Any], dict[str, Any]] = {
        (p["name"], t["name"]): t for p in report["projects"] for t in p["tasks"]
    }
    ordered = sorted(report["failures"], key=_place_key)
    full, more = ordered[:FAILURES_IN_FULL], ordered[FAILURES_IN_FULL:]
    room = max(TAIL_FLOOR, TAILS_CHARS // max(1, len(full)))

    def task_of(failure: dict[str, Any]) -> dict[str, Any]:
        return tasks.get((failure.get("project"), failure.get("task")), {})

    failures = [_failure(f, task_of(f), room) for f in full]
    more_failures = [_failure(f, task_of(f), 0) for f in more]
    skipped, kept, unknown = [], [], []
    for project in report["projects"]:
        reason = text(project.get("reason"))
        if project.get("status") == "skipped" and reason.startswith(REQUIRE_CLEAN):
            skipped.append(Skip(text(project["name"]), reason))
        for task in project["tasks"]:
            place = text(f"{project['name']} / {task['name']}")
            if task.get("status") == "skipped" and text(task.get("reason")).startswith(BUDGET):
                skipped.append(Skip(place, text(task.get("reason"))))
            tree = task.get("worktree")
            if isinstance(tree, dict) and tree.get("kept") in ("branch", "worktree"):
                kept.append(_kept(place, tree))
            usage = task.get("usage")
            if task.get("agent") and isinstance(usage, dict) and not usage.get("known"):
                unknown.append(Skip(place, text(usage.get("reason") or "no usage report")))
    return NeedsYou(
        failures=failures,
        more_failures=more_failures,
        newly_failing=[text(n) for n in _names(changes, "newly_failing")],
        recovered=[text(n) for n in _names(changes, "recovered")],
        skipped=skipped,
        kept=kept,
        usage_unknown=unknown,
    )


def last_lines(tail: str, room: int) -> str:
    """The last TAIL_LINES lines of ``tail`` in at most ``room`` characters, cut at a line
    start (a line longer than ``room`` keeps its end), saying when lines were left out."""
    every = tail.splitlines()
    kept = "\n".join(every[-TAIL_LINES:])
    if len(kept) <= room:
        return kept if len(every) <= TAIL_LINES else TAIL_CUT + kept
    end = kept[-room:]
    start = end.find("\n") + 1
    return TAIL_CUT + (end[start:] if 0 < start < len(end) else end)


def _names(changes: Any, key: str) -> list[Any]:
    """A list of ``changes`` (report.json's dict, or the Changes value), or none."""
    found = changes.get(key) if isinstance(changes, dict) else getattr(changes, key, None)
    return list(found) if isinstance(found, list | tuple) else []


def _command(argv: list[Any]) -> str:
    return command_text([str(a) for a in argv])


def _kept(place: str, tree: dict[str, Any]) -> Kept:
    commits = tree.get("commits")
    listed: list[tuple[str, str]] = []
    if isinstance(commits, list):
        for commit in commits:
            if isinstance(commit, dict):
                listed.append((text(commit.get("sha"))[:10], text(commit.get("subject"))))
    stat = tree.get("diffstat")
    diffstat = ""
    if isinstance(stat, dict):
        files = int(stat.get("files") or 0)
        diffstat = (
            f"{files} file{'' if files == 1 else 's'} changed, "
            f"+{int(stat.get('insertions') or 0)} -{int(stat.get('deletions') or 0)}"
        )
    return Kept(
        place=place,
        kept=text(tree.get("kept")),
        branch=text(tree.get("branch")),
        path=text(tree.get("path")),
        message=text(tree.get("message")),
        commits=listed,
        diffstat=diffstat,
    )
