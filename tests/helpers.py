"""What the tests share besides fixtures: paths, the scratch workspace, polling helpers.

Imported as a module (``from tests.helpers import ...``) rather than from conftest.py,
which pytest loads by its own rules: conftest.py holds only the fixtures built on these.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEST_BIN = Path(__file__).resolve().parent / "bin"
EXAMPLES_BIN = ROOT / "examples" / "bin"
AGENTD = str(Path(sys.executable).parent / "agentd")
DEADLINE = 60.0  # generous: the test machines are small and shared


@dataclass
class Workspace:
    """A directory holding config.toml, project directories and the state directory."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def records(self) -> Path:
        return self.root / "records.jsonl"

    def write_config(self, text: str) -> Path:
        self.config.write_text(textwrap.dedent(text))
        return self.config

    def project_dirs(self, *names: str) -> None:
        for name in names:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def run(
        self, *args: str, timeout: float = DEADLINE, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AGENTD, *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,
        )

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [AGENTD, *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def fast_daemon(self) -> subprocess.Popen[str]:
        """The daemon (``agentd run``) of this configuration, each of its fires two seconds
        apart (tests/service/fastfires.py); the caller reaps it."""
        from tests.service.fastfires import EVERY_2S

        return subprocess.Popen(
            [*EVERY_2S, "run", "--config", str(self.config)],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def once(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.run("run", "--once", "--config", str(self.config), *args, **kw)

    def once_json(self, *args: str) -> tuple[int, dict[str, Any]]:
        proc = self.once("--json", *args)
        assert proc.stdout, proc.stderr
        return proc.returncode, json.loads(proc.stdout)

    def read_records(self) -> list[dict[str, Any]]:
        if not self.records.exists():
            return []
        return [json.loads(line) for line in self.records.read_text().splitlines()]

    def intervals(self) -> dict[str, tuple[float, float]]:
        """label -> (start, end) from the recorder script."""
        starts: dict[str, float] = {}
        out: dict[str, tuple[float, float]] = {}
        for rec in self.read_records():
            if rec["event"] == "start":
                starts[rec["label"]] = rec["t"]
            else:
                out[rec["label"]] = (starts[rec["label"]], rec["t"])
        return out

    def state_doc(self) -> dict[str, Any]:
        """The state as agentd sees it (state.json and its journal); {} before it exists."""
        from agentd.state import JsonFileStore

        if not (self.state / "state.json").exists():
            return {}
        return dict(JsonFileStore(self.state).read().doc)


def workspace_env(root: Path) -> dict[str, str]:
    """The environment of a workspace's agentd: nothing of the caller's agentd, XDG or
    systemd settings leaks in, and the test scripts (tests/bin, examples/bin) are on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AGENTD_", "XDG_", "NOTIFY_", "WATCHDOG_"))
        and k not in ("STATE_DIRECTORY", "CONFIGURATION_DIRECTORY")
    }
    env["PATH"] = f"{TEST_BIN}:{EXAMPLES_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env["RECORD_FILE"] = str(root / "records.jsonl")
    env["HOME"] = str(root / "home")
    env["XDG_CONFIG_HOME"] = str(root / "xdg-config")
    env["XDG_STATE_HOME"] = str(root / "xdg-state")
    env["AGENTD_STATE_DIR"] = str(root / "state")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def kill_leftovers(marker: bytes) -> None:
    """SIGKILL every process whose environment holds ``marker`` (a test's RECORD_FILE):
    a failing test must not leave SIGTERM-ignoring task processes running for minutes."""
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if marker in handle.read().split(b"\0"):
                    os.kill(int(name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def wait_for(
    predicate: Callable[[], Any], timeout: float = DEADLINE, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def process_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] in "ZX"


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    # Ends sort before starts at the same instant (-1 < 1): touching is not overlapping.
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def read_pty(master: int, proc: subprocess.Popen[bytes]) -> bytes:
    """All a process wrote to its terminal (the pty's ``master`` side), until it closed it
    or exited, within DEADLINE."""
    out = b""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        out += chunk
    return out
