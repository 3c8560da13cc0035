"""What a person sees of a sweep: live progress on a terminal, and the closing summary.

The sweep calls its observers (``agentd.daemon.model.observer``) from its project threads;
the daemon, whose output is the journal, passes none of these. rich is imported only when
a terminal is there to draw on.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import IO, Any

from agentd.daemon.model.clock import SYSTEM_CLOCK, Clock
from agentd.daemon.model.observer import QuietObserver
from agentd.daemon.model.report import Report
from agentd.daemon.model.results import ProjectResult, TaskResult, tally
from agentd.daemon.model.status import TASK_FAILURES, ProjectStatus, TaskStatus
from agentd.daemon.output.logs import Heard, hand_to_view
from agentd.daemon.output.report import describe_mode, logs_cut, shown_speedup
from agentd.daemon.output.textout import harmless, reader_may_leave

# The do-nothing observer, under the name tests and callers have used for it.
Observer = QuietObserver


class PlainSummary(Observer):
    """Off a terminal: nothing while the sweep runs (the logs say it), plain lines at the end."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def sweep_finished(self, report: Report, run_dir: Path) -> None:
        print_summary(report, run_dir, self.stream, rich=False)


# Warnings whose news the closing summary gives in its own words (a task that failed or
# whose log was cut, a project refused, tasks kept by the budget, the sweep's end): shown
# in the view while it runs, not printed again above the summary.
IN_SUMMARY = frozenset(
    {"task.finish", "task.log_cut", "project.refused", "project.failed"}
    | {"budget.tasks_skipped", "sweep.finish"}
)
FOOTER = 3  # the latest warnings the view shows


class LiveView(Observer):
    """Running projects with their current task, running totals and the latest warnings,
    redrawn in place; records below warning stay off the terminal meanwhile (logs.py)."""

    def __init__(self, stream: IO[str], clock: Clock = SYSTEM_CLOCK) -> None:
        from rich.console import Console

        self.clock = clock
        self.console = Console(file=stream)
        self.lock = threading.Lock()
        self.header = ""
        self.total = 0
        self.running: dict[str, tuple[str, int, int, float]] = {}  # task, index, count, since
        # Projects whose outcome is known, run or not (a failed dependency skips them the
        # moment it fails): never counted as waiting after that.
        self.settled: dict[str, str] = {}
        self.tasks: dict[tuple[str, str], TaskStatus] = {}  # (project, task): how it ended
        self.heard: list[Heard] = []  # while the view is up
        self.live: Any = None
        self.over = False
        # Until the end of the command: the sweep's last record comes after the summary.
        hand_to_view(self._hear)

    def _hear(self, heard: Heard) -> None:
        """A warning or an error: kept for the view while it is up, printed at once before
        it starts; after it, the summary has said what the sweep's own warnings say."""
        with self.lock:
            if self.live is not None and not self.over:
                self.heard.append(heard)
                return
            if self.over and heard.event in IN_SUMMARY:
                return
        _print_heard([heard])

    def sweep_started(self, run_id: str, projects: int, bound: int) -> None:
        import sys

        from rich.live import Live

        mode = f"parallel, at most {bound}" if bound > 1 else "serial"
        self.header = f"agentd sweep {run_id} ({mode})"
        self.total = projects
        # What else writes to a terminal's stderr prints above the view rather than through
        # it; a stderr that is a file keeps what is written to it.
        live = Live(
            self,
            console=self.console,
            refresh_per_second=4,
            transient=True,
            redirect_stderr=sys.stderr.isatty(),
        )
        live.start()
        with self.lock:
            self.live = live

    def project_started(self, name: str, tasks: int) -> None:
        with self.lock:
            self.running[name] = ("", 0, tasks, self.clock.monotonic())

    def task_started(self, project: str, task: str) -> None:
        with self.lock:
            _, index, count, since = self.running.get(project, ("", 0, 0, self.clock.monotonic()))
            self.running[project] = (task, index + 1, count, since)

    def task_finished(self, project: str, result: TaskResult) -> None:
        with self.lock:
            self.tasks[(project, result.name)] = result.status

    def project_finished(self, result: ProjectResult) -> None:
        with self.lock:
            self.running.pop(result.name, None)
            self.settled[result.name] = str(result.status)

    def project_settled(self, result: ProjectResult) -> None:
        with self.lock:
            self.running.pop(result.name, None)
            self.settled[result.name] = str(result.status)

    def sweep_finished(self, report: Report, run_dir: Path) -> None:
        if self.live is not None:
            self.live.stop()
        with self.lock:
            self.over = True
            heard = [h for h in self.heard if h.event not in IN_SUMMARY]
        _print_heard(heard)
        print_summary(report, run_dir, self.console.file, rich=True)

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        with self.lock:
            running = dict(self.running)
            done = len(self.settled)
            skipped = sum(s == ProjectStatus.SKIPPED for s in self.settled.values())
            ended = tally(self.tasks.values())
            heard, warned = self.heard[-FOOTER:], len(self.heard)
        table = Table.grid(padding=(0, 2))
        now = self.clock.monotonic()
        for name, (task, index, count, since) in sorted(running.items()):
            table.add_row(
                Spinner("dots"),
                Text(harmless(name), style="bold"),
                Text(harmless(f"{task} ({index}/{count})") if task else "starting"),
                Text(f"{now - since:.0f}s", style="dim"),
            )
        waiting = self.total - len(running) - done
        totals = Text.assemble(
            ("projects ", "bold"),
            (f"running {len(running)}", "cyan"),
            "  ",
            (f"done {done}" + (f" ({skipped} skipped)" if skipped else ""), "dim"),
            "  ",
            (f"waiting {max(0, waiting)}", "dim"),
            ("    tasks ", "bold"),
            (f"ok {ended.ok}", "green"),
            "  ",
            (f"failed {ended.failed}", "red" if ended.failed else "dim"),
            (f"    warnings {warned}" if warned > FOOTER else "", "yellow"),
        )
        lines = [_heard_text(h, no_wrap=True) for h in heard]
        return Group(Text(self.header, style="bold"), table, totals, *lines)


