"""``agentd run``: one sweep now (``--once``), or the daemon."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import UTC, datetime

from agentd.daemon.cli.exits import EXIT_FAILED, EXIT_OK, UsageError
from agentd.daemon.cli.setup import load, open_store, setup_logging, state_dir
from agentd.daemon.output.textout import reader_may_leave
from agentd.state import StateError

ONCE_ONLY = ("dry_run", "project", "force", "json")


def run_command(args: argparse.Namespace) -> int:
    if not args.once:
        given = [f"--{o.replace('_', '-')}" for o in ONCE_ONLY if getattr(args, o)]
        if given:
            names = ", ".join(given[:-1]) + " and " + given[-1] if len(given) > 1 else given[0]
            verb = "works" if len(given) == 1 else "work"
            raise UsageError(f"{names} only {verb} with --once")
        from agentd.daemon.service.daemon import serve

        return serve(args)
    return run_once(args)


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
    store, _ = open_store(directory, create=not args.dry_run)

    from agentd.daemon.sweep.engine import SweepRequest, plan, run_sweep, sweep_date

    request = SweepRequest("manual", args.project, args.force)
    if args.dry_run:
        from agentd.daemon.output.plan import plan_dict, render_plan

        now = datetime.now(UTC)
        selection = plan(config, store, request, now)
        summary = plan_dict(config, selection, directory, sweep_date(config, now), store.read())
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            sys.stdout.write(render_plan(summary, str(config.zone)))
        return EXIT_OK

    from agentd.daemon.output.progress import LiveView, Observer, PlainSummary
    from agentd.daemon.tasks.stop import StopToken, install_handlers

    stop = StopToken()
    # SIGHUP: the terminal went away (ssh dropped); stop in order rather than die.
    install_handlers(stop, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    observer: Observer
    if args.json:
        observer = Observer()
    elif sys.stdout.isatty():
        observer = LiveView(sys.stdout)
    else:
        observer = PlainSummary(sys.stdout)
    try:
        report = run_sweep(config, store, directory, request, stop, observer)
    except StateError as exc:  # before any task ran: nothing to report but this
        raise UsageError(str(exc)) from None
    if args.json:
        with reader_may_leave():
            print(json.dumps(report, indent=2), flush=True)
    if stop.requested:
        return stop.exit_status
    return EXIT_FAILED if report["failures"] else EXIT_OK
