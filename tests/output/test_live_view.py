"""The live view of ``agentd run --once`` in a real terminal: tmux runs agentd in a pane of
120x40 and ``capture-pane`` reads the screen and its scrollback, as a person would see them.

Each test starts its own tmux server on a private socket (``tmux -L``) and kills it at the
end. The screen is read while the sweep runs (waiting on its content, with a deadline) and
once agentd has exited (it writes its exit status to a file the test waits for).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentd.daemon.model.results import ProjectResult, TaskResult
from agentd.daemon.output.progress import Observer
from agentd.daemon.sweep import task as task_module
from agentd.daemon.sweep.engine import SweepRequest, run_sweep
from agentd.daemon.tasks.stop import StopToken
from agentd.state import JsonFileStore
from tests.builders import cmd, load, proj, recording, sh, write_config
from tests.helpers import AGENTD, DEADLINE, Workspace, wait_for

needs_tmux = pytest.mark.skipif(
    shutil.which("tmux") is None,
    reason="tmux is not installed: the live view is checked in a real terminal that tmux "
    "provides (CI installs it in .ci/run)",
)

# What a structlog record looks like on a console or as JSON: none may reach the screen.
RECORD_MARKS = ("[info", "[debug", "event=", '"event":', "sweep.start", "project.start")


class Pane:
    """agentd in a tmux pane of its own server; ``screen`` is what the pane shows."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.socket = f"agentd-test-{uuid.uuid4().hex[:12]}"
        self.status = ws.root / "exit-status"

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            env=self.ws.env,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        assert done.returncode == 0, f"tmux {args[0]}: {done.stderr}"
        return done.stdout

    def start(self, *args: str, stderr: Path | None = None) -> None:
        line = shlex.join([AGENTD, "run", "--once", "--config", str(self.ws.config), *args])
        if stderr is not None:
            line += f" 2>{shlex.quote(str(stderr))}"
        # The pane's shell stays (sleep) so that the screen can be read after agentd ends.
        status = shlex.quote(str(self.status))
        script = f"{line}; echo $? >{status}.new; mv {status}.new {status}; exec sleep 3600"
        self.tmux("new-session", "-d", "-x", "120", "-y", "40", "-c", str(self.ws.root), script)

    def screen(self, scrollback: bool = False) -> str:
        return self.tmux("capture-pane", "-p", *(["-S", "-"] if scrollback else []))

    def wait_screen(self, *words: str, what: str) -> str:
        def shown() -> str | None:
            text = self.screen()
            return text if all(w in text for w in words) else None

        return str(wait_for(shown, DEADLINE, what))

    def finished(self) -> tuple[int, str]:
        """agentd's exit status, and the whole pane with its scrollback."""
        wait_for(self.status.exists, DEADLINE, "agentd to exit")
        return int(self.status.read_text()), self.screen(scrollback=True)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def pane(ws: Workspace) -> Iterator[Pane]:
    one = Pane(ws)
    yield one
    one.kill()


def _keep(screen: str, name: str) -> None:
    """The capture, for a person to read when a test fails (pytest's tmp_path keeps it)."""
    Path(name).write_text(screen)


def _records_on(screen: str) -> list[str]:
    return [line for line in screen.splitlines() if any(m in line for m in RECORD_MARKS)]


@needs_tmux
def test_a_sweep_on_a_terminal_shows_no_log_records_and_each_warning_once(
    ws: Workspace, pane: Pane
) -> None:
    tasks = {"lint": recording("{project}-lint"), "build": recording("{project}-build")}
    tasks["test"] = sh("echo 'not ok 1'; exit 3")
    names = [f"repo{i:02d}" for i in range(1, 9)]
    projects = [proj(n, "lint", "test" if i % 3 == 0 else "build") for i, n in enumerate(names)]
    write_config(
        ws,
        tasks,
        projects,
        run={"project_parallelism": True, "max_parallel_projects": 3},
        log={"level": "info", "format": "auto"},
        # A real error while the view is up: the alert command fails.
        notify={"command": ["false"]},
    )
    # A real warning before it: the state directory is made private again.
    ws.state.mkdir(mode=0o755)
    ws.state.chmod(0o755)
    pane.start()
    status, screen = pane.finished()
    _keep(screen, str(ws.root / "screen.txt"))
    assert status == 1
    assert _records_on(screen) == [], screen
    assert screen.count("state_dir.permissions_changed") == 1, screen
    assert screen.count("alert.failed") == 1, screen
    # The failures are the summary's: said once, by it, not by their records as well.
    assert "task.finish" not in screen
    for name in names[::3]:
        assert screen.count(f"{name}/test: failed: exit status 3") == 1, screen
    for name in names:
        assert name in screen
    assert "report:" in screen