def _heard_text(heard: Heard, no_wrap: bool = False) -> Any:
    from rich.text import Text

    style = "red" if heard.level >= logging.ERROR else "yellow"
    # Already harmless (logs.py); Text, never markup: a "[" in a reason prints as itself.
    text = Text(heard.line, style=style)
    if no_wrap:
        text.no_wrap, text.overflow = True, "ellipsis"
    return text


def _print_heard(heard: list[Heard]) -> None:
    """Warnings and errors on stderr, where the records would have gone, one line each."""
    if not heard:
        return
    import sys

    from rich.console import Console

    console = Console(file=sys.stderr)
    with reader_may_leave():
        for item in heard:
            console.print(_heard_text(item))


def print_summary(report: Report, run_dir: Path, out: IO[str], rich: bool) -> None:
    """The closing summary: a table on a terminal, plain lines otherwise. A reader that
    left (``| head``) ends the summary, not the sweep, whose exit status stands."""
    with reader_may_leave():
        if rich:
            _rich_summary(report, run_dir, out)
        else:
            _plain_summary(report, run_dir, out)


def _plain_summary(report: Report, run_dir: Path, out: IO[str]) -> None:
    c = report.counts

    def write(text: str) -> None:
        out.write(harmless(text))

    shown = shown_speedup(report.to_dict())
    speedup = f", speedup {shown:.1f}x" if shown else ""
    write(f"sweep {report.run_id}: {report.status} in {report.duration_s:.1f}s{speedup}\n")
    write(
        f"  projects: {c.projects_ok} ok, {c.projects_failed} failed, "
        f"{c.projects_interrupted} interrupted, {c.projects_skipped} skipped; "
        f"tasks: {c.tasks_ok} ok, {c.tasks_failed} failed, "
        f"{c.tasks_interrupted} interrupted, {c.tasks_skipped} skipped\n"
    )
    width = max((len(p.name) for p in report.projects), default=0)
    for project in report.projects:
        write(f"  {project.status:<11} {project.name:<{width}}  {_note(project)}\n")
    if report.failures:
        write("failures:\n")
        for failure in report.failures:
            write(f"  {failure.line()}\n")
    for where, text in logs_cut(report.to_dict()):
        write(f"log cut: {where}: {text}\n")
    for line in _spend_lines(report):
        write(line + "\n")
    write(f"report: {_report_place(run_dir)}\n")
    out.flush()


def _spend_lines(report: Report) -> list[str]:
    """What agents spent in this sweep and where the budget stands, when agents ran."""
    from agentd.daemon.output.spendview import totals_text

    sweep = report.spend.sweep if report.spend else None
    standing = report.budget.standing if report.budget else []
    if not sweep or (not sweep.runs and not standing):
        return []
    return [f"spend: {totals_text(sweep.to_dict())} (this sweep)"] + [
        f"budget: {item.describe()}" for item in standing
    ]


_STYLES = {"ok": "green", "failed": "red", "error": "red", "timeout": "red"}
_STYLES |= {"interrupted": "yellow", "skipped": "dim"}


def _rich_summary(report: Report, run_dir: Path, out: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out)

    title = f"sweep {report.run_id} ({describe_mode(report.mode.to_dict())})"
    table = Table(title=title, title_justify="left")
    for column in ("project", "status", "ok", "failed", "skipped", "time", "note"):
        table.add_column(
            column, justify="right" if column in ("ok", "failed", "skipped", "time") else "left"
        )
    for project in report.projects:
        took = sum(t.duration_s or 0 for t in project.tasks)
        n = tally(t.status for t in project.tasks)
        # Names and reasons are Text, never markup: a "[" in a path must print as itself.
        # A project that ran no task (a dependency failed) has no task counts: the
        # report lists no tasks of it either, and zeros would say they were counted.
        counted = [str(n.ok), str(n.failed), str(n.skipped)] if project.tasks else ["", "", ""]
        table.add_row(
            Text(harmless(project.name)),
            Text(project.status, style=_STYLES.get(project.status, "")),
            *counted,
            f"{took:.1f}s" if project.tasks else "",
            Text(harmless(_note(project))),
        )
    console.print(table)
    status = report.status
    console.print(
        Text.assemble(
            (status, f"bold {_STYLES.get(status, '')}"),
            f" in {report.duration_s:.1f}s; {len(report.failures)} failure(s)"
            + (f"; speedup {shown:.1f}x" if (shown := shown_speedup(report.to_dict())) else ""),
        )
    )
    for failure in report.failures:
        console.print(
            Text.assemble(
                "  ",
                (harmless(failure.place), "red"),
                harmless(f": {failure.status}: {failure.message}"),
            )
        )
    for where, text in logs_cut(report.to_dict()):
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


def _note(project: ProjectResult) -> str:
    bad = [t for t in project.tasks if t.status in TASK_FAILURES]
    if bad:
        return "; ".join(f"{t.name}: {t.status} ({t.reason})" for t in bad)
    if project.reason:
        return project.reason
    ran = [t for t in project.tasks if t.status is TaskStatus.OK]
    note = f"{len(ran)} task(s) ok" if ran else ""
    budget = [t.name for t in project.tasks if t.kept_by_budget]
    if budget:
        note += ("; " if note else "") + f"skipped for the budget: {', '.join(budget)}"
    return note
