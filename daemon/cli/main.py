"""The ``agentd`` command line (SPEC section 3).

Global options are accepted before and after the command name: each subcommand parser
repeats them with SUPPRESS defaults, so a value given in either place survives. Heavy
modules (pydantic, structlog, rich, APScheduler) are imported inside the handlers, which
keeps ``agentd --help`` fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from agentd.daemon import __version__
from agentd.daemon.cli.exits import EXIT_OK, EXIT_USAGE, UsageError
from agentd.daemon.output.textout import discard_stdout, harmless


def _global_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("global options")
    sup = argparse.SUPPRESS
    group.add_argument("--config", metavar="PATH", default=sup, help="config.toml to use")
    group.add_argument(
        "--state-dir", metavar="PATH", default=sup, help="state directory ($AGENTD_STATE_DIR)"
    )
    group.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=sup)
    group.add_argument("--log-format", choices=["auto", "json", "console"], default=sup)
    group.add_argument("--version", action="version", version=f"agentd {__version__}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentd",
        description="Run AI coding agents and other jobs across many repositories, nightly.",
    )
    _global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _global_options(p)
        return p

    _run_options(command("run", "run the daemon, or one sweep now with --once"))
    _read_commands(command)
    _log_options(command("log", "print a task's log, or follow it while it runs (-f)"))
    _config_actions(command("config", "check, show or create the configuration file"))
    _state_actions(command("state", "the shared PostgreSQL store: migrate its schema, import"))
    return parser


def _run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--once", action="store_true", help="run one sweep now, then exit")
    run.add_argument("--dry-run", action="store_true", help="print the plan; run and write nothing")
    run.add_argument(
        "--project",
        action="append",
        metavar="NAME",
        help="sweep only this project (repeatable)",
    )
    run.add_argument("--force", action="store_true", help="ignore the daily skip guard")
    run.add_argument("--json", action="store_true", help="print the report as JSON on stdout")


def _read_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    status = command("status", "daemon, schedule, last sweep, running and per-project state")
    status.add_argument("--json", action="store_true", help="print it as JSON")

    schedule = command("schedule", "the next fire times in the configured zone")
    schedule.add_argument("-n", type=int, default=5, metavar="N", help="how many (default 5)")
    schedule.add_argument("--json", action="store_true", help="print them as JSON")

    report = command("report", "show a sweep's report (default: the latest)")
    report.add_argument("run_id", nargs="?", metavar="RUN_ID", help="a run id or a unique prefix")
    report.add_argument("--json", action="store_true", help="print report.json")
    report.add_argument(
        "--html",
        action="store_true",
        help="print the path of the sweep's report.html (made now if the run has none)",
    )
    report.add_argument(
        "--open", action="store_true", help="open report.html with the desktop's opener (--html)"
    )

    history = command(
        "history", "the projects x nights grid: how each project fared, night by night"
    )
    history.add_argument(
        "--nights", type=int, default=14, metavar="N", help="how many nights (default 14)"
    )
    history.add_argument("--project", metavar="NAME", help="only this project")
    history.add_argument(
        "--until", metavar="DATE", help="the last night shown, YYYY-MM-DD (default today)"
    )
    history.add_argument("--json", action="store_true", help="print it as JSON")

    doctor = command("doctor", "check now what would fail tonight, in the daemon's environment")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")


def _log_options(log: argparse.ArgumentParser) -> None:
    log.usage = "agentd log [-h] [--run RUN_ID] [-f] [RUN_ID] PROJECT [TASK]"
    log.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help="[RUN_ID] PROJECT [TASK]: with two, the first is a run id when one matches "
        "(else PROJECT TASK); default run: the latest with a log of the project",
    )
    log.add_argument("--run", metavar="RUN_ID", help="the run (an id or a unique prefix)")
    log.add_argument(
        "-f", "--follow", action="store_true", help="follow the log until the task ends"
    )


def _config_actions(cfg: argparse.ArgumentParser) -> None:
    actions = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help_text, description=help_text)
        _global_options(p)
        return p

    check = action("check", "validate the configuration; exit 0 or 2")
    check.add_argument("--deep", action="store_true", help="then run `agentd doctor`'s checks")
    action("show", "print the resolved configuration as TOML, secrets masked")
    init = action("init", "write a commented starter file; never overwrites")
    init.add_argument("path", nargs="?", metavar="PATH", help="where to write it")
    init.add_argument(
        "--system",
        action="store_true",
        help="write /etc/agentd/config.toml (0640, group agentd) for a system install",
    )
    where = action("path", "which config file and state directory the commands use, and why")
    where.add_argument("--json", action="store_true", help="print it as JSON")


def _state_actions(state: argparse.ArgumentParser) -> None:
    actions = state.add_subparsers(dest="state_command", metavar="ACTION", required=True)
    for name, help_text in (
        ("migrate", "create or migrate the PostgreSQL schema to this agentd's version"),
        ("import", "copy a JSON state directory's history, skip guard and ledger into PostgreSQL"),
    ):
        p = actions.add_parser(name, help=help_text, description=help_text)
        _global_options(p)
        if name == "import":
            p.add_argument("directory", metavar="DIR", help="the state directory to copy")


def main(argv: Sequence[str] | None = None) -> int:
    # SIGINT already has its default action back: agentd.daemon.cli.entry, the console script's
    # module (and `python -m daemon`'s), sees to it before this module is imported.
    _open_standard_streams()
    args = build_parser().parse_args(argv)
    for option in ("config", "state_dir", "log_level", "log_format"):
        if not hasattr(args, option):
            setattr(args, option, None)
    try:
        return _handler(args)(args)
    except UsageError as exc:
        print(f"agentd: {harmless(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # `agentd report | head`: the reader left, after what it wanted; not an error.
        # (`run --once` keeps its sweep's own status: its output never raises this.)
        discard_stdout()
        return EXIT_OK


def _open_standard_streams() -> None:
    """Started with stdin, stdout or stderr closed (``agentd run --once >&-``), the next
    file agentd opens would take that number, and a print would land in a lock or state
    file. /dev/null takes their place instead; output to them is simply discarded."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:  # a lower one was closed too and took it; the loop fixes that
                os.dup2(null, fd)
                os.close(null)
            if getattr(sys, name) is None:
                mode = "r" if fd == 0 else "w"
                setattr(sys, name, open(fd, mode, closefd=False))  # noqa: SIM115 - lives on


# command -> (module, function): a command's module is imported only when it runs, which
# keeps `agentd --help` and the read commands from loading what they do not use.
_HANDLERS = {
    "run": ("cmd_run", "run_command"),
    "status": ("cmd_status", "status_command"),
    "schedule": ("cmd_status", "schedule_command"),
    "report": ("cmd_report", "report_command"),
    "history": ("cmd_history", "history_command"),
    "doctor": ("cmd_doctor", "doctor_command"),
    "log": ("cmd_log", "log_command"),
    "config": ("cmd_config", "config_command"),
    "state": ("cmd_state", "state_command"),
}


def _handler(args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    import importlib

    module, function = _HANDLERS[args.command]
    handler: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(f"agentd.daemon.cli.{module}"), function
    )
    return handler
