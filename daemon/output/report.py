"""The sweep report (SPEC section 6): written, and rendered for people.

``report.json`` is the record; ``report.md`` is the same content for people. Both are
written atomically, so ``agentd report`` never shows half a file. The Markdown is rendered
from the JSON form, the one ``agentd report`` reads back, so both show the same text.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentd.daemon.model.observer import QuietObserver, ReportNotWritten, SweepObserver
from agentd.daemon.model.report import Report
from agentd.daemon.model.results import failure_place, tally
from agentd.daemon.output import agentview, spendview
from agentd.daemon.output.textout import harmless
from agentd.daemon.tasks.tasklog import LogCut
from agentd.state import StateError
from agentd.state.files import write_atomic

# The command a failed task ran, as report.md shows it (report.json keeps it whole).
COMMAND_CHARS = 200
HTML_FILE = "report.html"

if TYPE_CHECKING:
    from agentd.config import Config
    from agentd.config.model import NotifySection
    from agentd.daemon.model.clock import Clock
    from agentd.daemon.output.metrics import MetricsFile
    from agentd.state import StateStore


def write_report(run_dir: Path, report: Report) -> None:
    """report.md, then report.json; OSError if either cannot be written."""
    write_document(run_dir, report.to_dict())


def write_document(run_dir: Path, doc: dict[str, Any]) -> None:
    """A report in its JSON form (as report.json holds it) to disk, in both forms."""
    # report.json last: its presence is what marks a run as finished.
    write_atomic(run_dir / "report.md", render_markdown(doc).encode())
    write_atomic(run_dir / "report.json", json.dumps(doc, indent=2).encode() + b"\n")


def read_document(path: Path) -> Any:
    """A report.json read back: OSError when it cannot be read, ValueError when it is not
    JSON, or holds NaN or an infinity (Python's reader takes them; no agentd writes them,
    and a view's arithmetic on them fails), or nests deeper than the reader goes."""
    try:
        return json.loads(path.read_text(), parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply to be a report") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON has (nor one a report holds)")


class ReportWriter(QuietObserver):
    """Puts the finished report on disk; the sweep fails if it cannot (ReportNotWritten).
    report.html first, from ``store``'s nights and ``config`` when given: a page that cannot
    be made is one more failure in report.md and report.json, never a reason to lose them."""

    def __init__(self, store: StateStore | None = None, config: Config | None = None) -> None:
        self.store = store
        self.config = config

    def sweep_finished(self, report: Report, run_dir: Path) -> None:
        write_page(report, run_dir, self.store, self.config)
        try:
            write_report(run_dir, report)
        except OSError as exc:
            # Imported here: `agentd report` renders with this module and starts faster
            # without structlog (tests/cli/test_startup_imports.py).
            from agentd.slog import structlog

            structlog.get_logger("agentd.sweep").error(
                "report.write_failed", run_id=report.run_id, path=str(run_dir), error=str(exc)
            )
            raise ReportNotWritten(f"report not written: {exc.strerror or exc}") from exc


def write_page(
    report: Report, run_dir: Path, store: StateStore | None, config: Config | None
) -> None:
    """``runs/<run_id>/report.html``; a failure is logged and added to ``report``."""
    from agentd.slog import structlog  # as above: not for `agentd report`

    slog = structlog.get_logger("agentd.sweep").bind(run_id=report.run_id)
    try:
        from agentd.daemon.output.html.page import render_html, sweep_history

        # The nights the sweep's end built with its changes, when it did: read and built
        # again here, they would cost the step a third of its time (BENCHMARKS.md).
        history = report.history
        if history is None and store is not None:
            try:
                history = sweep_history(store, config, report.date)
            except StateError as exc:  # the page without its nights still says the night
                slog.warning("report.history_unread", error=str(exc))
        page = render_html(report, history, config, run_dir)
        write_atomic(run_dir / HTML_FILE, page.encode())
    except Exception as exc:  # noqa: BLE001 - report.md and report.json must still be written
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc)
        slog.warning("report.html_failed", path=str(run_dir / HTML_FILE), error=why)
        report.fail(f"{HTML_FILE} not written: {why}")


def finishing(
    notify: NotifySection,
    environ: Mapping[str, str],
    clock: Clock,
    metrics: MetricsFile | None = None,
    *,
    store: StateStore,
    config: Config | None = None,
) -> list[SweepObserver]:
    """What every sweep's end needs, in order: the report on disk, the metrics file, the
    dead-man's switch's pings (which hear the start too, and read the history in
    ``store``), then the alerts (which point to the report and are added to it)."""
    observers: list[SweepObserver] = [ReportWriter(store, config)]
    if metrics is not None:
        from agentd.daemon.output.metrics import MetricsWriter

        observers.append(MetricsWriter(metrics))
    if notify.ping_url is not None:
        from agentd.daemon.output.ping import Pinger

        observers.append(Pinger(notify.ping_url, notify.timeout, store, clock))
    if notify.configured:  # the common case skips loading urllib and friends
        from agentd.daemon.output.alerts import AlertSender

        observers.append(AlertSender(notify, environ, clock))
    return observers


# -- Markdown ------------------------------------------------------------------------------


def describe_mode(mode: dict[str, Any]) -> str:
    """The report's ``mode`` in words, for every place that shows it."""
    if mode["project_parallelism"]:
        return f"parallel, at most {mode['max_parallel_projects']} projects at once"
    return "serial, one project at a time"


# Speedup is shown when at least two projects ran tasks for this many seconds in all: a
# tiny sweep's ratio measures agentd's own start-up, not what parallel projects bought.
SPEEDUP_MIN_TASK_S = 5.0


