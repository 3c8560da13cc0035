"""The dead-man's switch ([notify] ping_url): real `agentd run --once` processes and a real
daemon ping a real HTTP server on 127.0.0.1, which answers, hangs or is not there."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from agentd.daemon.output.ping import target
from tests.builders import cmd, one_project, proj, recording, sh, write_config
from tests.helpers import DEADLINE, Workspace, wait_for

SECRET = "/ping/0f1e2d3c-secret-check"


@dataclass
class Ping:
    path: str  # without the query
    rid: str | None
    body: str
    at: float  # time.time() when it arrived


@dataclass
class Pings:
    """What the ping service saw; with ``hang`` set it never answers (until the test ends)."""

    port: int = 0
    hang: bool = False
    seen: list[Ping] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{SECRET}"

    def paths(self) -> list[str]:
        return [p.path.removeprefix(SECRET) or "/" for p in self.seen]


class _Handler(BaseHTTPRequestHandler):
    pings: Pings

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = urlsplit(self.path)
        rid = parse_qs(parts.query).get("rid", [None])[0]
        self.pings.seen.append(Ping(parts.path, rid, body.decode(), time.time()))
        if self.pings.hang:
            self.pings.release.wait(DEADLINE)
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def pings() -> Iterator[Pings]:
    state = Pings()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"pings": state}))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(DEADLINE)


def _events(stderr: str) -> list[dict[str, Any]]:
    out = []
    for line in stderr.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _report(ws: Workspace) -> dict[str, Any]:
    (path,) = (ws.state / "runs").glob("*/report.json")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_an_ok_sweep_pings_start_then_success_with_its_summary(ws: Workspace, pings: Pings) -> None:
    one_project(ws, notify={"ping_url": pings.url, "timeout": "10s"})
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    report = _report(ws)
    assert pings.paths() == ["/start", "/"]
    start, end = pings.seen
    # One rid for both, so that the service pairs them even when sweeps overlap.
    assert start.rid is not None
    assert start.rid == end.rid
    host = report["host"]
    assert start.body == f"agentd run {report['run_id']} started on {host}: 1 project to run"
    assert end.body == f"agentd run {report['run_id']}: ok on {host}: 1 project ok, 1 task ok"
    sent = [e for e in _events(proc.stderr) if e["event"] == "ping.sent"]
    assert [e["ping"] for e in sent] == ["start", "success"]
    assert all(e["url"] == f"http://127.0.0.1:{pings.port}" for e in sent)
    assert SECRET not in proc.stderr  # the check's id is its secret


def test_a_failing_sweep_pings_fail_and_keeps_its_exit_status(ws: Workspace, pings: Pings) -> None:
    write_config(
        ws,
        {"good": cmd("true"), "bad": sh("echo 'token=hunter2' >&2; exit 3")},
        [proj("p", "good", "bad")],
        notify={"ping_url": pings.url + "/", "timeout": "10s"},  # a trailing slash is fine
    )
    proc = ws.once()
    assert proc.returncode == 1, proc.stderr
    report = _report(ws)
    assert pings.paths() == ["/start", "/fail"]
    body = pings.seen[1].body
    assert body.startswith(f"agentd run {report['run_id']}: failed on ")
    assert body.endswith("1 project failed, 1 task failed, 1 task ok")
    assert "hunter2" not in body  # no task output, ever


def test_an_interrupted_sweep_pings_fail(ws: Workspace, pings: Pings) -> None:
    one_project(ws, recording("{project}", 60), notify={"ping_url": pings.url})
    proc = ws.spawn("run", "--once", "--config", str(ws.config))
    try:
        wait_for(ws.read_records, what="the task to start")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=DEADLINE)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert pings.paths() == ["/start", "/fail"]
    assert ": interrupted on " in pings.seen[1].body


def test_a_sweep_that_ran_nothing_pings_the_standing_of_the_latest_that_ran(
    ws: Workspace, pings: Pings
) -> None:
    """After a failed night, a manual sweep that finds everything it may run done today
    neither clears the alarm (it pings /fail) nor, after a good sweep, raises one."""
    write_config(
        ws,
        {"good": cmd("true"), "fixed": sh("test -e FIXED")},
        [proj("api", "good"), proj("web", "fixed")],
        notify={"ping_url": pings.url, "timeout": "10s"},
    )
    night = ws.once()
    assert night.returncode == 1, night.stderr
    noop = ws.once("--project", "api")  # api is done today: nothing runs
    assert noop.returncode == 0, noop.stderr
    assert pings.paths() == ["/start", "/fail", "/start", "/fail"]
    failed_night, noop_end = pings.seen[1], pings.seen[3]
    night_id = failed_night.body.split()[2].rstrip(":")
    assert noop_end.body.endswith(
        f"; ran nothing, the latest sweep that ran something: {night_id} failed"
    )
    assert noop_end.rid == pings.seen[2].rid != failed_night.rid  # still its own run

    (ws.root / "web" / "FIXED").touch()
    assert ws.once("--project", "web").returncode == 0
    assert ws.once().returncode == 0  # everything done today: nothing runs, all is well
    assert pings.paths()[4:] == ["/start", "/", "/start", "/"]
    assert pings.seen[-1].body.endswith(" ok")  # the fixing sweep's status


def test_a_first_sweep_that_runs_nothing_pings_success(ws: Workspace, pings: Pings) -> None:
    write_config(
        ws,
        {"t": cmd("true")},
        [proj("p", "t", enabled=False)],
        notify={"ping_url": pings.url, "timeout": "10s"},
    )
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    assert pings.paths() == ["/start", "/"]
    assert pings.seen[1].body.endswith("; no sweep has run anything yet")


def test_a_daemon_fire_that_finds_everything_done_today_pings_success(
    ws: Workspace, pings: Pings, reap: list
) -> None:
    """The daemon fires again the same day (here every two seconds): once the failed
    project is fixed and has run, the fires that find nothing to do say the day is fine."""
    write_config(
        ws,
        {"fixed": sh("test -e FIXED")},
        [proj("p", "fixed")],
        schedule={"cron": "* * * * *"},
        notify={"ping_url": pings.url},
    )
    proc = ws.fast_daemon()
    reap.append(proc)
    wait_for(lambda: "/fail" in pings.paths(), what="the failing sweep's /fail")
    (ws.root / "p" / "FIXED").touch()

    def ends() -> list[Ping]:
        return [p for p in pings.seen if not p.path.endswith("/start")]

    def two_noops_after_the_fix() -> bool:
        after = list(itertools.dropwhile(lambda p: "ran nothing" not in p.body, ends()))
        return len(after) >= 2

    wait_for(two_noops_after_the_fix, what="two fires that ran nothing")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, err
    seen = ends()
    fix = max(i for i, p in enumerate(seen) if "ran nothing" not in p.body)
    assert seen[fix].path == SECRET  # the fire that ran the fixed task
    assert ": ok on " in seen[fix].body
    assert all(p.path.endswith("/fail") for p in seen[:fix])
    assert len(seen) - fix - 1 >= 2
    assert all(p.path == SECRET for p in seen[fix + 1 :])  # success: the day is fine


def test_a_dry_run_pings_nothing(ws: Workspace, pings: Pings) -> None:
    one_project(ws, notify={"ping_url": pings.url})
    proc = ws.once("--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert pings.seen == []


def test_a_hanging_ping_service_holds_the_sweep_no_longer_than_the_timeout(
    ws: Workspace, pings: Pings
) -> None:
    pings.hang = True
    timeout = 4.0
    one_project(ws, notify={"ping_url": pings.url, "timeout": f"{timeout:g}s"})
    proc = ws.once()
    exited = time.time()
    assert proc.returncode == 0, proc.stderr
    report = _report(ws)
    assert report["status"] == "ok"
    from datetime import datetime

    def at(stamp: str) -> float:
        return datetime.fromisoformat(stamp).timestamp()

    # The start ping goes out in the background: the project starts at once.
    (project,) = report["projects"]
    assert at(project["started_at"]) - at(report["started_at"]) < timeout / 2
    held = exited - at(report["finished_at"])
    # The end waits for its pings at most the timeout (plus the half second an abandoned
    # attempt is given), then agentd exits: nowhere near twice the timeout.
    assert held < timeout + 0.5 + 3, held
    warned = [e for e in _events(proc.stderr) if e["level"] == "warning"]
    assert {e["event"] for e in warned} & {"ping.failed", "ping.not_sent"}, proc.stderr
    assert pings.paths()[0] == "/start"


def test_a_refused_connection_is_a_warning_and_changes_no_exit_status(ws: Workspace) -> None:
    with socket.socket() as probe:  # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}{SECRET}"
    one_project(ws, notify={"ping_url": url, "timeout": "2s"})
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    failed = [e for e in _events(proc.stderr) if e["event"] == "ping.failed"]
    assert [e["ping"] for e in failed] == ["start", "success"]
    assert all(e["level"] == "warning" for e in failed)
    assert all(e["url"] == f"http://127.0.0.1:{port}" for e in failed)
    assert "cannot reach" in failed[0]["detail"]
    assert SECRET not in proc.stderr
    assert _report(ws)["status"] == "ok"


def test_retries_are_info_and_each_failed_ping_one_warning(ws: Workspace) -> None:
    """Nothing listening: a quiet terminal (warnings and up) gets one line per ping that
    failed, not one per attempt."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    one_project(ws, notify={"ping_url": f"http://127.0.0.1:{port}{SECRET}", "timeout": "6s"})
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    pings = [e for e in _events(proc.stderr) if e["event"].startswith("ping.")]
    retries = [e for e in pings if e["event"] == "ping.retrying"]
    assert len(retries) >= 2, pings
    assert {e["level"] for e in retries} == {"info"}, pings
    warned = [(e["event"], e["ping"]) for e in pings if e["level"] != "info"]
    assert warned == [("ping.failed", "start"), ("ping.failed", "success")]
    assert "(after 3 attempts)" in pings[-1]["detail"]
    quiet = ws.once("--log-level", "warning")
    assert [e["event"] for e in _events(quiet.stderr)] == ["ping.failed", "ping.failed"]


