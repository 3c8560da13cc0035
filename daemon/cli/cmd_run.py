"""``agentd run``: one sweep now (``--once``), or the daemon."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agentd.daemon.cli.exits import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, UsageError
from agentd.daemon.cli.setup import load, open_store, setup_logging, state_dir, without_secrets
from agentd.daemon.output.textout import reader_may_leave
from agentd.state import StateError

if TYPE_CHECKING:
    from agentd.config import Config
    from agentd.daemon.sweep.engine import SweepRequest
    from agentd.daemon.tasks.stop import SignalInbox
    from agentd.state import StateStore

ONCE_ONLY = ("dry_run", "project", "force", "json")


def run_command(args: argparse.Namespace) -> int:
    if not args.once:
        given = [f"--{o.replace('_', '-')}" for o in ONCE_ONLY if getattr(args, o)]
        if given:
            names = ", ".join(given[:-1]) + " and " + given[-1] if len(given) > 1 else given[0]
            verb = "works" if len(given) == 1 else "work"
            raise UsageError(f"{names} only {verb} with --once")
        return run_daemon(args)
    return run_once(args)


def run_daemon(args: argparse.Namespace) -> int:
    import faulthandler

    from agentd.daemon.tasks.stop import SignalInbox, install_handlers

    signals = SignalInbox()
    # First thing: a SIGTERM during start-up is recorded and honoured once we are up.
    install_handlers(signals, (signal.SIGTERM, signal.SIGINT, signal.SIGHUP), keep_ignored=False)
    # `kill -USR2` prints every thread's stack to stderr (the journal): for a daemon that
    # seems stuck, that answers "where" without a debugger.
    faulthandler.register(signal.SIGUSR2, all_threads=True)
    config = load(args)
    setup_logging(args, config)
    directory = state_dir(args, config)
    store, _ = open_store(directory, config.settings.state, create=True)
    try:
        return _serve(args, config, directory, store, signals)
    finally:
        store.close()


def _serve(
    args: argparse.Namespace,
    config: Config,
    directory: Path,
    store: StateStore,
    signals: SignalInbox,
) -> int:
    from agentd.daemon.model.clock import SYSTEM_CLOCK
    from agentd.daemon.service.daemon import Daemon, serve
    from agentd.daemon.service.host import Ending
    from agentd.daemon.service.notify import Notifier
    from agentd.state.daemonlock import DaemonLocked

    setup = _Setup(args, config.path)
    daemon = Daemon(config, directory, store, setup, signals, Notifier(os.environ), SYSTEM_CLOCK)
    try:
        ending = serve(daemon)
    except DaemonLocked as exc:
        print(f"agentd: {exc}", file=sys.stderr, flush=True)
        return EXIT_LOCKED
    except StateError as exc:
        raise UsageError(without_secrets(str(exc), config.settings.state.url)) from None
    return EXIT_OK if ending is Ending.STOPPED else EXIT_FAILED


class _Setup:
    """What the daemon does again at a reload as this command did at start: the file named
    at start, logging and the state directory as the options and environment say."""

    def __init__(self, args: argparse.Namespace, path: Path) -> None:
        self.args = args
        self.path = path

    def read_config(self) -> Config:
        from agentd.config import load_config

        return load_config(self.path, os.environ)

    def set_up_logging(self, config: Config) -> None:
        setup_logging(self.args, config)

    def state_dir(self, config: Config) -> Path:
        return state_dir(self.args, config)


def run_once(args: argparse.Namespace) -> int:
    config = load(args)
    if args.project:
        known = {p.name for p in config.projects}
        unknown = [name for name in args.project if name not in known]
        if unknown:
            raise UsageError(
                f"unknown project{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                f"(configured: {', '.join(sorted(known)) or 'none'})"
            )
    directory = state_dir(args, config)
    setup_logging(args, config)
    try:
        store, _ = open_store(directory, config.settings.state, create=not args.dry_run)
    except UsageError:
        if not args.dry_run:  # a sweep that cannot run is a failed night to hear about
            _ping_failure(config)
        raise
    try:
        return _sweep_once(args, config, directory, store)
    finally:
        store.close()


def _sweep_once(
    args: argparse.Namespace, config: Config, directory: Path, store: StateStore
) -> int:
    from agentd.daemon.model.clock import SYSTEM_CLOCK
    from agentd.daemon.sweep.engine import SweepRequest, run_sweep

    request = SweepRequest("manual", args.project, args.force)
    if args.dry_run:
        return _dry_run(args, config, store, directory, request)

    from agentd.daemon.model.observer import SweepObserver
    from agentd.daemon.output.metrics import metrics_file
    from agentd.daemon.output.progress import LiveView, PlainSummary
    from agentd.daemon.output.report import finishing
    from agentd.daemon.tasks.stop import StopToken, install_handlers

    stop = StopToken()
    # SIGHUP: the terminal went away (ssh dropped); stop in order rather than die.
    install_handlers(stop, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    # The report on disk and the alerts first: the summary names the report only if written.
    # A manual sweep is a sweep: it pings and writes the metrics file like the daemon's.
    metrics = metrics_file(config, store, directory, SYSTEM_CLOCK)
    notify = config.settings.notify
    observers: list[SweepObserver] = finishing(
        notify, os.environ, SYSTEM_CLOCK, metrics, store=store, config=config
    )
    if args.json:
        pass  # the report itself goes to stdout, once the sweep is over
    elif sys.stdout.isatty():
        observers.append(LiveView(sys.stdout, SYSTEM_CLOCK))
    else:
        observers.append(PlainSummary(sys.stdout))
    try:
        report = run_sweep(config, store, directory, request, stop, observers, clock=SYSTEM_CLOCK)
    except StateError as exc:  # before any task ran: nothing to report but this
        _ping_failure(config)
        raise UsageError(without_secrets(str(exc), config.settings.state.url)) from None
    if args.json:
        with reader_may_leave():
            print(json.dumps(report.to_dict(), indent=2), flush=True)
    if stop.requested:
        return stop.exit_status
    return EXIT_FAILED if report.failures else EXIT_OK


def _ping_failure(config: Config) -> None:
    """``/fail`` for a sweep that could not run; the reason goes to stderr, not the ping."""
    notify = config.settings.notify
    if notify.ping_url is not None:
        from agentd.daemon.output.ping import ping_failure

        ping_failure(notify.ping_url, notify.timeout, None)


def _dry_run(
    args: argparse.Namespace,
    config: Config,
    store: StateStore,
    directory: Path,
    request: SweepRequest,
) -> int:
    """What the sweep would do, computed by the sweep and shown; nothing run or written."""
    from agentd.daemon.model.clock import SYSTEM_CLOCK
    from agentd.daemon.output.plan import render_plan
    from agentd.daemon.sweep.dryrun import dry_run
    from agentd.daemon.sweep.engine import plan, sweep_date

    now = SYSTEM_CLOCK.now()
    selection = plan(config, store, request, now)
    planned = dry_run(config, selection, directory, sweep_date(config, now), store.read())
    if args.json:
        print(json.dumps(planned.to_dict(), indent=2))
    else:
        sys.stdout.write(render_plan(planned, str(config.zone)))
    return EXIT_OK
