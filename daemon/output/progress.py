"""What a person sees of a sweep: live progress on a terminal, and the closing summary.

The executor calls an Observer from its project threads; the plain Observer does nothing,
so the daemon (whose output is the journal) pays nothing for it. rich is imported only when
a terminal is there to draw on.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from agentd.daemon.model.results import (
    BUDGET,
    TASK_FAILURES,
    ProjectResult,
    TaskResult,
    failure_place,
)
from agentd.daemon.output.report import describe_mode, logs_cut
from agentd.daemon.output.textout import harmless, reader_may_leave

if TYPE_CHECKING:
    from agentd.daemon.sweep.selection import Planned, Selection


class Observer:
    """Progress callbacks; every method may be called from any thread."""

    def sweep_started(self, run_id: str, selection: Selection, bound: int) -> None: ...
    def project_started(self, name: str, planned: Planned) -> None: ...
    def task_started(self, project: str, task: str) -> None: ...
    def task_finished(self, project: str, result: TaskResult) -> None: ...
    def project_finished(self, result: ProjectResult) -> None: ...
    def sweep_finished(self, report: dict[str, Any], run_dir: Path) -> None: ...


class PlainSummary(Observer):
    """Off a terminal: nothing while the sweep runs (the logs say it), plain lines at the end."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def sweep_finished(self, report: dict[str, Any], run_dir: Path) -> None:
        print_summary(report, run_dir, self.stream, rich=False)


class LiveView(Observer):
    """Running projects with their current task, and running totals, redrawn in place."""

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console

        self.console = Console(file=stream)
        self.lock = threading.Lock()
        self.header = ""
        self.total = 0
        self.running: dict[str, tuple[str, int, int, float]] = {}  # task, index, count, since
        self.finished: dict[str, int] = {"ok": 0, "failed": 0, "other": 0}
        self.live: Any = None

    def sweep_started(self, run_id: str, selection: Selection, bound: int) -> None:
        from rich.live import Live

        mode = f"parallel, at most {bound}" if bound > 1 else "serial"
        self.header = f"agentd sweep {run_id} ({mode})"
        self.total = len(selection.run)
        self.live = Live(
            self, console=self.console, refresh_per_second=4, transient=True, redirect_stderr=True
        )
        self.live.start()

    def project_started(self, name: str, planned: Planned) -> None:
        with self.lock:
            self.running[name] = ("", 0, len(planned.tasks), time.monotonic())

    def task_started(self, project: str, task: str) -> None:
        with self.lock:
            _, index, count, since = self.running.get(project, ("", 0, 0, time.monotonic()))
            self.running[project] = (task, index + 1, count, since)

    def project_finished(self, result: ProjectResult) -> None:
        with self.lock:
            self.running.pop(result.name, None)
            key = result.status if result.status in ("ok", "failed") else "other"
            self.finished[key] += 1

    def sweep_finished(self, report: dict[str, Any], run_dir: Path) -> None:
        if self.live is not None:
            self.live.stop()
        print_summary(report, run_dir, self.console.file, rich=True)

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        with self.lock:
            running = dict(self.running)
            finished = dict(self.finished)
        table = Table.grid(padding=(0, 2))
        now = time.monotonic()
        for name, (task, index, count, since) in sorted(running.items()):
            table.add_row(
                Spinner("dots"),
                Text(harmless(name), style="bold"),
                Text(harmless(f"{task} ({index}/{count})") if task else "starting"),
                Text(f"{now - since:.0f}s", style="dim"),
            )
        waiting = self.total - len(running) - sum(finished.values())
        totals = Text.assemble(
            (f"running {len(running)}", "cyan"),
            "  ",
            (f"ok {finished['ok']}", "green"),
            "  ",
            (f"failed {finished['failed']}", "red" if finished["failed"] else "dim"),
            "  ",
            (f"waiting {max(0, waiting)}", "dim"),
        )
        return Group(Text(self.header, style="bold"), table, totals)


def print_summary(report: dict[str, Any], run_dir: Path, out: IO[str], rich: bool) -> None:
    """The closing summary: a table on a terminal, plain lines otherwise. A reader that
    left (``| head``) ends the summary, not the sweep, whose exit status stands."""
    with reader_may_leave():
        _print_summary(report, run_dir, out, rich)


