"""``agentd doctor`` (and ``agentd config check --deep``): the checks of
``agentd.daemon.service.doctor`` as a table on a terminal, plain lines elsewhere, or as
JSON; exit 1 when one is a problem."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from agentd.daemon.cli.exits import EXIT_FAILED, EXIT_OK
from agentd.daemon.cli.setup import load
from agentd.daemon.output.textout import harmless

if TYPE_CHECKING:
    from agentd.config import Config
    from agentd.daemon.service.doctor import Check

_STYLES = {"ok": "green", "warning": "yellow", "problem": "bold red"}


def doctor_command(args: argparse.Namespace) -> int:
    return run_doctor(args, load(args), as_json=args.json)


def run_doctor(args: argparse.Namespace, config: Config, as_json: bool = False) -> int:
    from agentd.daemon.service.doctor import diagnose, worst

    checks = diagnose(config, os.environ, args.state_dir, datetime.now(UTC))
    if as_json:
        print(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        _table(checks)
    return EXIT_FAILED if worst(checks) == "problem" else EXIT_OK


def _plain(checks: list[Check]) -> None:
    """Off a terminal (a pipe, a file, a mail from cron): one line per check, never cut
    or wrapped, the columns aligned but for the message, which ends each line."""
    rows = [("level", "check", "subject", "message")]
    rows += [(c.level, c.check, harmless(c.subject), harmless(c.message)) for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        head = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        print(f"{head}  {row[3]}")
    print(_counts(checks))


def _counts(checks: list[Check]) -> str:
    counts = {level: sum(c.level == level for c in checks) for level in _STYLES}
    return f"{counts['ok']} ok, {counts['warning']} warning(s), {counts['problem']} problem(s)"


def _table(checks: list[Check]) -> None:
    if not sys.stdout.isatty():
        _plain(checks)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="agentd doctor", title_justify="left")
    for column in ("level", "check", "subject", "message"):
        table.add_column(column, overflow="fold")
    # Every text is Text, never markup: a "[" in a path or an agent's answer prints as
    # itself; and made harmless once more here, where it meets the terminal.
    for check in checks:
        table.add_row(
            Text(check.level, style=_STYLES[check.level]),
            Text(check.check),
            Text(harmless(check.subject)),
            Text(harmless(check.message)),
        )
    console = Console(file=sys.stdout)
    console.print(table)
    console.print(Text(_counts(checks)))
