"""Signals at awkward times: during start-up, during a reload, twice in a row, in storms."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.builders import Table, cmd, proj, recording, write_config
from tests.helpers import AGENTD, DEADLINE, Workspace, process_gone, wait_for
from tests.service.fastfires import EVERY_2S


def _pending(pid: int, sig: signal.Signals) -> bool:
    """Whether ``sig`` sent to process ``pid`` is still pending (not yet delivered)."""
    status = Path(f"/proc/{pid}/status").read_text()
    shared = next(line for line in status.splitlines() if line.startswith("ShdPnd:"))
    return bool(int(shared.split()[1], 16) & (1 << (sig - 1)))


def _config(ws: Workspace, task: Table | None = None, grace: str = "1s") -> None:
    write_config(
        ws,
        {"t": task or recording("{project}", 0.5)},
        [proj("a", "t"), proj("b", "t")],
        schedule={"cron": "* * * * *", "timezone": "UTC"},
        run={"kill_grace": grace, "project_parallelism": True},
    )


def _spawn(ws: Workspace, *args: str, fast: bool = False) -> tuple[subprocess.Popen[str], Path]:
    log = ws.root / f"stderr-{time.monotonic_ns()}.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [*(EVERY_2S if fast else [AGENTD]), *args, "--config", str(ws.config)],
            cwd=ws.root,
            env=ws.env,
            stderr=stderr,
            stdout=subprocess.DEVNULL,
            text=True,
        )
    return proc, log


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8])
def test_sigterm_during_start_up(ws: Workspace, reap: list, delay: float) -> None:
    """Before the handlers exist Python dies of the signal (nothing has started); after,
    the daemon stops in order. Never a traceback, a stale daemon entry or a torn file."""
    _config(ws)
    proc, log = _spawn(ws, "run")
    reap.append(proc)
    time.sleep(delay)  # the moment under test
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    assert code in (0, -signal.SIGTERM), log.read_text()
    assert "Traceback" not in log.read_text()
    doc = ws.state_doc()
    assert "stopped_at" in doc.get("daemon", {"stopped_at": "never started"}) or (
        code == -signal.SIGTERM
    )
    # A new daemon starts cleanly right after, whatever point the last one died at.
    again, again_log = _spawn(ws, "run")
    reap.append(again)
    wait_for(lambda: "daemon.ready" in again_log.read_text(), what="the next daemon")
    again.send_signal(signal.SIGTERM)
    assert again.wait(timeout=60) == 0


def test_sigterm_right_after_sighup(ws: Workspace, reap: list) -> None:
    """Repeated, because the kernel may hand a process-wide signal to any thread that does
    not block it: only the main thread may take them, or it sleeps through them."""
    _config(ws)
    for _ in range(30):
        proc, log = _spawn(ws, "run")
        reap.append(proc)
        wait_for(lambda log=log: "daemon.ready" in log.read_text(), what="ready")
        proc.send_signal(signal.SIGHUP)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()
        assert "daemon.stopped" in log.read_text()
        assert ws.state_doc()["daemon"]["stopped_by"] == "SIGTERM"


def test_two_sigterms_in_a_row_during_a_sweep(ws: Workspace, reap: list) -> None:
    """The second SIGTERM skips the grace. The grace is 10 minutes and the tasks ignore
    SIGTERM, so a daemon that ignored the second signal would still be waiting for it
    long after the deadline below."""
    pidfile = ws.root / "stubborn.pid"
    _config(ws, task=cmd("stubborn", f"{pidfile}-{{project}}"), grace="10m")
    proc, log = _spawn(ws, "run", fast=True)
    reap.append(proc)
    for project in ("a", "b"):
        grandchild = Path(f"{pidfile}-{project}.grandchild")
        wait_for(grandchild.exists, what=f"project {project}'s task to start")
    proc.send_signal(signal.SIGTERM)
    # Signals that arrive together may be delivered as one: the second is sent once the
    # first has been acted on, when both tasks were sent SIGTERM (which they ignore).
    wait_for(lambda: log.read_text().count('"task.terminating"') == 2, what="the first stop to act")
    assert proc.poll() is None, log.read_text()  # in the grace period, as meant
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=DEADLINE)  # far less than the 10 minute grace
    except subprocess.TimeoutExpired:
        pytest.fail(f"the second SIGTERM did not end the grace: still running after {DEADLINE}s")
    took = time.monotonic() - started
    print(f"\nstopped {took:.1f}s after the second SIGTERM, with kill_grace = 10m")
    assert code == 0, log.read_text()
    assert '"daemon.stopping_now"' in log.read_text()
    for project in ("a", "b"):
        for suffix in ("", ".grandchild"):
            assert process_gone(int(Path(f"{pidfile}-{project}{suffix}").read_text()))
    reports = [json.loads(p.read_text()) for p in (ws.state / "runs").glob("*/report.json")]
    assert [r["status"] for r in reports] == ["interrupted"]
    reasons = {t["reason"] for p in reports[0]["projects"] for t in p["tasks"]}
    assert reasons == {"agentd was asked to stop; SIGKILL at a second stop request"}


def test_a_sighup_storm_during_a_sweep(ws: Workspace, reap: list) -> None:
    _config(ws, task=recording("{project}", 1.5))
    proc, log = _spawn(ws, "run", fast=True)
    reap.append(proc)
    wait_for(ws.read_records, what="a sweep to start")
    for _ in range(100):
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.005)  # a storm, not one coalesced signal
    wait_for(
        lambda: any(
            json.loads(p.read_text())["status"] == "ok"
            for p in (ws.state / "runs").glob("*/report.json")
        ),
        what="the sweep to end well",
    )
    assert proc.poll() is None, log.read_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count('"config.reloaded"') >= 2
    for line in text.splitlines():
        json.loads(line)  # log lines stayed whole while logging was reconfigured


def test_sigint_twice_to_run_once_before_any_task(ws: Workspace) -> None:
    _config(ws)
    proc, log = _spawn(ws, "run", "--once")
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    # Stopped in order, or interrupted before it began: 130 either way, never a traceback.
    assert code in (130, -signal.SIGINT), log.read_text()
    assert "Traceback" not in log.read_text()


def test_sighup_stops_run_once_in_order(ws: Workspace, reap: list) -> None:
    """A dropped ssh session sends SIGHUP: the tasks are stopped and the report written."""
    pidfile = ws.root / "stubborn.pid"
    _config(ws, task=cmd("stubborn", f"{pidfile}-{{project}}"))
    proc, log = _spawn(ws, "run", "--once")
    reap.append(proc)
    wait_for(lambda: Path(f"{pidfile}-a.grandchild").exists(), what="a task to start")
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=60) == 128 + signal.SIGHUP, log.read_text()
    assert process_gone(int(Path(f"{pidfile}-a").read_text()))
    assert process_gone(int(Path(f"{pidfile}-a.grandchild").read_text()))
    reports = [json.loads(p.read_text()) for p in (ws.state / "runs").glob("*/report.json")]
    assert [r["status"] for r in reports] == ["interrupted"]
    assert ws.state_doc()["claims"] == {}


def test_two_sigterms_that_arrive_during_a_reload_still_skip_the_grace(
    ws: Workspace, reap: list
) -> None:
    """Both SIGTERMs reach the handler while the main thread is busy reloading (10,000
    disabled projects make a reload take a second): they are read in one batch, and the
    second must still count as the second."""
    pidfile = ws.root / "stubborn.pid"
    _config(ws, task=cmd("stubborn", f"{pidfile}-{{project}}"), grace="10m")
    padding = "".join(
        f'[[projects]]\nname = "x{i}"\npath = "a"\ntasks = ["t"]\nenabled = false\n'
        for i in range(10_000)
    )
    ws.config.write_text(ws.config.read_text() + padding)
    proc, log = _spawn(ws, "run", fast=True)
    reap.append(proc)
    for project in ("a", "b"):
        wait_for(Path(f"{pidfile}-{project}.grandchild").exists, what=f"{project}'s task")
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)  # the moment under test: inside the reload
    proc.send_signal(signal.SIGTERM)
    # Apart, or the kernel merges them into one: the second is sent once the first has
    # left the pending set (delivered to the handler), however long a loaded machine takes.
    wait_for(lambda: not _pending(proc.pid, signal.SIGTERM), what="the first SIGTERM delivered")
    proc.send_signal(signal.SIGTERM)
    sent = time.time()
    try:
        code = proc.wait(timeout=DEADLINE)  # far less than the 10 minute grace
    except subprocess.TimeoutExpired:
        pytest.fail("the second SIGTERM, read with the first, did not end the grace")
    assert code == 0, log.read_text()
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    reloaded = next(e for e in events if e["event"] == "config.reloaded")
    from datetime import datetime

    # Both signals came before the reload ended: the case under test was really met.
    assert datetime.fromisoformat(reloaded["timestamp"]).timestamp() > sent - 0.05
    assert any(e["event"] == "daemon.stopping_now" for e in events)
