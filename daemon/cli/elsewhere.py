"""Runs of other hosts, for ``agentd report`` and ``agentd log`` on a shared store.

A shared store keeps every host's run summaries and report.json documents; the run
directories (task logs, report.md, report.html) stay on the host that ran the sweep. So a
run that is not in this host's ``runs/`` is looked up in the store: its report is shown
from there, saying which host ran it and where its logs are; its logs cannot be shown
from here, and the message says where they are instead.

The store's contents are hostile until parsed: a host name or run id from it becomes a
path component only when it is a plain name.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentd.daemon.cli.exits import EXIT_OK, UsageError
from agentd.daemon.cli.setup import ReadSetup, open_store
from agentd.daemon.model.report import latest_that_ran
from agentd.daemon.output.textout import harmless
from agentd.state import StateError
from agentd.state.claims import this_host

if TYPE_CHECKING:
    from agentd.state import StateStore

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


@dataclass(frozen=True)
class RemoteRun:
    """A run of another host, as the shared store has it."""

    run_id: str
    host: str
    date: str | None
    report: dict[str, Any] | None  # its report.json; None: the store has none of it

    @property
    def run_dir(self) -> str | None:
        where = (self.report or {}).get("run_dir")
        return where if isinstance(where, str) and where else None

    def where(self) -> str:
        """The line that heads whatever is shown of it."""
        place = f"at {self.run_dir}" if self.run_dir else "in its state directory's runs/"
        return f"run {self.run_id} of host {self.host}; its logs are on {self.host} {place}"


def shared_store(setup: ReadSetup) -> StateStore | None:
    """The configured store when several hosts share it; None for the JSON file, or, with a
    warning, when it cannot be opened (what is on this disk can still be shown)."""
    state = setup.state
    if state is None or state.backend == "json":
        return None
    try:
        store, _ = open_store(setup.state_dir, state)
    except UsageError as exc:
        print(
            f"agentd: warning: other hosts' runs not shown: {harmless(str(exc))}", file=sys.stderr
        )
        return None
    if not store.shared:
        store.close()
        return None
    return store


def host_of(summary: dict[str, Any]) -> str:
    """A summary's host; one kept before hosts were named is this host's."""
    host = summary.get("host")
    return host if isinstance(host, str) and host else this_host()


def find(store: StateStore, runs: list[dict[str, Any]], prefix: str) -> RemoteRun | None:
    """The run of another host whose id is ``prefix`` or starts with it; None if no other
    host's run does. A prefix several runs share is refused, as for this host's runs."""
    here = this_host()
    ids = sorted(
        {
            str(r["run_id"])
            for r in runs
            if isinstance(r.get("run_id"), str)
            and r["run_id"].startswith(prefix)
            and host_of(r) != here
        }
    )
    if not ids:
        return None
    if len(ids) > 1 and prefix not in ids:
        raise UsageError(f"{prefix!r} matches {len(ids)} runs of other hosts: {', '.join(ids[:5])}")
    run_id = prefix if prefix in ids else ids[0]
    summary = next(r for r in reversed(runs) if r.get("run_id") == run_id and host_of(r) != here)
    return _remote(store, summary)


def latest(store: StateStore, runs: list[dict[str, Any]], local: str | None) -> RemoteRun | None:
    """The latest sweep of any host that ran something, when another host ran it after
    this host's latest report (``local``, a run id); None: this host's is the one to show."""
    index = latest_that_ran(runs)
    if index is None or host_of(runs[index]) == this_host():
        return None
    summary = runs[index]
    if local is not None and _order(runs, local) > index:
        return None
    return _remote(store, summary)


def _order(runs: list[dict[str, Any]], run_id: str) -> int:
    here = this_host()
    found = [i for i, r in enumerate(runs) if r.get("run_id") == run_id and host_of(r) == here]
    # A report on disk the history does not know (not recorded yet): the newest there is.
    return found[-1] if found else len(runs)


def _remote(store: StateStore, summary: dict[str, Any]) -> RemoteRun:
    run_id = str(summary["run_id"])
    try:
        report = store.report_document(run_id)
    except StateError as exc:
        raise UsageError(f"cannot read the report of run {run_id}: {exc}") from None
    date = summary.get("date")
    return RemoteRun(run_id, host_of(summary), date if isinstance(date, str) else None, report)


def same_night(runs: list[dict[str, Any]], shown: str, date: str | None, host: str) -> str | None:
    """A note naming the other hosts' runs of the night of the run shown (several hosts
    split a night: each report has only its host's projects), or None."""
    if date is None:
        return None
    others = [
        f"{r['run_id']} ({host_of(r)})"
        for r in runs
        if r.get("date") == date and r.get("run_id") != shown and host_of(r) != host
    ]
    if not others:
        return None
    return f"the same night's runs of other hosts: {', '.join(others)} (agentd report RUN_ID)"


def log_elsewhere(remote: RemoteRun, project: str, task: str | None) -> str:
    """Why ``agentd log`` cannot show a log of another host's run, and where it is."""
    where = f"run {remote.run_id} ran on host {remote.host}; its log is there"
    if remote.run_dir is None:
        return f"{where}, in its state directory's runs/{remote.run_id}/{project}/"
    from agentd.daemon.tasks.tasklog import task_log_path

    if task is None:
        return f"{where}, under {Path(remote.run_dir) / project}/"
    return f"{where} at {task_log_path(Path(remote.run_dir), project, task)}"