@needs_tmux
def test_the_counters_count_a_failed_task_before_its_project_ends(
    ws: Workspace, pane: Pane
) -> None:
    go = ws.root / "go"
    tasks = {
        "bad": cmd("false"),
        "hold": sh(f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.05; done"),
    }
    write_config(ws, tasks, [proj("p", "bad", "hold")], log={"level": "info"})
    pane.start()
    view = pane.wait_screen("hold (2/2)", "failed 1", what="the failure counted in the view")
    _keep(view, str(ws.root / "view.txt"))
    assert "agentd sweep" in view
    assert "projects running 1  done 0  waiting 0    tasks ok 0  failed 1" in view
    # The view's footer has the warning the failure logged, in one line.
    assert "warning  task.finish  p/bad  status=failed" in view
    assert _records_on(view) == [], view
    go.touch()
    status, screen = pane.finished()
    _keep(screen, str(ws.root / "screen.txt"))
    assert status == 1
    assert "p/bad: failed: exit status 1" in screen
    assert "hold (2/2)" not in screen  # the view made way for the summary
    assert _records_on(screen) == [], screen
    assert "task.finish" not in screen, screen


@needs_tmux
def test_a_log_level_asked_for_on_the_command_line_is_shown(ws: Workspace, pane: Pane) -> None:
    write_config(ws, {"t": recording()}, [proj("p", "t")], log={"level": "warning"})
    pane.start("--log-level", "info")
    status, screen = pane.finished()
    assert status == 0
    assert "sweep.start" in screen, screen
    assert "task.finish" in screen, screen


@needs_tmux
def test_records_sent_to_a_file_go_there_not_onto_the_view(ws: Workspace, pane: Pane) -> None:
    write_config(ws, {"t": recording()}, [proj("p", "t")], log={"level": "info"})
    errors = ws.root / "stderr.log"
    pane.start(stderr=errors)
    status, screen = pane.finished()
    assert status == 0
    assert _records_on(screen) == [], screen
    assert "report:" in screen
    records = errors.read_text()
    # stderr is not a terminal: JSON lines, every one of them, as without a view.
    for event in ("sweep.start", "project.start", "task.finish", "sweep.finish"):
        assert f'"event": "{event}"' in records, records


class Heard(Observer):
    def __init__(self) -> None:
        self.ended: list[tuple[str, str, str]] = []

    def task_finished(self, project: str, result: TaskResult) -> None:
        self.ended.append((project, result.name, result.status))


def test_a_task_that_crashed_is_heard_as_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while running a task makes it an error: the view counts it then, like any
    task that ended, not when its project ends."""
    (tmp_path / "p").mkdir()
    config = load(tmp_path, {"one": cmd("true"), "two": cmd("true")}, [proj("p", "one", "two")])
    real = task_module._run_task

    def buggy(ctx: Any, planned: Any, task: str, problems: list[str], log: Any) -> Any:
        if task == "one":
            raise RuntimeError("injected")
        return real(ctx, planned, task, problems, log)

    monkeypatch.setattr(task_module, "_run_task", buggy)
    heard = Heard()
    state = tmp_path / "state"
    run_sweep(config, JsonFileStore(state), state, SweepRequest(), StopToken(), [heard])
    assert heard.ended == [("p", "one", "error"), ("p", "two", "ok")]


class Settled(Observer):
    def __init__(self) -> None:
        self.settled: list[tuple[str, str]] = []

    def project_settled(self, result: ProjectResult) -> None:
        self.settled.append((result.name, result.status))


def test_a_project_a_failed_dependency_skips_is_settled_at_once(tmp_path: Path) -> None:
    """Heard when its dependency fails, while other projects still run: a view counts it
    done then, not as waiting until the sweep ends."""
    for name in ("api", "web", "slow"):
        (tmp_path / name).mkdir()
    go = tmp_path / "go"
    tasks = {
        "bad": cmd("false"),
        "ok": cmd("true"),
        "hold": sh(f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.05; done"),
    }
    projects = [proj("api", "bad"), proj("web", "ok", depends_on=["api"]), proj("slow", "hold")]
    config = load(tmp_path, tasks, projects, run={"project_parallelism": True})
    heard = Settled()
    state = tmp_path / "state"
    sweep = threading.Thread(
        target=run_sweep,
        args=(config, JsonFileStore(state), state, SweepRequest(), StopToken(), [heard]),
    )
    sweep.start()
    try:
        wait_for(lambda: len(heard.settled) >= 2, DEADLINE, "api and web settled")
        assert heard.settled == [("api", "failed"), ("web", "skipped")]  # slow still runs
    finally:
        go.touch()
        sweep.join(DEADLINE)
    assert heard.settled[2:] == [("slow", "ok")]


@needs_tmux
def test_the_view_counts_a_skipped_project_done_and_its_row_counts_no_tasks(
    ws: Workspace, pane: Pane
) -> None:
    go = ws.root / "go"
    tasks = {
        "bad": cmd("sh", "-c", "exit 7"),
        "one": recording(),
        "two": recording(),
        "hold": sh(f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.05; done"),
    }
    projects = [
        proj("api", "bad"),
        proj("web", "one", "two", depends_on=["api"]),
        proj("slow", "hold"),
    ]
    write_config(ws, tasks, projects, run={"project_parallelism": True}, log={"level": "info"})
    pane.start()
    view = pane.wait_screen("hold (1/1)", "done 2", what="api failed and web skipped")
    _keep(view, str(ws.root / "view.txt"))
    assert "projects running 1  done 2 (1 skipped)  waiting 0" in view
    go.touch()
    status, screen = pane.finished()
    _keep(screen, str(ws.root / "screen.txt"))
    assert status == 1
    (report,) = (ws.state / "runs").glob("*/report.json")
    web = next(p for p in json.loads(report.read_text())["projects"] if p["name"] == "web")
    assert (web["status"], web["tasks"]) == ("skipped", [])  # the report counts no task
    row = next(line for line in screen.splitlines() if "│ web" in line)
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[:5] == ["web", "skipped", "", "", ""], row
