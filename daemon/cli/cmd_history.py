"""``agentd history``: the projects x nights grid, on a terminal or as JSON.

A read command: it works from the state alone when the configuration does not load (the
projects are then those the nights show, and gaps are told apart only if the file's
``[schedule]`` can still be read). Every cell has a symbol of its own, so the grid reads
the same without colour (a pipe, a mail from cron); colour and rich's table are for a
terminal only, which keeps rich out of a piped command's start-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from agentd.config import Config
from agentd.daemon.cli.exits import EXIT_OK, UsageError
from agentd.daemon.cli.setup import open_store, read_setup
from agentd.daemon.model.history import (
    MISSED,
    NONE_DUE,
    SKIPPED,
    Changes,
    History,
    Night,
    NightCell,
    ProjectHistory,
    Schedule,
    build_history,
    changes,
)
from agentd.daemon.output.textout import harmless, reader_may_leave

MAX_NIGHTS = 366  # a year: the store keeps no more than keep_runs sweeps anyway
NAME_WIDTH = 30  # on a terminal, longer project names fold rather than squeeze the nights
HOST_WIDTH = 12  # the host column's names are cut to this (--json has them whole)


@dataclass(frozen=True)
class Mark:
    """How one cell shows: a symbol (Unicode, and ASCII for a terminal that cannot show
    it), the words of the legend, and a rich style."""

    symbol: str
    ascii: str
    words: str
    style: str


STATUS_MARKS = {
    "ok": Mark("✓", "+", "ok", "green"),
    "failed": Mark("✗", "x", "failed", "bold red"),
    "error": Mark("!", "!", "error", "bold red"),
    "interrupted": Mark("~", "~", "interrupted", "yellow"),
    "skipped": Mark("-", "-", "skipped", "dim"),
}
NOT_RUN = Mark("·", ".", "did not run", "dim")
UNKNOWN = Mark("?", "?", "status not known", "dim")  # a status this agentd does not know
GAP_MARKS = {
    MISSED: Mark("M", "M", "missed (a fire was due, no sweep ran)", "bold magenta"),
    SKIPPED: Mark("S", "S", "fire skipped", "magenta"),
    NONE_DUE: Mark(" ", " ", "none due", "dim"),
}
NO_SWEEP = Mark("·", ".", "no sweep", "dim")  # a gap whose cause is not known


def history_command(args: argparse.Namespace) -> int:
    if not 1 <= args.nights <= MAX_NIGHTS:
        raise UsageError(f"--nights must be between 1 and {MAX_NIGHTS}")
    setup = read_setup(args)
    if setup.warning:
        print(f"agentd: {harmless(setup.warning)}", file=sys.stderr)
    store, snapshot = open_store(setup.state_dir, setup.state)
    store.close()  # one read is all it takes
    now = datetime.now(UTC)
    schedule = _schedule(setup.config, setup.config_path)
    zone = schedule[1] if schedule else UTC
    end = now.astimezone(zone).date().isoformat() if args.until is None else _until(args.until)
    try:
        history = build_history(
            snapshot, setup.config, end, args.nights, now=now, schedule=schedule
        )
    except ValueError as exc:  # nights before the calendar's first
        raise UsageError(f"--until: {exc}") from None
    # Today before its sweep has nothing to compare: the latest night that had one has.
    changed = changes(history.through_last_sweep())
    if args.project is not None:
        if args.project not in {p.name for p in history.projects}:
            raise UsageError(
                f"no project {args.project!r} in the configuration nor in the last "
                f"{args.nights} night(s) of history"
            )
        history = history.only(args.project)
        changed = Changes(
            [n for n in changed.newly_failing if n == args.project],
            [n for n in changed.recovered if n == args.project],
        )
    with reader_may_leave():
        if args.json:
            doc = {**history.to_dict(), "changes": changed.to_dict()}
            doc["timezone"] = str(zone) if schedule else None
            print(json.dumps(doc, indent=2, allow_nan=False))
        elif sys.stdout.isatty():
            _rich_grid(history, changed, _zone_name(schedule))
        else:
            sys.stdout.write(plain_grid(history, changed, _zone_name(schedule), ascii=_ascii()))
    return EXIT_OK


def _until(text: str) -> str:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or day.isoformat() != text:
        raise UsageError(f"--until must be a date like 2026-03-01, not {text!r}")
    return text


def _schedule(config: Config | None, path: Path | None) -> Schedule | None:
    """The cron and zone the nights are counted in: the configuration's, else what can
    still be read of a broken file's ``[schedule]``, else none (UTC dates, gaps unknown)."""
    if config is not None:
        return (config.cron, config.zone)
    if path is None:
        return None
    from zoneinfo import ZoneInfo

    from agentd.config.cron import CronError, parse_cron
    from agentd.config.resolved import local_zone
    from agentd.config.salvage import salvaged_schedule

    section = salvaged_schedule(path, os.environ)
    if section is None:
        return None
    try:
        zone: tzinfo = ZoneInfo(section.timezone) if section.timezone else local_zone()
        return (parse_cron(section.cron), zone)
    except (CronError, ValueError):
        return None


def _zone_name(schedule: Schedule | None) -> str:
    return str(schedule[1]) if schedule else "UTC; the schedule is not known"


def _ascii() -> bool:
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return encoding != "utf8"


def cell_mark(cell: NightCell, night: Night) -> Mark:
    if cell.status is not None:
        return STATUS_MARKS.get(cell.status, UNKNOWN)
    return gap_mark(night) if night.sweeps == 0 else NOT_RUN


def gap_mark(night: Night) -> Mark:
    gap = night.gap or ""
    return GAP_MARKS.get(SKIPPED if gap.startswith(SKIPPED) else gap, NO_SWEEP)


