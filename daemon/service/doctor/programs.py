"""Each task's program and each agent CLI, looked up as tonight's sweep will run them.

A task's argv and environment are built by the code the sweep uses (``task_argv``,
``base_env``, ``task_env``), so the PATH searched here is the task's own: the daemon's,
``[run] env`` and ``[run] path``, then the project's ``env``. A shell task needs /bin/sh
only; its script is not parsed. An agent CLI that is found is asked ``--version``,
bounded in time; what it prints is not ours and is shown made harmless.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from agentd.config import Config
from agentd.config.model import ProjectSpec
from agentd.daemon.output.textout import harmless
from agentd.daemon.service.doctor.check import Check, Level
from agentd.daemon.tasks.taskcmd import base_env, task_argv, task_env

VERSION_TIMEOUT = 10.0  # node CLIs take a second or two to start on a loaded host
_VERSION_CHARS = 80
SHELL = Path("/bin/sh")

# (check, name, level, message) -> the projects it holds for
Outcome = tuple[str, str, Level, str]  # check, task or agent, level, message


def program_checks(
    config: Config, projects: list[ProjectSpec], environ: Mapping[str, str]
) -> list[Check]:
    """One line per task (and per agent) and outcome; the projects are named when the
    outcome differs between them (a project's own PATH, a relative program)."""
    base = base_env(environ, config.settings.run)
    found: dict[Outcome, list[str]] = defaultdict(list)
    users: dict[tuple[str, str], list[str]] = defaultdict(list)
    versions: dict[Path, tuple[Level, str]] = {}
    for spec in projects:
        for task in config.task_names(spec):
            check, name, level, message = _task(config, spec, task, base, versions)
            found[check, name, level, message].append(spec.name)
            users[check, name].append(spec.name)
    return [
        Check(check, _subject(name, where, users[check, name]), level, harmless(message))
        for (check, name, level, message), where in found.items()
    ]


def _subject(name: str, where: list[str], users: list[str]) -> str:
    if where == users:
        return harmless(name)
    return harmless(f"{name} in {', '.join(where)}")


def _task(
    config: Config,
    spec: ProjectSpec,
    task: str,
    base: Mapping[str, str],
    versions: dict[Path, tuple[Level, str]],
) -> Outcome:
    kind = config.task(task)
    if kind.shell is not None:
        if os.access(SHELL, os.X_OK):
            return "shell", task, "ok", f"{SHELL} runs it (the script itself is not checked)"
        return "shell", task, "problem", f"{SHELL} does not exist or cannot be run"
    cwd = config.project_dir(spec)
    values = {
        "project": spec.name,
        "project_dir": str(cwd),
        "run_id": "doctor",
        "date": date.today().isoformat(),
    }
    argv = task_argv(config, task, values)
    path = task_env(base, spec.env, values, task).get("PATH") or os.defpath
    where = _resolve(argv[0], path, cwd)
    check, name = ("agent", kind.agent) if kind.agent is not None else ("program", task)
    if where is None:
        searched = f" on the tasks' PATH ({path})"
        if "/" in argv[0]:
            relative = not os.path.isabs(argv[0])
            searched = f" (relative to the project's directory, {cwd})" if relative else ""
        return check, name, "problem", f"{argv[0]!r} not found{searched}"
    if kind.agent is None:
        return check, name, "ok", harmless(str(where))
    if where not in versions:
        versions[where] = _version(where, {**base, "PATH": path})
    level, text = versions[where]
    return check, name, level, f"{where}: {text}"


def _resolve(program: str, path: str, cwd: Path) -> Path | None:
    """Where execvp would find ``program``: relative to the task's directory when it
    names a path, else on ``path``."""
    if "/" in program:
        candidate = Path(program) if os.path.isabs(program) else cwd / program
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        return None
    found = shutil.which(program, path=path)
    return Path(found) if found else None


def _version(program: Path, env: Mapping[str, str]) -> tuple[Level, str]:
    """(level, text) from ``program --version``: its first line, or why there is none. A
    CLI that cannot start at all (its interpreter missing from PATH: exit 126 or 127) will
    not start tonight either."""
    try:
        code, out = _bounded([str(program), "--version"], env)
    except OSError as exc:
        return "problem", f"cannot be run: {exc.strerror or exc}"
    except subprocess.TimeoutExpired:
        return "warning", f"`--version` gave no answer in {VERSION_TIMEOUT:.0f} s"
    first = next((line.strip() for line in out.splitlines() if line.strip()), "")
    text = harmless(first[:_VERSION_CHARS]) or "(no output)"
    if code == 0:
        return "ok", text
    if code in (126, 127):
        return "problem", f"cannot start (exit status {code}): {text}"
    return "warning", f"`--version` exited with status {code}: {text}"


def _bounded(argv: list[str], env: Mapping[str, str]) -> tuple[int, str]:
    """Run ``argv`` in a session of its own, so that a timeout kills whatever it started
    too (a wrapper's node process would otherwise hold the pipe open)."""
    proc = subprocess.Popen(
        argv,
        env=dict(env),
        cwd="/",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=VERSION_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return proc.returncode, out.decode("utf-8", "replace")
