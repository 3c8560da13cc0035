"""Every validation rule of SPEC section 2: exit 2, the place named, nothing run or written."""

from __future__ import annotations

import pytest

from tests.helpers import Workspace

BASE = """
[schedule]
cron = "30 2 * * *"
[run]
max_parallel_projects = 2
[tasks.lint]
command = ["record", "lint", "0"]
[tasks.triage]
agent = "claude"
prompt = "look at {project}"
[[projects]]
name = "api"
path = "api"
tasks = ["lint"]
[[projects]]
name = "web"
path = "web"
tasks = ["lint"]
depends_on = ["api"]
"""

CASES = [
    # (id, replace, with, expected place, expected words)
    ("unknown top-level key", "[schedule]", "colour = 1\n[schedule]", "colour", "unknown key"),
    (
        "unknown key in a section",
        "max_parallel_projects = 2",
        "max_paralel_projects = 2",
        "run.max_paralel_projects",
        "did you mean 'max_parallel_projects'",
    ),
    (
        "unknown key in a task table",
        'command = ["record", "lint", "0"]',
        'command = ["record", "lint", "0"]\ntimout = "1m"',
        "tasks.lint.timout",
        "unknown key",
    ),
    (
        "unknown key in a project",
        'name = "web"',
        'name = "web"\ndepends = []',
        "projects[web].depends",
        "unknown key",
    ),
    (
        "unknown key in an agent table",
        "[tasks.lint]",
        '[agents.mine]\ncommand = ["x", "{prompt}"]\nflags = 1\n[tasks.lint]',
        "agents.mine.flags",
        "unknown key",
    ),
    (
        "wrong type: string for an integer",
        "max_parallel_projects = 2",
        'max_parallel_projects = "2"',
        "run.max_parallel_projects",
        "valid integer",
    ),
    (
        "wrong type: string for a boolean",
        "max_parallel_projects = 2",
        'project_parallelism = "yes"',
        "run.project_parallelism",
        "valid boolean",
    ),
    (
        "wrong type: string for a list",
        'tasks = ["lint"]\ndepends_on',
        'tasks = "lint"\ndepends_on',
        "projects[web].tasks",
        "valid list",
    ),
    (
        "wrong type: number for a duration",
        "max_parallel_projects = 2",
        "task_timeout = 30",
        "run.task_timeout",
        "duration string",
    ),
    (
        "bad duration",
        "max_parallel_projects = 2",
        'kill_grace = "soon"',
        "run.kill_grace",
        "not a duration",
    ),
    (
        "zero bound",
        "max_parallel_projects = 2",
        "max_parallel_projects = 0",
        "run.max_parallel_projects",
        "at least 1",
    ),
    (
        "negative cap",
        "max_parallel_projects = 2",
        "max_projects = -1",
        "run.max_projects",
        "at least 0",
    ),
    ("zero keep_runs", "max_parallel_projects = 2", "keep_runs = 0", "run.keep_runs", "at least 1"),
    (
        "zero timeout",
        "max_parallel_projects = 2",
        'task_timeout = "0s"',
        "run.task_timeout",
        "more than 0s",
    ),
    (
        "cron: minute out of range",
        '"30 2 * * *"',
        '"61 2 * * *"',
        "schedule.cron",
        "61 is outside 0-59",
    ),
    ("cron: four fields", '"30 2 * * *"', '"30 2 * *"', "schedule.cron", "has 4 fields"),
    (
        "cron: bad name",
        '"30 2 * * *"',
        '"30 2 * * funday"',
        "schedule.cron",
        "'funday' is not a value",
    ),
    (
        "cron: unknown shortcut",
        '"30 2 * * *"',
        '"@fortnightly"',
        "schedule.cron",
        "unknown shortcut",
    ),
    (
        "time zone",
        'cron = "30 2 * * *"',
        'cron = "30 2 * * *"\ntimezone = "Europe/Atlantis"',
        "schedule.timezone",
        "unknown time zone",
    ),
    (
        "task with none of command/shell/agent",
        'command = ["record", "lint", "0"]',
        'timeout = "1m"',
        "tasks.lint",
        "found none",
    ),
    (
        "task with two of command/shell/agent",
        'command = ["record", "lint", "0"]',
        'command = ["record", "lint", "0"]\nshell = "true"',
        "tasks.lint",
        "found command and shell",
    ),
    (
        "unknown agent",
        'agent = "claude"',
        'agent = "claud"',
        "tasks.triage.agent",
        "unknown agent 'claud'",
    ),
    (
        "project naming an unknown task",
        'tasks = ["lint"]\ndepends_on',
        'tasks = ["lint", "deploy"]\ndepends_on',
        "projects[web].tasks[1]",
        "unknown task 'deploy'",
    ),
    (
        "project naming an unknown project",
        'depends_on = ["api"]',
        'depends_on = ["apii"]',
        "projects[web].depends_on[0]",
        "unknown project 'apii'",
    ),
    (
        "duplicate project names",
        'name = "web"',
        'name = "api"',
        "projects[1].name",
        "duplicate project name 'api'",
    ),
    (
        "dependency cycle",
        'path = "api"\ntasks = ["lint"]',
        'path = "api"\ntasks = ["lint"]\ndepends_on = ["web"]',
        "projects[api].depends_on",
        "dependency cycle api -> web -> api",
    ),
    (
        "TOML syntax error",
        "max_parallel_projects = 2",
        "max_parallel_projects = = 2",
        "",
        "line 5, column",
    ),
    (
        # tomllib says [run] is declared twice; the hint says why.
        "a table header without its ]",
        "[tasks.triage]",
        "[run\n[tasks.triage]",
        "",
        "line 8: `[run` has no closing `]`",
    ),
    # Issue 10: names that pass as text but fail as file names or on a terminal.
    (
        "a project name too long for a file name (100 emoji are 400 bytes)",
        'name = "web"',
        'name = "' + "\U0001f600" * 100 + '"',
        "projects[1].name",
        "is 400 bytes in UTF-8; at most 200 fit in a file name",
    ),
    (
        "a task name too long for a file name",
        "[tasks.lint]",
        '[tasks."' + "€" * 70 + '"]\ncommand = ["true"]\n[tasks.lint]',
        "tasks",
        "is 210 bytes in UTF-8; at most 200 fit in a file name",
    ),
    (
        "a project named like the alert file of its run directory",
        'name = "web"',
        'name = "alert.json"',
        "projects[alert.json].name",
        "project name 'alert.json' is reserved",
    ),
    (
        "a project named like the alert command's log",
        'name = "web"',
        'name = "alert-command.log"',
        "projects[alert-command.log].name",
        "project name 'alert-command.log' is reserved",
    ),
    (
        "an escape sequence in a name",
        'name = "web"',
        'name = "web\\u001b]0;owned\\u0007"',
        "projects[1].name",
        "must not contain '/', '\\', control characters or text-direction marks",
    ),
    (
        "a text-direction mark in a name",
        'name = "web"',
        'name = "web\\u202egpj.exe"',
        "projects[1].name",
        "text-direction marks",
    ),
    (
        "a prompt longer than the kernel passes as one argument",
        'prompt = "look at {project}"',
        'prompt = "' + "x" * 140_000 + '"',
        "tasks.triage.prompt",
        "the kernel passes no argument or environment string longer than 131,072 bytes",
    ),
    (
        "an env value longer than the kernel passes",
        'path = "api"',
        'path = "api"\nenv = { BIG = "' + "y" * 140_000 + '" }',
        "projects[api].env",
        "BIG=<value> is 140,004 bytes",
    ),
    (
        "a command element longer than the kernel passes",
        'command = ["record", "lint", "0"]',
        'command = ["record", "' + "z" * 140_000 + '", "0"]',
        "tasks.lint.command",
        "the kernel passes no argument",
    ),
    (
        "a log size without a unit",
        "max_parallel_projects = 2",
        "max_parallel_projects = 2\nmax_log_size = 1000000",
        "run.max_log_size",
        "expected a size string such as '512KiB', '100MiB' or '2GB'",
    ),
    (
        "a log size too small to keep anything",
        'command = ["record", "lint", "0"]',
        'command = ["record", "lint", "0"]\nmax_log_size = "1KiB"',
        "tasks.lint.max_log_size",
        "must be at least 64KiB",
    ),
]


