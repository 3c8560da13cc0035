"""Hosts that really look like different machines, on this one: each is a UTS and PID
namespace of its own (``unshare --uts --pid --fork --mount-proc``) with its own hostname,
its own process 1 (tests/hosts/bin/hostinit) and its own state directory, and every agentd
of a host is started inside its namespaces with ``nsenter``. So a host sees only its own
processes in /proc (as agentd's orphan search does), names itself by its hostname in
claims, and dies whole, tasks and all, when its process 1 is killed: a machine that lost
its power. The hosts share the workspace's files (config, project directories, the trace)
and one PostgreSQL database, as hosts share a network file system and a server.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import AGENTD, DEADLINE, process_gone, wait_for

HERE = Path(__file__).resolve().parent
BIN = HERE / "bin"


def namespaces_missing() -> str | None:
    """Why this machine cannot make a host's namespaces, or None when it can."""
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "--uts", "--pid", "--fork", "--mount-proc", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot make UTS and PID namespaces here: {probe.stderr.strip()}"
    return None


def require_namespaces() -> None:
    """Skip, saying why, where namespaces cannot be made; on CI that is a failure."""
    why = namespaces_missing()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the several-hosts tests need namespaces on CI: {why}")
    pytest.skip(f"several-hosts tests skipped: {why}")


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(word) for word in text.split()]


@dataclass
class Agentd:
    """One agentd process started on a host (through nsenter, whose child it is)."""

    host: str
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        """agentd's pid as this test sees it (outside the host's PID namespace)."""
        found: list[int] = wait_for(lambda: children(self.proc.pid), what=f"agentd on {self.host}")
        return found[0]

    def wait(self, timeout: float = DEADLINE) -> int:
        return self.proc.wait(timeout=timeout)

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def report(self) -> dict[str, Any]:
        """The ``--json`` report it printed (it must have printed one)."""
        assert self.stdout, f"{self.host}: no report printed; stderr:\n{self.stderr}"
        found: dict[str, Any] = json.loads(self.stdout)
        return found

    def kill(self) -> None:
        """SIGKILL agentd alone: its tasks run on, reparented to the host's process 1."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: process_gone(pid), what=f"agentd on {self.host} to die")
        self.wait()


@dataclass
class Host:
    name: str
    root: Path  # the host's own files: its state directory, agentd's output
    env: dict[str, str]
    init: subprocess.Popen[bytes] | None = None
    init_pid: int = 0  # the host's process 1, as this test sees it
    started: int = 0
    runs: list[Agentd] = field(default_factory=list)

    @property
    def state(self) -> Path:
        return self.root / "state"

    def boot(self) -> Host:
        """A new machine of this name: new namespaces, nothing of an earlier boot in them."""
        self.root.mkdir(parents=True, exist_ok=True)
        argv = ["unshare", "--uts", "--pid", "--fork", "--mount-proc"]
        self.init = subprocess.Popen(
            [*argv, sys.executable, str(BIN / "hostinit"), self.name],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            # unshare's own complaint when its namespace is killed under it is noise here
            stderr=subprocess.DEVNULL,
        )
        init = self.init
        assert init.stdout is not None
        ready, _, _ = select.select([init.stdout], [], [], DEADLINE)
        assert ready, f"{self.name} did not boot within {DEADLINE}s"
        assert init.stdout.readline() == b"ready\n", f"{self.name} did not boot"
        self.init_pid = wait_for(lambda: children(init.pid), what="process 1")[0]
        return self

    def start(self, *args: str) -> Agentd:
        """``agentd ARGS`` on this host, its output in files (a sweep's report may be more
        than a pipe holds while the test waits on another host)."""
        self.started += 1
        out = self.root / f"agentd-{self.started}.out"
        err = self.root / f"agentd-{self.started}.err"
        enter = ["nsenter", f"--target={self.init_pid}", "--uts", "--pid", "--mount"]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [*enter, f"--wd={self.env['WORKSPACE']}", "--", AGENTD, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        run = Agentd(self.name, proc, out, err)
        self.runs.append(run)
        return run

    def crash(self) -> None:
        """Power off: SIGKILL process 1, and with it every process of the host."""
        assert self.init is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.init_pid, signal.SIGKILL)
        self.init.wait(timeout=DEADLINE)
        for run in self.runs:
            run.wait()

    def shutdown(self) -> None:
        if self.init is not None and self.init.poll() is None:
            self.crash()


def make_hosts(root: Path, base_env: dict[str, str], names: list[str]) -> list[Host]:
    """Hosts ``names`` sharing the workspace ``root`` (not booted yet)."""
    hosts = []
    for name in names:
        env = dict(base_env)
        env["PATH"] = f"{BIN}:{env['PATH']}"
        env["HOSTS_TRACE"] = str(root / "trace.jsonl")
        env["WORKSPACE"] = str(root)
        env["AGENTD_STATE_DIR"] = str(root / "hosts" / name / "state")
        hosts.append(Host(name, root / "hosts" / name, env))
    return hosts


# -- the tasks' own trace -------------------------------------------------------------------


def read_trace(path: Path) -> list[dict[str, Any]]:
    """The lines the tasks wrote (complete ones: a task may be writing one right now)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def events(trace: list[dict[str, Any]], event: str) -> list[tuple[str, str]]:
    return [(e["project"], e["task"]) for e in trace if e["event"] == event]


def intervals_by_host(trace: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Each host's task runs as (start, end), from the trace (runs that never ended are
    open until now: they count against the host's bound for as long as they ran)."""
    starts: dict[tuple[str, ...], dict[str, Any]] = {}
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for entry in trace:
        key = (entry["host"], entry["run_id"], entry["project"], entry["task"])
        if entry["event"] == "start":
            starts[key] = entry
        else:
            out[entry["host"]].append((starts.pop(key)["t"], entry["t"]))
    for entry in starts.values():
        out[entry["host"]].append((entry["t"], time.time()))
    return dict(out)


# -- configuration --------------------------------------------------------------------------


def shared_state(url: str, **keys: str) -> dict[str, str]:
    """The ``[state]`` section of hosts sharing the database at ``url``."""
    return {"backend": "postgres", "url": url, **keys}


def once(config: Path) -> tuple[str, ...]:
    return ("run", "--once", "--json", "--config", str(config))
