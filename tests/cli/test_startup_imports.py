"""The read commands load only what they use (issue 11, item 5).

What makes them slow to start is importing what only the daemon and the sweep need:
pydantic-settings, structlog (and the rich it pulls in), APScheduler, filelock. Each
command runs here in its own process through a small launcher that records which modules
were imported by the time it returned; the test asserts on those names, never on time
(BENCHMARKS.md, "Start-up of the read commands", has the figures).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import DEADLINE, Workspace

# Runs the console script's entry point as `agentd ARGS...`, then writes the names of the
# imported modules to the file named by $MODULES_OUT, whatever the command did.
LAUNCHER = """
import json, os, sys
from agentd.daemon.cli.entry import main
sys.argv = ["agentd", *sys.argv[1:]]
try:
    code = main()
except SystemExit as exc:
    code = exc.code
finally:
    with open(os.environ["MODULES_OUT"], "w") as out:
        json.dump(sorted(sys.modules), out)
raise SystemExit(code)
"""

# None of these serves a command that only reads.
NEVER = (
    "pydantic_settings",
    "structlog",
    "rich",
    "apscheduler",
    "filelock",
    "agentd.daemon.service.daemon",
    "agentd.daemon.sweep.engine",
    "agentd.daemon.sweep.executor",
)


def _modules(ws: Workspace, *args: str) -> set[str]:
    out = ws.root / "modules.json"
    out.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *args],
        cwd=ws.root,
        env={**ws.env, "MODULES_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(out.read_text()))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


@pytest.fixture
def swept(ws: Workspace) -> Workspace:
    """A valid configuration and one finished sweep, so every read command has something
    to show and exits 0."""
    ws.project_dirs("p")
    ws.write_config(
        """
        [tasks.t]
        command = ["true"]
        [[projects]]
        name = "p"
        path = "p"
        tasks = ["t"]
        """
    )
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    ws.env["AGENTD_CONFIG"] = str(ws.config)
    return ws


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("status", "--json"),
        ("schedule",),
        ("config", "check"),
        ("report",),
        ("log", "p"),
        ("history",),
        ("history", "--json"),
    ],
)
def test_a_read_command_loads_nothing_of_the_daemon_or_its_logging(
    swept: Workspace, args: tuple[str, ...]
) -> None:
    modules = _modules(swept, *args)
    assert "agentd.daemon.cli.main" in modules  # the launcher did run the command
    assert _loaded(modules, NEVER) == []


def test_commands_that_load_the_file_load_only_its_schema_not_pydantic_settings(
    swept: Workspace,
) -> None:
    modules = _modules(swept, "config", "check", "--config", str(swept.config))
    assert "agentd.config.loader" in modules
    assert _loaded(modules, ("pydantic_settings",)) == []


def test_report_with_its_state_directory_given_loads_no_schema(swept: Workspace) -> None:
    # The workspace names the state directory ($AGENTD_STATE_DIR): the file is not read.
    env = dict(swept.env)
    del env["AGENTD_CONFIG"]
    swept.env = env
    modules = _modules(swept, "report", "--json")
    assert "agentd.daemon.cli.cmd_report" in modules
    assert _loaded(modules, ("pydantic", "pydantic_core", "agentd.config.model")) == []


def test_help_loads_no_configuration_at_all(swept: Workspace) -> None:
    modules = _modules(swept, "--help")
    assert _loaded(modules, ("pydantic", "agentd.config", *NEVER)) == []


def test_a_sweep_off_a_terminal_loads_no_rich(swept: Workspace) -> None:
    """structlog imports rich for its console's exception format when it can (agentd/slog.py
    keeps it from doing so); off a terminal nothing draws with rich either, so a sweep
    under systemd or cron never pays for it."""
    modules = _modules(swept, "run", "--once")
    assert "agentd.daemon.sweep.engine" in modules
    assert "structlog.dev" in modules
    assert _loaded(modules, ("rich",)) == []


def test_the_console_log_formats_a_crash_without_rich(swept: Workspace) -> None:
    """The console's exception format is chosen, not whatever structlog found first."""
    code = (
        "import sys, logging\n"
        "import rich.console\n"  # rich first: structlog would pick it up by itself
        "from agentd.daemon.output import logs\n"
        "from agentd.slog import structlog\n"
        "sys.stderr.isatty = lambda: True\n"
        "logs.configure('info', 'console')\n"
        "try:\n"
        "    raise RuntimeError('boom')\n"
        "except RuntimeError:\n"
        "    structlog.get_logger('t').exception('crashed')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=DEADLINE
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback (most recent call last):" in proc.stderr
    assert "RuntimeError: boom" in proc.stderr
    assert "╭" not in proc.stderr  # rich's framed traceback
