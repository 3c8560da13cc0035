"""``agentd report [RUN_ID] [--json | --html [--open]]``: a finished sweep's report."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from agentd.daemon.cli.elsewhere import report_elsewhere
from agentd.daemon.cli.exits import EXIT_OK, UsageError
from agentd.daemon.cli.setup import ReadSetup, open_store, read_setup
from agentd.daemon.model.report import ran_nothing
from agentd.daemon.output.report import HTML_FILE, read_document, render_markdown
from agentd.daemon.output.textout import harmless
from agentd.daemon.sweep.rundirs import ReportNotFound, find_report
from agentd.state import StateError


def report_command(args: argparse.Namespace) -> int:
    # Reports outlive configuration mistakes: the file is read only for where the state
    # is, and a broken one is a warning.
    setup = read_setup(args, need_config=False)
    if setup.warning:
        print(f"agentd: {harmless(setup.warning)}", file=sys.stderr)
    directory = setup.state_dir
    shown = report_elsewhere(args, setup)  # another host's run, on a shared store
    if shown is not None:
        return shown
    try:
        found = find_report(directory, args.run_id, _history(setup))
    except ReportNotFound as exc:
        raise UsageError(str(exc)) from None
    path = found.path
    if found.newer_without:
        print(
            f"agentd: {harmless(found.newer_without)}; this is {path.parent.name}'s",
            file=sys.stderr,
        )
    try:
        report = read_document(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if args.run_id is None and isinstance(report, dict) and ran_nothing(report):
        path, report = _past_no_ops(path, report)
    if args.html or args.open:
        return _show_page(args, setup, path, report)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return EXIT_OK
    try:
        text = render_markdown(report)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UsageError(f"cannot show {path}: it is not a report of this agentd") from None
    sys.stdout.write(text)
    return EXIT_OK


def _show_page(args: argparse.Namespace, setup: ReadSetup, path: Path, report: Any) -> int:
    """The page's absolute path on stdout, made first for a run from before pages were
    (from its report.json; the nights from the state when a configuration says which)."""
    page = (path.parent / HTML_FILE).absolute()
    if not page.is_file():
        _make_page(args, setup, path, report, page)
    print(page, flush=True)
    if args.open:
        open_page(page)
    return EXIT_OK


def open_page(page: Path) -> None:
    opener = next((o for o in ("xdg-open", "open") if shutil.which(o)), None)
    if opener is None:
        print("agentd: no desktop opener (xdg-open, open) here: open it yourself", file=sys.stderr)
        return
    # Its own session and no terminal: a browser started by it outlives this command.
    subprocess.Popen(
        [opener, str(page)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _make_page(
    args: argparse.Namespace, setup: ReadSetup, path: Path, report: Any, page: Path
) -> None:
    from agentd.daemon.output.html.page import render_document, sweep_history
    from agentd.state.files import write_atomic

    config = setup.config
    if config is None and setup.config_path is None:  # not read: the state dir was given
        config = read_setup(args, need_config=True).config
    history = None
    if isinstance(report, dict) and isinstance(report.get("date"), str):
        try:
            state = setup.state or (config.settings.state if config else None)
            store = open_store(setup.state_dir, state)[0]
            try:
                history = sweep_history(store, config, report["date"])
            finally:
                store.close()
        except (UsageError, StateError, ValueError) as exc:  # ValueError: a "date" that is none
            print(f"agentd: the page shows no history: {harmless(str(exc))}", file=sys.stderr)
    try:
        if not isinstance(report, dict):
            raise TypeError(report)
        text = render_document(report, history, config, path.parent)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UsageError(f"cannot show {path}: it is not a report of this agentd") from None
    try:
        write_atomic(page, text.encode())
    except OSError as exc:
        raise UsageError(f"cannot write {page}: {exc.strerror or exc}") from None


def _past_no_ops(path: Path, report: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """The latest report of a sweep that ran something, and a note on stderr, when the
    newer sweeps ran nothing (a manual sweep after the night's had done everything): such
    a sweep must not hide the night's report. Unchanged when no sweep ran anything."""
    newer: list[str] = []
    for older in sorted(path.parent.parent.glob("*/report.json"), reverse=True):
        if older.parent.name > path.parent.name or older.parent.name.startswith("."):
            continue
        try:
            candidate = read_document(older)
        except (OSError, ValueError):
            continue  # unreadable: neither shown nor counted
        if isinstance(candidate, dict) and ran_nothing(candidate):
            newer.append(older.parent.name)
            continue
        sweeps = "sweep" if len(newer) == 1 else "sweeps"
        print(
            harmless(
                f"agentd: the latest sweep that ran something: {older.parent.name}; "
                f"{len(newer)} newer {sweeps} ran nothing (the latest: "
                f"agentd report {newer[0]})"
            ),
            file=sys.stderr,
        )
        return older, candidate
    return path, report


def _history(setup: ReadSetup) -> list[dict[str, Any]]:
    """The run summaries the state store keeps, to say why a sweep has no report; none if
    the state cannot be read (the reports do not need it)."""
    try:
        store, snapshot = open_store(setup.state_dir, setup.state)
    except UsageError:
        return []
    store.close()
    return snapshot.runs()