def test_the_daemon_pings_its_sweeps_and_one_that_cannot_start(
    ws: Workspace, pings: Pings, reap: list
) -> None:
    """A scheduled sweep pings like a manual one; one whose configuration no longer loads
    runs nothing and pings /fail (the night is lost: the service should say so at once)."""
    one_project(ws, schedule={"cron": "* * * * *"}, notify={"ping_url": pings.url})
    proc = ws.fast_daemon()
    reap.append(proc)
    wait_for(lambda: "/" in pings.paths(), what="a scheduled sweep's success ping")
    assert pings.paths()[:2] == ["/start", "/"]
    ws.config.write_text(ws.config.read_text() + "\n[run]\nmax_parallel_projects = -1\n")
    wait_for(lambda: "/fail" in pings.paths(), what="the /fail of a sweep that cannot start")
    failed = next(p for p in pings.seen if p.path.endswith("/fail"))
    assert ": failed on " in failed.body
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, err


# In the state directory's name, so that every reason a sweep cannot run quotes it.
PLANTED = "state-hunter2-do-not-send"


def _could_not_run() -> str:
    return f"agentd: a sweep could not run on {os.uname().nodename}; see agentd's log"


def test_a_manual_sweep_with_an_unreadable_state_pings_fail_without_the_reason(
    ws: Workspace, pings: Pings
) -> None:
    state = ws.root / PLANTED
    ws.env["AGENTD_STATE_DIR"] = str(state)
    state.mkdir()
    (state / "state.json").write_text("{not json")
    one_project(ws, notify={"ping_url": pings.url})
    dry = ws.once("--dry-run")
    assert dry.returncode == 2
    assert pings.seen == []  # a dry run pings nothing, even then
    proc = ws.once()
    assert proc.returncode == 2
    assert f"{state / 'state.json'} is not valid JSON" in proc.stderr  # the reason: here
    assert pings.paths() == ["/fail"]
    (ping,) = pings.seen
    assert ping.body == _could_not_run()
    assert ping.rid is None