def sweep_mark(night: Night) -> Mark:
    if night.sweeps == 0:
        return gap_mark(night)
    return STATUS_MARKS.get(night.status or "", UNKNOWN)


def heads(history: History) -> list[tuple[str, str]]:
    """Each night's column head on two lines: the month where it starts (and over the
    first column), then the day. Four columns to a date would not fit 14 nights in 80."""
    out = []
    month = ""
    for night in history.nights:
        day = dt.date.fromisoformat(night.date)
        label = day.strftime("%b")
        out.append((label if label != month else "", f"{day.day:02d}"))
        month = label
    return out


def _title(history: History, zone: str) -> str:
    first, last = history.nights[0].date, history.nights[-1].date
    return f"agentd history: {len(history.nights)} night(s), {first} to {last} ({zone})"


Pick = Callable[[Mark], str]


def _picker(ascii: bool) -> Pick:
    return (lambda m: m.ascii) if ascii else (lambda m: m.symbol)


def plain_grid(history: History, changed: Changes, zone: str, ascii: bool = False) -> str:
    """The grid as aligned text: one row per project, then the sweeps' own row."""
    pick = _picker(ascii)
    tops, days = zip(*heads(history), strict=True)
    rows = [["", *tops], ["project", *days]]
    hosts = ["", "host"]  # shown only when several hosts' sweeps are in the grid
    for project in history.projects:
        marks = [pick(cell_mark(c, n)) for c, n in zip(project.nights, history.nights, strict=True)]
        rows.append([harmless(project.name), *marks])
        hosts.append(last_host(project))
    rows.append(["(sweeps)", *(pick(sweep_mark(n)) for n in history.nights)])
    hosts.append("")
    width = max(len(row[0]) for row in rows)
    host_width = max(len(h) for h in hosts) if len(history.hosts()) > 1 else 0
    lines = [_title(history, zone), ""]
    for row, host in zip(rows, hosts, strict=True):
        cells = " ".join(cell.center(3) for cell in row[1:])
        lead = row[0].ljust(width) + (f"  {host.ljust(host_width)}" if host_width else "")
        lines.append(f"{lead}  {cells}".rstrip())
    lines.append("")
    for label, items in _legend(pick):
        lines.append(label + "  ".join(f"{symbol} {words}" for symbol, words, _ in items))
    lines += _footer(history, changed)
    return "\n".join(lines) + "\n"


def _legend(pick: Pick) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Two lines: what a cell of a night that had a sweep means, and the gaps' marks."""
    return [
        (
            label,
            [(pick(m) if m.symbol != " " else "(blank)", m.words, m.style) for m in marks],
        )
        for label, marks in (
            ("legend: ", [*STATUS_MARKS.values(), NOT_RUN]),
            ("gaps:   ", list(GAP_MARKS.values())),
        )
    ]


def last_host(project: ProjectHistory) -> str:
    """The host of the project's latest run in the grid, short (its first name label, at
    most HOST_WIDTH characters): the host column, shown when several hosts swept."""
    host = next((c.host for c in reversed(project.nights) if c.host is not None), None)
    if host is None:
        return "-"
    short = harmless(host.split(".")[0] or host)
    return short if len(short) <= HOST_WIDTH else short[: HOST_WIDTH - 1] + "~"


def _footer(history: History, changed: Changes) -> list[str]:
    """Each gap in words, then what changed on the last night."""
    lines = []
    if len(history.hosts()) > 1:
        names = ", ".join(harmless(h) for h in history.hosts())
        lines.append(f"hosts: {names} (host: where the project ran last; --json: each night's)")
    for night in history.nights:
        if night.sweeps == 0 and night.gap not in (None, NONE_DUE):
            lines.append(f"{night.date}: {harmless(str(night.gap))}")
    lines += change_lines(changed)
    return lines


def change_lines(changed: Changes) -> list[str]:
    return [
        f"{label}: {', '.join(harmless(n) for n in names)}"
        for label, names in (
            ("Newly failing", changed.newly_failing),
            ("Recovered", changed.recovered),
        )
        if names
    ]


def _rich_grid(history: History, changed: Changes, zone: str) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    ascii = _ascii()
    pick = _picker(ascii)

    def text(mark: Mark) -> Text:
        return Text(pick(mark), style=mark.style)

    table = Table(
        title=_title(history, zone),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 0),
        pad_edge=False,
    )
    longest = max((len(p.name) for p in history.projects), default=0)
    table.add_column("\nproject", overflow="fold", min_width=min(max(longest, 8), NAME_WIDTH))
    several = len(history.hosts()) > 1
    if several:
        table.add_column("\nhost", no_wrap=True)
    for top, day in heads(history):
        table.add_column(f"{top}\n{day}", justify="center", no_wrap=True, min_width=3)
    # Names are Text, never markup: a "[" in a project's name prints as itself.
    for project in history.projects:
        cells = [text(cell_mark(c, n)) for c, n in zip(project.nights, history.nights, strict=True)]
        host = [Text(last_host(project), style="dim")] if several else []
        table.add_row(Text(harmless(project.name)), *host, *cells)
    table.add_section()
    table.add_row(
        Text("(sweeps)", style="italic"),
        *([Text("")] if several else []),
        *(text(sweep_mark(n)) for n in history.nights),
    )
    console = Console(file=sys.stdout)
    console.print(table)
    for label, items in _legend(pick):
        legend = Text(label)
        for symbol, words, style in items:
            legend.append(symbol, style=style).append(f" {words}  ")
        console.print(legend)
    for line in _footer(history, changed):
        console.print(Text(line))