def _print_summary(report: dict[str, Any], run_dir: Path, out: IO[str], rich: bool) -> None:
    if rich:
        _rich_summary(report, run_dir, out)
        return
    c = report["counts"]

    def write(text: str) -> None:
        out.write(harmless(text))

    speedup = f", speedup {report['speedup']:.1f}x" if report.get("speedup") else ""
    write(f"sweep {report['run_id']}: {report['status']} in {report['duration_s']:.1f}s{speedup}\n")
    write(
        f"  projects: {c['projects_ok']} ok, {c['projects_failed']} failed, "
        f"{c['projects_interrupted']} interrupted, {c['projects_skipped']} skipped; "
        f"tasks: {c['tasks_ok']} ok, {c['tasks_failed']} failed, "
        f"{c['tasks_interrupted']} interrupted, {c['tasks_skipped']} skipped\n"
    )
    width = max((len(p["name"]) for p in report["projects"]), default=0)
    for project in report["projects"]:
        write(f"  {project['status']:<11} {project['name']:<{width}}  {_note(project)}\n")
    if report["failures"]:
        write("failures:\n")
        for failure in report["failures"]:
            where = failure_place(failure)
            write(f"  {where}: {failure['status']}: {failure['message']}\n")
    for where, text in logs_cut(report):
        write(f"log cut: {where}: {text}\n")
    for line in _spend_lines(report):
        write(line + "\n")
    write(f"report: {_report_place(run_dir)}\n")
    out.flush()


def _spend_lines(report: dict[str, Any]) -> list[str]:
    """What agents spent in this sweep and where the budget stands, when agents ran."""
    from agentd.daemon.output.spendview import totals_text
    from agentd.daemon.sweep.budget import describe

    spend = report.get("spend") or {}
    sweep = spend.get("sweep")
    standing = (report.get("budget") or {}).get("standing", [])
    if not sweep or (not sweep["runs"] and not standing):
        return []
    return [f"spend: {totals_text(sweep)} (this sweep)"] + [
        f"budget: {describe(item)}" for item in standing
    ]


_STYLES = {"ok": "green", "failed": "red", "error": "red", "timeout": "red"}
_STYLES |= {"interrupted": "yellow", "skipped": "dim"}


def _rich_summary(report: dict[str, Any], run_dir: Path, out: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out)

    title = f"sweep {report['run_id']} ({describe_mode(report['mode'])})"
    table = Table(title=title, title_justify="left")
    for column in ("project", "status", "ok", "failed", "skipped", "time", "note"):
        table.add_column(
            column, justify="right" if column in ("ok", "failed", "skipped", "time") else "left"
        )
    for project in report["projects"]:
        tasks = project["tasks"]
        took = sum(t.get("duration_s") or 0 for t in tasks)
        # Names and reasons are Text, never markup: a "[" in a path must print as itself.
        table.add_row(
            Text(harmless(project["name"])),
            Text(project["status"], style=_STYLES.get(project["status"], "")),
            str(sum(t["status"] == "ok" for t in tasks)),
            str(sum(t["status"] in TASK_FAILURES for t in tasks)),
            str(sum(t["status"] == "skipped" for t in tasks)),
            f"{took:.1f}s" if tasks else "",
            Text(harmless(_note(project))),
        )
    console.print(table)
    status = report["status"]
    console.print(
        Text.assemble(
            (status, f"bold {_STYLES.get(status, '')}"),
            f" in {report['duration_s']:.1f}s; {len(report['failures'])} failure(s)"
            + (f"; speedup {report['speedup']:.1f}x" if report.get("speedup") else ""),
        )
    )
    for failure in report["failures"]:
        where = failure_place(failure)
        console.print(
            Text.assemble(
                "  ",
                (harmless(where), "red"),
                harmless(f": {failure['status']}: {failure['message']}"),
            )
        )
    for where, text in logs_cut(report):
        console.print(
            Text.assemble("log cut: ", (harmless(where), "yellow"), harmless(f": {text}"))
        )
    for line in _spend_lines(report):
        console.print(Text(harmless(line)))
    console.print(Text(harmless(f"report: {_report_place(run_dir)}")))


def _report_place(run_dir: Path) -> str:
    """Where the report is; never the name of a file that could not be written."""
    path = run_dir / "report.md"
    if path.exists():
        return str(path)
    return f"not written (see the failures above; {run_dir} has what could be kept)"


def _note(project: dict[str, Any]) -> str:
    bad = [t for t in project["tasks"] if t["status"] in TASK_FAILURES]
    if bad:
        return "; ".join(f"{t['name']}: {t['status']} ({t['reason']})" for t in bad)
    if project.get("reason"):
        return str(project["reason"])
    ran = [t for t in project["tasks"] if t["status"] == "ok"]
    note = f"{len(ran)} task(s) ok" if ran else ""
    budget = [t["name"] for t in project["tasks"] if t["reason"].startswith(BUDGET)]
    if budget:
        note += ("; " if note else "") + f"skipped for the budget: {', '.join(budget)}"
    return note
