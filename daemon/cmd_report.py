"""``agentd report [RUN_ID] [--json]``: a finished sweep's report."""

from __future__ import annotations

import argparse
import json
import os
import sys

from daemon.bootstrap import load, state_dir
from daemon.cli import EXIT_OK, UsageError
from daemon.report import ReportNotFound, find_report, render_markdown


def report_command(args: argparse.Namespace) -> int:
    # Reports outlive configuration mistakes: with the state directory given explicitly,
    # the file is not needed; otherwise it may name the directory, so it must load.
    explicit = args.state_dir or os.environ.get("AGENTD_STATE_DIR")
    directory = state_dir(args, None if explicit else load(args))
    try:
        path = find_report(directory, args.run_id)
    except ReportNotFound as exc:
        raise UsageError(str(exc)) from None
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        sys.stdout.write(render_markdown(report))
    return EXIT_OK
