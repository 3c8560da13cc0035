"""The sweep report (SPEC section 6): built, written, and rendered for people.

``report.json`` is the record; ``report.md`` is the same content for people. Both are
written atomically, so ``agentd report`` never shows half a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentd.daemon.model.results import (
    PROJECT_FAILURES,
    TASK_FAILURES,
    ProjectResult,
    failure_place,
)
from agentd.daemon.output import spendview
from agentd.daemon.output.textout import harmless
from agentd.daemon.sweep.budget import amount_text
from agentd.daemon.tasks.tasklog import LogCut
from agentd.state.files import write_atomic


def counts(projects: Iterable[ProjectResult]) -> dict[str, int]:
    out = dict.fromkeys(
        (
            "projects_ok",
            "projects_failed",
            "projects_interrupted",
            "projects_skipped",
            "tasks_ok",
            "tasks_failed",
            "tasks_interrupted",
            "tasks_skipped",
        ),
        0,
    )
    for project in projects:
        if project.status in PROJECT_FAILURES:
            out["projects_failed"] += 1
        elif project.status in ("ok", "interrupted", "skipped"):
            out[f"projects_{project.status}"] += 1
        for task in project.tasks:
            if task.status == "interrupted":
                out["tasks_interrupted"] += 1
            elif task.status in TASK_FAILURES:
                out["tasks_failed"] += 1
            elif task.status in ("ok", "skipped"):
                out[f"tasks_{task.status}"] += 1
    return out


def overall_status(interrupted: bool, failures: list[dict[str, Any]]) -> str:
    if interrupted:
        return "interrupted"
    return "failed" if failures else "ok"


def write_report(run_dir: Path, report: dict[str, Any]) -> None:
    # report.json last: its presence is what marks a run as finished.
    write_atomic(run_dir / "report.md", render_markdown(report).encode())
    write_atomic(run_dir / "report.json", json.dumps(report, indent=2).encode() + b"\n")


def summary_of(report: dict[str, Any]) -> dict[str, Any]:
    """The part of a report kept in the state store's run history."""
    keys = ("run_id", "trigger", "date", "started_at", "finished_at", "status", "counts", "mode")
    return {key: report.get(key) for key in keys}


# -- Markdown ------------------------------------------------------------------------------


def describe_mode(mode: dict[str, Any]) -> str:
    """The report's ``mode`` in words, for every place that shows it."""
    if mode["project_parallelism"]:
        return f"parallel, at most {mode['max_parallel_projects']} projects at once"
    return "serial, one project at a time"


def render_markdown(report: dict[str, Any]) -> str:
    c = report["counts"]
    parallel = describe_mode(report["mode"])
    lines = [
        f"# agentd sweep {report['run_id']}",
        "",
        f"- status: **{report['status']}** (trigger: {report['trigger']}, date: {report['date']})",
        f"- started {report['started_at']}, finished {report['finished_at']}"
        f" ({report.get('duration_s', 0):.1f}s)",
        f"- mode: {parallel}"
        + (
            f"; speedup {report['speedup']:.1f}x (task time / wall time)"
            if report.get("speedup")
            else ""
        ),
        f"- projects: {c['projects_ok']} ok, {c['projects_failed']} failed,"
        f" {c['projects_interrupted']} interrupted, {c['projects_skipped']} skipped",
        f"- tasks: {c['tasks_ok']} ok, {c['tasks_failed']} failed,"
        f" {c['tasks_interrupted']} interrupted, {c['tasks_skipped']} skipped",
    ]
    for error in report.get("config_errors", []):
        lines.append(f"- configuration error: {error}")
    failures = report["failures"]
    lines += ["", f"## Failures ({len(failures)})", ""]
    if not failures:
        lines.append("None.")
    tails = {
        (p["name"], t["name"]): t.get("output_tail", "")
        for p in report["projects"]
        for t in p["tasks"]
    }
    for i, failure in enumerate(failures, 1):
        where = failure_place(failure, " / ")
        lines.append(f"{i}. **{_md(where)}**: {failure['status']}: {_md(failure['message'])}")
        tail = tails.get((failure["project"], failure["task"]), "")
        if tail:
            fence = "````" if "```" in tail else "```"
            lines += [
                "",
                f"   {fence}",
                *[f"   {line}" for line in tail.splitlines()],
                f"   {fence}",
            ]
    cut = logs_cut(report)
    if cut:
        lines += ["", f"## Logs cut ({len(cut)})", ""]
        lines += [f"- **{_md(where)}**: {_md(text)}" for where, text in cut]
    lines += spendview.markdown_lines(report)
    if report.get("alerts"):
        lines += ["", "## Alerts", ""]
    for alert in report.get("alerts", []):
        outcome = "sent" if alert["ok"] else "FAILED"
        lines.append(f"- {alert['via']}: {outcome}: {_md(alert['detail'])}")
    lines += ["", "## Projects", "", "| project | status | tasks ok / failed / skipped | note |"]
    lines.append("|---|---|---|---|")
    for project in report["projects"]:
        tasks = project["tasks"]
        ok = sum(t["status"] == "ok" for t in tasks)
        bad = sum(t["status"] in TASK_FAILURES for t in tasks)
        skipped = sum(t["status"] == "skipped" for t in tasks)
        lines.append(
            f"| {_md(project['name'])} | {project['status']} | {ok} / {bad} / {skipped} "
            f"| {_md(project.get('reason') or '')} |"
        )
    for project in report["projects"]:
        if not project["tasks"]:
            continue
        lines += [
            "",
            f"### {_md(project['name'])}",
            "",
            "| task | status | exit | time | log / reason |",
        ]
        lines.append("|---|---|---|---|---|")
        for task in project["tasks"]:
            took = f"{task['duration_s']:.1f}s" if task.get("duration_s") is not None else ""
            code = "" if task.get("exit_code") is None else str(task["exit_code"])
            note = task.get("reason") or ""
            if task.get("log"):
                note = f"`{task['log']}` {note}".strip()
            note = "; ".join(x for x in (note, _usage_note(task), _tree_note(task)) if x)
            lines.append(
                f"| {_md(task['name'])} | {task['status']} | {code} | {took} | {_md(note)} |"
            )
    # Task output, agent text and git messages are not ours: read with `cat` or shown by
    # `agentd report`, none of it may act on the reader's terminal.
    return harmless("\n".join(lines) + "\n")


def logs_cut(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(project / task, what its log lacks and where it is) for every log not kept whole."""
    out = []
    for project in report["projects"]:
        for task in project["tasks"]:
            cut = task.get("log_cut")
            if cut:
                text = LogCut(**cut).reason() + (f" (`{task['log']}`)" if task.get("log") else "")
                out.append((f"{project['name']} / {task['name']}", text))
    return out


def _usage_note(task: dict[str, Any]) -> str:
    usage = task.get("usage")
    if not task.get("agent") or usage is None:
        return ""
    if not usage.get("known"):
        return f"usage unknown: {usage.get('reason')}"
    parts = []
    if usage.get("cost_usd") is not None:
        parts.append(amount_text(usage["cost_usd"], "usd"))
    if usage.get("tokens") is not None:
        parts.append(amount_text(usage["tokens"], "tokens"))
    return f"{task['agent']}: " + ", ".join(parts)


def _tree_note(task: dict[str, Any]) -> str:
    tree = task.get("worktree")
    return f"worktree: {tree.get('message')}" if tree else ""


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