@pytest.mark.parametrize(
    ("replace", "with_", "place", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_rule_exits_2_naming_the_place_and_writes_nothing(
    ws: Workspace, replace: str, with_: str, place: str, words: str
) -> None:
    assert replace in BASE
    ws.project_dirs("api", "web")
    ws.write_config(BASE.replace(replace, with_, 1))
    proc = ws.once()
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr
    if place:
        assert f"  {place}: " in proc.stderr
    assert str(ws.config) in proc.stderr
    assert not ws.state.exists(), "a config error must not write the state directory"
    assert not ws.records.exists(), "a config error must not run anything"
    assert "Traceback" not in proc.stderr


def test_the_base_config_is_valid(ws: Workspace) -> None:
    ws.project_dirs("api", "web")
    ws.write_config(BASE)
    proc = ws.run("config", "check", "--config", str(ws.config))
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_every_problem_is_reported_at_once(ws: Workspace) -> None:
    ws.write_config(
        BASE.replace("max_parallel_projects = 2", 'max_parallel_projects = 0\ntask_timeout = "x"')
        .replace('agent = "claude"', 'agent = "nobody"')
        .replace('depends_on = ["api"]', 'depends_on = ["ghost"]')
        .replace('"30 2 * * *"', '"99 * * * *"')
    )
    proc = ws.run("config", "check", "--config", str(ws.config))
    assert proc.returncode == 2
    assert "5 problems" in proc.stderr
    for place in (
        "schedule.cron",
        "run.max_parallel_projects",
        "run.task_timeout",
        "tasks.triage.agent",
        "projects[web].depends_on[0]",
    ):
        assert f"  {place}: " in proc.stderr


def test_env_override_with_a_bad_value_names_the_variable(ws: Workspace) -> None:
    ws.write_config(BASE)
    ws.env["AGENTD_RUN__MAX_PARALLEL_PROJECTS"] = "many"
    proc = ws.run("config", "check", "--config", str(ws.config))
    assert proc.returncode == 2
    assert "run.max_parallel_projects" in proc.stderr
    assert "AGENTD_RUN__MAX_PARALLEL_PROJECTS" in proc.stderr


def test_a_missing_config_file_names_the_path(ws: Workspace) -> None:
    proc = ws.once()
    assert proc.returncode == 2
    assert str(ws.config) in proc.stderr
    assert "no such file" in proc.stderr
    assert not ws.state.exists()


def test_placeholders_in_shell_strings_are_refused(ws: Workspace) -> None:
    ws.write_config(BASE.replace('command = ["record", "lint", "0"]', 'shell = "echo {project}"'))
    proc = ws.run("config", "check", "--config", str(ws.config))
    assert proc.returncode == 2
    assert "tasks.lint.shell" in proc.stderr
    assert "$AGENTD_PROJECT" in proc.stderr


def test_env_overrides_outside_the_scalar_sections_are_refused(ws: Workspace) -> None:
    ws.write_config(BASE)
    ws.env["AGENTD_TASKS__LINT"] = "x"
    ws.env["AGENTD_COLOUR__DEPTH"] = "8"
    proc = ws.run("config", "check", "--config", str(ws.config))
    assert proc.returncode == 2
    for name in ("AGENTD_TASKS__LINT", "AGENTD_COLOUR__DEPTH"):
        assert f"  {name}: only keys of [schedule], [run], [paths], [log]" in proc.stderr


def test_a_state_directory_that_cannot_be_created_is_exit_2(ws: Workspace) -> None:
    ws.project_dirs("api", "web")
    ws.write_config(BASE)
    blocker = ws.root / "blocker"
    blocker.write_text("a file where a directory would go")
    proc = ws.once("--state-dir", str(blocker / "state"))
    assert proc.returncode == 2
    assert f"cannot create state directory {blocker / 'state'}" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("line", "place"),
    [
        ('max_parallel_projects = "2"', "run.max_parallel_projects"),
        ("max_parallel_projects = 2.0", "run.max_parallel_projects"),
        ("max_parallel_projects = true", "run.max_parallel_projects"),
        ('project_parallelism = "true"', "run.project_parallelism"),
        ("project_parallelism = 1", "run.project_parallelism"),
        ('keep_runs = "30"', "run.keep_runs"),
        ('on_task_failure = ["stop"]', "run.on_task_failure"),
    ],
)
def test_values_a_lax_parser_would_coerce_are_refused(ws: Workspace, line: str, place: str) -> None:
    """TOML has types; "2" for 2 or 1 for true is a mistake to report, not to guess at."""
    ws.write_config(BASE.replace("max_parallel_projects = 2", line))
    proc = ws.run("config", "check", "--config", str(ws.config))
    assert proc.returncode == 2, proc.stdout
    assert f"  {place}: " in proc.stderr