def test_a_daemon_sweep_that_cannot_run_nor_be_recorded_pings_fail_without_the_reason(
    ws: Workspace, pings: Pings, reap: list
) -> None:
    """No run directory can be made (runs/ is a file): neither the sweep nor its failed run
    can be recorded, and the error, which quotes the state directory, stays in the log."""
    state = ws.root / PLANTED
    ws.env["AGENTD_STATE_DIR"] = str(state)
    state.mkdir(mode=0o700)
    (state / "runs").write_text("not a directory\n")
    one_project(ws, schedule={"cron": "* * * * *"}, notify={"ping_url": pings.url})
    proc = ws.fast_daemon()
    reap.append(proc)
    wait_for(lambda: "/fail" in pings.paths(), what="the /fail of a sweep that cannot run")
    ping = next(p for p in pings.seen if p.path.endswith("/fail"))
    assert ping.body == _could_not_run()
    assert "/start" not in pings.paths()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, err
    assert "sweep.crash_not_recorded" in err
    assert PLANTED in err  # the reason is in the log


def test_target_adds_the_kind_and_the_run_to_any_url() -> None:
    url = "https://hc.example.com/ping/KEY/check-slug?create=1"
    start = target(url, "start", "20260101T023000Z-ab12")
    assert start.startswith("https://hc.example.com/ping/KEY/check-slug/start?create=1&rid=")
    # The same run, the same rid: the end pairs with its start.
    assert target(url, None, "20260101T023000Z-ab12").split("rid=")[1] == start.split("rid=")[1]
    assert target("https://hc.example.com/u/", "fail", None) == "https://hc.example.com/u/fail"
