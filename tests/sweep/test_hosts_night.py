"""One night on a shared store, as a new user's first hosts meet it: real agentd processes,
each with its own ``[state] host``, configuration and state directory, sharing one real
PostgreSQL database (the hosts are told apart by name and heartbeat, as different machines
are; tests/hosts makes them different machines in namespaces too)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentd.state import ProjectRecord, TaskRecord
from tests.builders import Table, cmd, config, proj, toml
from tests.helpers import AGENTD, DEADLINE, Workspace, wait_for

TODAY_TZ = "UTC"


@dataclass
class Sweep:
    """``agentd run --once --json`` of one host, its output in files."""

    host: str
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def finish(self, timeout: float = DEADLINE) -> tuple[int, dict[str, Any]]:
        code = self.proc.wait(timeout=timeout)
        text = self.out.read_text()
        assert text, f"{self.host}: no report; stderr:\n{self.err.read_text()[-3000:]}"
        report: dict[str, Any] = json.loads(text)
        return code, report

    @property
    def stderr(self) -> str:
        return self.err.read_text()


def host_config(
    ws: Workspace, host: str, url: str, tasks: dict[str, Table], projects: list[Table], **run: Any
) -> Path:
    """``HOST.toml``: the shared store under ``host``'s name."""
    path = ws.root / f"{host}.toml"
    state = {"backend": "postgres", "url": url, "host": host, **run.pop("state", {})}
    sections: dict[str, Table] = {"state": state, "schedule": {"timezone": TODAY_TZ}}
    if run:
        sections["run"] = run
    path.write_text(toml(config(tasks, projects, **sections)))
    return path


def sweep(ws: Workspace, host: str, *args: str) -> Sweep:
    """Start a sweep of ``host`` (its own state directory for run directories and logs)."""
    root = ws.root / "hosts" / host
    root.mkdir(parents=True, exist_ok=True)
    env = {**ws.env, "AGENTD_STATE_DIR": str(root / "state")}
    runs = len(list(root.glob("*.out")))
    out, err = root / f"{runs}.out", root / f"{runs}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [AGENTD, "run", "--once", "--json", "--config", str(ws.root / f"{host}.toml"), *args],
            cwd=ws.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    return Sweep(host, proc, out, err)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in report["projects"]}


def record_done(url: str, host: str, project: str, tasks: list[str], date: str) -> None:
    """``project``'s tasks recorded ok on ``date`` by a run of ``host`` (an earlier sweep,
    or what ``agentd state import`` brought)."""
    from datetime import UTC, datetime

    from agentd.state.claims import Holder
    from agentd.state.postgres import PostgresStore

    store = PostgresStore(url, host=host)
    now = datetime.now(UTC)
    stamp = now.isoformat(timespec="seconds")
    try:
        store.claim(project, Holder("r-earlier", 1, host, stamp, stamp), date, tasks, False, now)
        for task in tasks:
            store.record(project, task, TaskRecord("ok", date, "r-earlier", stamp, stamp, 0.1, 0))
        store.release(project, "r-earlier", ProjectRecord("ok", date, "r-earlier", stamp, stamp))
    finally:
        store.close()


def today() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).date().isoformat()


# -- a project done today whose directory is not here ---------------------------------------


def test_a_project_done_today_is_done_whatever_its_directory(ws: Workspace, pg_url: str) -> None:
    """zeta succeeded today (an earlier sweep, an import); its directory is gone from this
    host: done today, not a project missing on every host."""
    ws.project_dirs("alpha")
    tasks = {"t": cmd("record", "{project}", 0)}
    host_config(ws, "build-2", pg_url, tasks, [proj("alpha", "t"), proj("zeta", "t")])
    record_done(pg_url, "build-2", "zeta", ["t"], today())
    code, report = sweep(ws, "build-2").finish()
    assert code == 0, report["failures"]
    zeta = by_name(report)["zeta"]
    assert zeta["status"] == "skipped"
    assert zeta["reason"] == f"done today: its task succeeded on {today()}"
    assert by_name(report)["alpha"]["status"] == "ok"


# -- hosts that start together on their first night -----------------------------------------


def held(ws: Workspace) -> Table:
    """A task that says it started (a file) and ends once the test opens its gate."""
    marks = ws.root / "marks"
    marks.mkdir(exist_ok=True)
    script = (
        f'touch "{marks}/started-$AGENTD_PROJECT"; '
        f'while [ ! -e "{marks}/gate-$AGENTD_PROJECT" ]; do sleep 0.05; done'
    )
    return {"shell": script}


def started(ws: Workspace, project: str) -> bool:
    return (ws.root / "marks" / f"started-{project}").exists()


def open_gate(ws: Workspace, project: str) -> None:
    (ws.root / "marks" / f"gate-{project}").touch()


def test_a_project_on_one_host_only_is_not_failed_by_a_host_that_started_first(
    ws: Workspace, pg_url: str
) -> None:
    """build-2 lacks zeta and starts before build-1 has ever used the store: build-1 is
    not known yet. build-2 decides only when its sweep ends, and build-1, started since,
    has zeta: left for it, not failed as missing on every host."""
    ws.project_dirs("long", "zeta")
    tasks = {"hold": held(ws)}
    long = proj("long", "hold", hosts=["build-2"])  # keeps build-2's sweep going
    host_config(ws, "build-2", pg_url, tasks, [long, proj("zeta", "hold", path="nowhere/zeta")])
    host_config(ws, "build-1", pg_url, tasks, [long, proj("zeta", "hold")])
    two = sweep(ws, "build-2")
    wait_for(lambda: started(ws, "long"), what="build-2's sweep to be under way")
    one = sweep(ws, "build-1")
    wait_for(lambda: started(ws, "zeta"), what="build-1 to run zeta")
    open_gate(ws, "long")
    code, report = two.finish()
    assert code == 0, report["failures"]
    zeta = by_name(report)["zeta"]
    assert zeta == {
        **zeta,
        "status": "skipped",
        "reason": f"left for another host: {ws.root / 'nowhere' / 'zeta'} does not exist on"
        " build-2",
    }
    open_gate(ws, "zeta")
    code, report = one.finish()
    assert code == 0, report["failures"]
    assert by_name(report)["zeta"]["status"] == "ok"
