"""One night on a shared store, as a new user's first hosts meet it: real agentd processes,
each with its own ``[state] host``, configuration and state directory, sharing one real
PostgreSQL database (the hosts are told apart by name and heartbeat, as different machines
are; tests/hosts makes them different machines in namespaces too)."""

from __future__ import annotations

import json
import signal
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


# -- another host's claim met during the sweep ----------------------------------------------


class OtherHost:
    """A host's store object (``build-9``), claiming and releasing as its sweep would."""

    def __init__(self, url: str, stale_after: float) -> None:
        from agentd.state.postgres import PostgresStore

        self.store = PostgresStore(url, host="build-9", stale_after=stale_after)

    def claim(self, project: str, tasks: list[str]) -> None:
        from datetime import UTC, datetime

        from agentd.state import Claimed
        from agentd.state.claims import Holder

        now = datetime.now(UTC)
        stamp = now.isoformat(timespec="seconds")
        holder = Holder("r-9", 999_999, "build-9", stamp, stamp)
        claimed = self.store.claim(project, holder, today(), tasks, False, now)
        assert isinstance(claimed, Claimed), claimed

    def finish(self, project: str, task: str, status: str) -> None:
        """``task`` ended ``status``, the project released with that outcome."""
        from datetime import UTC, datetime

        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        record = TaskRecord(status, today(), "r-9", stamp, stamp, 0.1, 0 if status == "ok" else 1)
        self.store.record(project, task, record)
        outcome = ProjectRecord(status, today(), "r-9", stamp, stamp, "build-9")
        self.store.release(project, "r-9", outcome)

    def close(self) -> None:
        self.store.close()


def logged(run: Sweep, event: str) -> list[dict[str, Any]]:
    lines = run.stderr.splitlines()
    return [json.loads(line) for line in lines if f'"{event}"' in line]


def test_a_dead_hosts_project_is_taken_over_the_same_night(ws: Workspace, pg_url: str) -> None:
    """build-9 claimed "orphaned" and died: build-1's sweep meets its claim, goes on with
    the rest, and takes it over once the claim is stale, in the same sweep."""
    ws.project_dirs("orphaned", "other", "after")
    tasks = {"t": cmd("record", "{project}", 0)}
    projects = [
        proj("orphaned", "t"),
        proj("other", "t"),
        proj("after", "t", depends_on=["orphaned"]),
    ]
    state = {"claim_stale_after": "3s"}
    host_config(ws, "build-1", pg_url, tasks, projects, state=state)
    dead = OtherHost(pg_url, 3.0)
    try:
        dead.claim("orphaned", ["t"])
        run = sweep(ws, "build-1", "--log-format", "json")
        code, report = run.finish()
    finally:
        dead.close()
    assert code == 0, report["failures"]
    assert report["host"] == "build-1"
    projects_run = by_name(report)
    assert projects_run["orphaned"]["status"] == "ok"
    assert [t["status"] for t in projects_run["orphaned"]["tasks"]] == ["ok"]
    assert projects_run["other"]["status"] == "ok"
    # Its dependant stays blocked as when a project runs elsewhere.
    assert projects_run["after"]["status"] == "skipped"
    assert projects_run["after"]["reason"].startswith("dependency orphaned is running in run r-9")
    [taken] = logged(run, "claim.taken_over")
    assert taken["project"] == "orphaned"
    assert taken["previous"] == "run r-9 (pid 999999 on build-9)"
    ran = [r for r in ws.read_records() if r["event"] == "start"]
    assert sorted(r["project"] for r in ran) == ["orphaned", "other"]


def test_a_project_another_host_releases_is_done_by_it(ws: Workspace, pg_url: str) -> None:
    """build-9 is running "shared" when build-1's sweep reaches it; build-1 waits, and once
    build-9 releases it done, says who did it."""
    ws.project_dirs("shared")
    tasks = {"t": cmd("record", "{project}", 0)}
    state = {"claim_stale_after": "20s"}  # build-9 stays alive throughout (tries every 4 s)
    host_config(ws, "build-1", pg_url, tasks, [proj("shared", "t")], state=state)
    other = OtherHost(pg_url, 20.0)
    try:
        other.claim("shared", ["t"])
        run = sweep(ws, "build-1", "--log-format", "json")
        wait_for(lambda: logged(run, "project.waiting"), what="build-1 to meet build-9's claim")
        other.finish("shared", "t", "ok")
        code, report = run.finish()
    finally:
        other.close()
    assert code == 0, report["failures"]
    shared = by_name(report)["shared"]
    assert (shared["status"], shared["reason"]) == ("skipped", "done by host build-9 (run r-9)")
    assert ws.read_records() == [], "build-1 ran nothing"


def test_a_stop_ends_the_wait_for_another_hosts_claim(ws: Workspace, pg_url: str) -> None:
    ws.project_dirs("shared")
    tasks = {"t": cmd("record", "{project}", 0)}
    state = {"claim_stale_after": "10m"}
    host_config(ws, "build-1", pg_url, tasks, [proj("shared", "t")], state=state)
    other = OtherHost(pg_url, 600.0)
    try:
        other.claim("shared", ["t"])
        run = sweep(ws, "build-1", "--log-format", "json")
        wait_for(lambda: logged(run, "project.waiting"), what="build-1 to meet build-9's claim")
        run.proc.send_signal(signal.SIGTERM)
        code, report = run.finish()
    finally:
        other.close()
    assert code == 128 + signal.SIGTERM
    assert report["status"] == "interrupted"
    shared = by_name(report)["shared"]
    assert (shared["status"], shared["reason"]) == (
        "skipped",
        "claimed by run r-9 (pid 999999 on build-9)",
    )


def test_a_task_that_failed_on_another_host_tonight_is_not_run_again(
    ws: Workspace, pg_url: str
) -> None:
    """build-1's sweep started; build-9 ran beta meanwhile and its lint failed. When
    build-1 reaches beta, it leaves it: one failing run a night, not one per host."""
    ws.project_dirs("first", "beta", "gamma")
    tasks = {"hold": held(ws), "lint": cmd("record", "{project}", 0)}
    projects = [
        proj("first", "hold"),
        proj("beta", "lint", depends_on=["first"]),
        proj("gamma", "lint", depends_on=["beta"]),
    ]
    host_config(ws, "build-1", pg_url, tasks, projects)
    other = OtherHost(pg_url, 300.0)
    try:
        run = sweep(ws, "build-1")
        wait_for(lambda: started(ws, "first"), what="build-1's sweep to be under way")
        other.claim("beta", ["lint"])
        other.finish("beta", "lint", "failed")
        open_gate(ws, "first")
        code, report = run.finish()
    finally:
        other.close()
    assert code == 0, report["failures"]
    beta = by_name(report)["beta"]
    assert (beta["status"], beta["reason"]) == (
        "skipped",
        "done in this night's sweep by host build-9 (failed)",
    )
    gamma = by_name(report)["gamma"]
    assert (gamma["status"], gamma["reason"]) == ("skipped", "dependency failed: beta")
    assert ws.read_records() == [], "build-1 ran no lint"
    # A later sweep of build-1 runs it again, as a second sweep always has.
    code, report = sweep(ws, "build-1").finish()
    assert by_name(report)["beta"]["status"] == "ok"