def shown_speedup(report: dict[str, Any]) -> float | None:
    """The report's ``speedup`` where people read it, or None when the sweep is too small
    for it to mean anything (report.json keeps the value either way)."""
    ran = [p for p in report["projects"] if any(t.get("duration_s") for t in p["tasks"])]
    work = sum(t.get("duration_s") or 0.0 for p in ran for t in p["tasks"])
    if len(ran) < 2 or work < SPEEDUP_MIN_TASK_S:
        return None
    speedup: float | None = report.get("speedup")
    return speedup


def render_markdown(report: dict[str, Any]) -> str:
    c = report["counts"]
    parallel = describe_mode(report["mode"])
    lines = [
        f"# agentd sweep {report['run_id']}",
        "",
        f"- status: **{report['status']}** (trigger: {report['trigger']}, date: {report['date']})",
        *_change_lines(report),
        f"- started {report['started_at']}, finished {report['finished_at']}"
        f" ({report.get('duration_s', 0):.1f}s)"
        + (f" on host {_md(str(report['host']))}" if report.get("host") else ""),
        f"- mode: {parallel}"
        + (
            f"; speedup {speedup:.1f}x (task time / wall time)"
            if (speedup := shown_speedup(report))
            else ""
        ),
        f"- projects: {c['projects_ok']} ok, {c['projects_failed']} failed,"
        f" {c['projects_interrupted']} interrupted, {c['projects_skipped']} skipped",
        f"- tasks: {c['tasks_ok']} ok, {c['tasks_failed']} failed,"
        f" {c['tasks_interrupted']} interrupted, {c['tasks_skipped']} skipped",
    ]
    if report.get("run_dir"):
        lines.append(f"- run directory: {_code(report['run_dir'])} (the task logs below are in it)")
    for error in report.get("config_errors", []):
        lines.append(f"- configuration error: {error}")
    lines += _failure_lines(report)
    cut = logs_cut(report)
    if cut:
        lines += ["", f"## Logs cut ({len(cut)})", ""]
        lines += [f"- **{_md(where)}**: {_md(text)}" for where, text in cut]
    lines += agentview.markdown_lines(report)
    lines += spendview.markdown_lines(report)
    if report.get("alerts"):
        lines += ["", "## Alerts", ""]
    for alert in report.get("alerts", []):
        outcome = "sent" if alert["ok"] else "FAILED"
        lines.append(f"- {alert['via']}: {outcome}: {_md(alert['detail'])}")
    lines += _project_lines(report)
    # Task output, agent text and git messages are not ours: read with `cat` or shown by
    # `agentd report`, none of it may act on the reader's terminal.
    return harmless("\n".join(lines) + "\n")


def _change_lines(report: dict[str, Any]) -> list[str]:
    """Projects whose standing changed since the previous night they ran (report.json's
    ``changes``), named only when there are some."""
    changes = report.get("changes")
    if not isinstance(changes, dict):
        return []  # a report from before the nights were compared
    return [
        f"- {label}: {', '.join(f'**{_md(str(name))}**' for name in names)}"
        for label, names in (
            ("Newly failing", changes.get("newly_failing")),
            ("Recovered", changes.get("recovered")),
        )
        if isinstance(names, list) and names
    ]


def _failure_lines(report: dict[str, Any]) -> list[str]:
    """The failures, each with the end of its output when a task has one."""
    lines: list[str] = []
    failures = report["failures"]
    lines += ["", f"## Failures ({len(failures)})", ""]
    if not failures:
        lines.append("None.")
    tasks = {(p["name"], t["name"]): t for p in report["projects"] for t in p["tasks"]}
    for i, failure in enumerate(failures, 1):
        where = failure_place(failure, " / ")
        lines.append(f"{i}. **{_md(where)}**: {failure['status']}: {_md(failure['message'])}")
        task = tasks.get((failure["project"], failure["task"]), {})
        if task.get("argv"):
            lines.append(f"   - command: {_code(command_text(task['argv']))}")
        if task.get("log_path"):
            lines.append(f"   - log: {_code(task['log_path'])}")
        tail = task.get("output_tail", "")
        if tail:
            fence = agentview.fence_for(tail)
            lines += [
                "",
                f"   {fence}",
                *[f"   {line}" for line in tail.splitlines()],
                f"   {fence}",
            ]
    return lines


def _project_lines(report: dict[str, Any]) -> list[str]:
    """A row per project, then a table of its tasks."""
    lines: list[str] = []
    lines += ["", "## Projects", "", "| project | status | tasks ok / failed / skipped | note |"]
    lines.append("|---|---|---|---|")
    for project in report["projects"]:
        n = tally(t["status"] for t in project["tasks"])
        lines.append(
            f"| {_md(project['name'])} | {project['status']} | {n.ok} / {n.failed} / {n.skipped} "
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
            note = "; ".join(x for x in (note, agentview.usage_note(task), _tree_note(task)) if x)
            lines.append(
                f"| {_md(task['name'])} | {task['status']} | {code} | {took} | {_md(note)} |"
            )
    return lines


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


def _tree_note(task: dict[str, Any]) -> str:
    tree = task.get("worktree")
    return f"worktree: {tree.get('message')}" if tree else ""


def command_text(argv: list[str], limit: int = COMMAND_CHARS) -> str:
    """An argv as a shell would take it, on one line and at most ``limit`` characters: a
    prompt can run to pages, and report.json has it whole."""
    text = shlex.join(argv).replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code(text: str) -> str:
    """Inline code that survives backticks inside it (CommonMark: a longer fence)."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