def page_path(remote: RemoteRun) -> Path:
    """Where ``agentd report --html`` puts the page of another host's run: this user's
    cache (``$XDG_CACHE_HOME``, else ``~/.cache``) under ``agentd/reports/HOST/RUN_ID``,
    made 0700; the run's own directory is on the other host."""
    from agentd.config.homedir import NoHome, home

    for name in (remote.host, remote.run_id):
        if not _PLAIN.fullmatch(name) or name in (".", ".."):
            raise UsageError(
                f"cannot make a page for run {remote.run_id!r} of host {remote.host!r}: "
                "not a plain name"
            )
    cache = os.environ.get("XDG_CACHE_HOME")
    try:
        root = Path(cache) if cache and os.path.isabs(cache) else home(os.environ) / ".cache"
    except NoHome as exc:
        raise UsageError(f"no cache directory for the page of another host's run: {exc}") from None
    return root / "agentd" / "reports" / remote.host / remote.run_id / "report.html"


def show_elsewhere(args: argparse.Namespace, setup: ReadSetup, store: StateStore) -> int | None:
    """``agentd report`` of a run of another host: the one named (when this host has no
    run of that id), or, without a run id, the latest sweep of any host when another host
    ran it; None: this host's run is the one to show, from its disk."""
    from agentd.daemon.sweep.rundirs import ReportNotFound, find_report, run_ids

    try:
        runs = store.read().runs()
    except StateError as exc:
        print(
            f"agentd: warning: other hosts' runs not shown: {harmless(str(exc))}", file=sys.stderr
        )
        return None
    try:
        local = run_ids(setup.state_dir)
    except OSError:
        local = []  # this host's reports cannot be read either: the local path says so
    if args.run_id is not None:
        if any(name.startswith(args.run_id) for name in local):
            return None
        remote = find(store, runs, args.run_id)
    else:
        try:
            mine: str | None = find_report(setup.state_dir, None, runs).path.parent.name
        except ReportNotFound:
            mine = None
        remote = latest(store, runs, mine)
    if remote is None:
        return None
    if remote.report is None:
        raise UsageError(
            f"run {remote.run_id} ran on host {remote.host}, and the store keeps no report "
            f"of it: see it there (agentd report {remote.run_id})"
        )
    return _show(args, setup, store, remote, runs)


def _show(
    args: argparse.Namespace,
    setup: ReadSetup,
    store: StateStore,
    remote: RemoteRun,
    runs: list[dict[str, Any]],
) -> int:
    import json

    from agentd.daemon.output.report import render_markdown

    if args.json or args.html or args.open:  # the text has it at its top
        print(harmless(f"agentd: {remote.where()}"), file=sys.stderr)
    night = same_night(runs, remote.run_id, remote.date, remote.host)
    if night is not None:
        print(harmless(f"agentd: {night}"), file=sys.stderr)
    report = remote.report or {}
    if args.html or args.open:
        return _page(args, setup, store, remote)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return EXIT_OK
    try:
        text = render_markdown(report)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UsageError(
            f"cannot show run {remote.run_id} of host {remote.host}: its stored report is "
            "not a report of this agentd"
        ) from None
    sys.stdout.write(harmless(f"> {remote.where()}") + "\n\n" + text)
    return EXIT_OK


def _page(args: argparse.Namespace, setup: ReadSetup, store: StateStore, remote: RemoteRun) -> int:
    """The page of another host's run, made now in this user's cache from the stored
    report (its nights from the store), its path printed, and opened with ``--open``."""
    from agentd.daemon.cli.cmd_report import open_page
    from agentd.daemon.output.html.page import render_document, sweep_history
    from agentd.state.files import write_atomic

    page = page_path(remote)
    report = remote.report or {}
    config = setup.config
    history = None
    if isinstance(report.get("date"), str):
        try:
            history = sweep_history(store, config, report["date"])
        except (StateError, ValueError) as exc:
            print(f"agentd: the page shows no history: {harmless(str(exc))}", file=sys.stderr)
    try:
        run_dir = Path(remote.run_dir or ".")
        text = render_document(report, history, config, run_dir, elsewhere=remote.host)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UsageError(
            f"cannot show run {remote.run_id} of host {remote.host}: its stored report is "
            "not a report of this agentd"
        ) from None
    try:
        os.makedirs(page.parent, mode=0o700, exist_ok=True)
        write_atomic(page, text.encode())
    except OSError as exc:
        raise UsageError(f"cannot write {page}: {exc.strerror or exc}") from None
    print(page, flush=True)
    if args.open:
        open_page(page)
    return EXIT_OK


def refuse_log_elsewhere(
    args: argparse.Namespace, setup: ReadSetup, run_id: str, project: str, task: str | None
) -> None:
    """``agentd log`` of a run id this host has no run of: a UsageError saying where the
    log is when another host ran it; nothing when no host did (the caller says so)."""
    store = shared_store(setup)
    if store is None:
        return
    try:
        remote = find(store, store.read().runs(), run_id)
    except StateError:
        return  # the store cannot say: this host's own message stands
    finally:
        store.close()
    if remote is not None:
        raise UsageError(log_elsewhere(remote, project, task))


def report_elsewhere(args: argparse.Namespace, setup: ReadSetup) -> int | None:
    """``agentd report``'s part on a shared store (``show_elsewhere``); None on a store of
    one host, or when this host's run is the one to show."""
    store = shared_store(setup)
    if store is None:
        return None
    try:
        return show_elsewhere(args, setup, store)
    finally:
        store.close()
