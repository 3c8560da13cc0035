"""Alerts after a sweep: the payload, when to alert, and both channels, against a real HTTP
server on 127.0.0.1 and real processes."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentd.config.model import NotifySection
from agentd.config.secrets import redact_url
from agentd.daemon import __version__
from agentd.daemon.output.alerts import alert_payload, send_alerts, should_alert
from agentd.daemon.tasks.runner import Command, run_process
from agentd.daemon.tasks.stop import StopToken

DEADLINE = 60.0  # generous: the test machines are small and shared
HANG = "hang"  # a scripted reply: hold the request until the test ends
TRICKLE = "trickle"  # a scripted reply: a header line every 0.5 s, for 30 s


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Hook:
    """What a webhook receiver saw, and the replies it gives in turn (200 once they run out)."""

    replies: list[int | str] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    hook: Hook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.hook.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
        reply = self.hook.replies.pop(0) if self.hook.replies else 200
        if reply == HANG:
            self.hook.release.wait(DEADLINE)
            return
        if reply == TRICKLE:  # raw bytes: send_header would buffer them until the end
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for i in range(60):
                if self.hook.release.wait(0.5):
                    return
                self.wfile.write(f"X-Slow-{i}: x\r\n".encode())
                self.wfile.flush()
            self.wfile.write(b"\r\n")
            return
        assert isinstance(reply, int)
        # Echoes the path, as some services do in their errors: it must not leak further.
        answer = f"reply {reply} for {self.path}".encode()
        self.send_response(reply)
        if 300 <= reply < 400:
            self.send_header("Location", self.hook.url("/elsewhere"))
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()
    handler = type("Handler", (_Handler,), {"hook": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(DEADLINE)


class FakeLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, event: str, **kw: Any) -> None:
        self.events.append(("info", event, kw))

    def warning(self, event: str, **kw: Any) -> None:
        self.events.append(("warning", event, kw))

    def error(self, event: str, **kw: Any) -> None:
        self.events.append(("error", event, kw))


def make_report(status: str = "failed", failures: int = 2) -> dict[str, Any]:
    return {
        "run_id": "20260101T023000Z-ab12",
        "trigger": "schedule",
        "date": "2026-01-01",
        "started_at": "2026-01-01T02:30:00+00:00",
        "finished_at": "2026-01-01T02:41:00+00:00",
        "duration_s": 660.0,
        "status": status,
        "projects": [
            {"name": "api", "tasks": [{"name": "lint", "output_tail": "TOKEN=hunter2"}]},
        ],
        "failures": [
            {
                "project": f"p{i}",
                "task": "lint",
                "status": "failed",
                "message": f"exit status {i}",
                "output_tail": "TOKEN=hunter2",
            }
            for i in range(failures)
        ],
        "counts": {"projects_failed": failures, "tasks_failed": failures, "tasks_ok": 1},
        "host": "box",
    }


def notify(**kw: Any) -> NotifySection:
    return NotifySection(**kw)


def send(
    section: NotifySection, run_dir: Path, report: dict[str, Any] | None = None, **kw: Any
) -> list[dict[str, Any]]:
    log = kw.pop("log", FakeLog())
    environ = kw.pop("environ", {"PATH": os.environ["PATH"]})
    return send_alerts(section, report or make_report(), run_dir, environ, log)


# --- when, and what -----------------------------------------------------------------------


@pytest.mark.parametrize("when", ["failure", "always"])
@pytest.mark.parametrize("status", ["ok", "failed", "interrupted"])
@pytest.mark.parametrize(
    "channels",
    [
        {},
        {"command": ["true"]},
        {"webhook": "https://h.example"},
        {"command": ["true"], "webhook": "https://h.example"},
    ],
)
def test_should_alert(when: str, status: str, channels: dict[str, Any]) -> None:
    report = make_report(status, failures=0)
    expected = bool(channels) and (when == "always" or status != "ok")
    assert should_alert(notify(when=when, **channels), report) is expected


def test_should_alert_on_failures_even_if_status_ok() -> None:
    assert should_alert(notify(command=["true"]), make_report("ok", failures=1))


def test_payload_keeps_every_failure_but_no_output(tmp_path: Path) -> None:
    report = make_report(failures=13)
    report["failures"][0]["message"] = "x" * 500
    payload = alert_payload(report, tmp_path)
    assert "output_tail" not in json.dumps(payload)
    assert "hunter2" not in json.dumps(payload)
    assert len(payload["failures"]) == 13
    assert payload["event"] == "agentd.sweep"
    assert payload["agentd_version"] == __version__
    assert payload["report"] == str(tmp_path / "report.md")
    assert payload["report_json"] == str(tmp_path / "report.json")
    assert "budget" not in payload
    assert "spend" not in payload
    text = payload["text"]
    assert text.startswith("agentd run 20260101T023000Z-ab12: failed on box: 13 projects failed")
    assert all(f"p{i}/lint: failed" in text for i in range(10))
    assert "p10/" not in text
    assert text.endswith("(+3 more)")
    assert "x" * 200 not in text
    assert "x" * 199 in text


def test_payload_carries_budget_and_spend(tmp_path: Path) -> None:
    report = make_report()
    report["budget"] = {"nightly_usd": 5.0}
    report["spend"] = {"usd": 1.25}
    payload = alert_payload(report, tmp_path)
    assert payload["budget"] == {"nightly_usd": 5.0}
    assert payload["spend"] == {"usd": 1.25}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.slack.com/services/T0/B0/SECRET", "https://hooks.slack.com"),
        ("http://user:pw@hooks.example:8080/p?token=SECRET", "http://hooks.example:8080"),
        ("https://hooks.example", "https://hooks.example"),
        ("not a url", "(unparseable URL)"),
        ("http://[::1", "(unparseable URL)"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_a_broken_report_fails_the_channels_without_raising(tmp_path: Path, hook: Hook) -> None:
    section = notify(command=["true"], webhook=hook.url())
    results = send(section, tmp_path, {"status": "failed", "failures": ["not a dict"]})
    assert [(r["via"], r["ok"]) for r in results] == [("command", False), ("webhook", False)]
    assert all("internal error" in r["detail"] for r in results)


# --- the webhook --------------------------------------------------------------------------


def test_webhook_posts_the_payload(tmp_path: Path, hook: Hook) -> None:
    section = notify(webhook=hook.url(), headers={"X-Team": "night"})
    results = send(section, tmp_path, make_report(failures=12))
    assert results == [
        {"via": "webhook", "ok": True, "detail": f"HTTP 200 from http://127.0.0.1:{hook.port}"}
    ]
    [seen] = hook.seen
    assert (seen.method, seen.path) == ("POST", "/hook")
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == f"agentd/{__version__}"
    assert seen.headers["X-Team"] == "night"
    body = json.loads(seen.body.decode("utf-8"))
    assert body["run_id"] == "20260101T023000Z-ab12"
    assert body["status"] == "failed"
    assert len(body["failures"]) == 12
    assert body["text"].startswith("agentd run ")


def test_webhook_retries_a_server_error(tmp_path: Path, hook: Hook) -> None:
    hook.replies = [500, 200]
    [result] = send(notify(webhook=hook.url()), tmp_path)
    assert result["ok"] is True
    assert len(hook.seen) == 2


def test_webhook_gives_up_after_three_attempts(tmp_path: Path, hook: Hook) -> None:
    hook.replies = [503, 503, 503, 200]
    [result] = send(notify(webhook=hook.url()), tmp_path)
    assert result["ok"] is False
    assert "HTTP 503" in result["detail"]
    assert "reply 503" in result["detail"]  # the server's answer
    assert len(hook.seen) == 3


@pytest.mark.parametrize("status", [404, 302])
def test_webhook_does_not_retry_or_follow(tmp_path: Path, hook: Hook, status: int) -> None:
    hook.replies = [status, 200]
    [result] = send(notify(webhook=hook.url()), tmp_path)
    assert result["ok"] is False
    assert f"HTTP {status}" in result["detail"]
    assert [s.path for s in hook.seen] == ["/hook"]


def test_webhook_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}/hook"
        [result] = send(notify(webhook=url), tmp_path)
    assert result["ok"] is False
    assert "cannot reach" in result["detail"]


def test_webhook_timeout_bounds_the_attempts(tmp_path: Path, hook: Hook) -> None:
    hook.replies = [HANG, HANG, HANG]
    t0 = time.monotonic()
    [result] = send(notify(webhook=hook.url(), timeout="1s"), tmp_path)
    assert time.monotonic() - t0 < 10
    assert result["ok"] is False
    assert "no answer" in result["detail"]


def test_webhook_timeout_is_a_deadline_even_for_a_trickling_server(
    tmp_path: Path, hook: Hook
) -> None:
    """urllib's timeout bounds each read; a server sending a byte now and then would hold
    the sweep for 30 s (and a stopping unit past its TimeoutStopSec) without a deadline."""
    hook.replies = [TRICKLE]
    t0 = time.monotonic()
    [result] = send(notify(webhook=hook.url(), timeout="2s"), tmp_path)
    assert time.monotonic() - t0 < 15
    assert result["ok"] is False
    assert "within" in result["detail"]


def test_webhook_secrets_never_logged_or_returned(tmp_path: Path, hook: Hook) -> None:
    path = "/hooks/T000/SECRETPATH?token=SECRETQUERY"
    section = notify(webhook=hook.url(path), headers={"Authorization": "Bearer SECRETHEADER"})
    log = FakeLog()
    hook.replies = [503, 404]  # a retry (logged), then a failure that echoes the path
    results = send(section, tmp_path, log=log)
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{bound.getsockname()[1]}{path}"
        results += send(notify(webhook=refused, timeout="2s"), tmp_path, log=log)
    assert [r["ok"] for r in results] == [False, False]
    assert hook.seen[0].headers["Authorization"] == "Bearer SECRETHEADER"
    assert {e[1] for e in log.events} >= {"alert.retrying", "alert.failed"}
    # A retry is no news on a quiet terminal; a delivery that failed is, once.
    levels = {(level, event) for level, event, _ in log.events if event.startswith("alert.")}
    assert levels == {("info", "alert.retrying"), ("error", "alert.failed")}
    assert sum(e[1] == "alert.failed" for e in log.events) == len(results)
    everything = repr(log.events) + repr(results)
    for secret in ("SECRETPATH", "SECRETQUERY", "SECRETHEADER", "/hooks/"):
        assert secret not in everything


# --- the command --------------------------------------------------------------------------

RECORDER = """
import json, os, sys
record = {"stdin": sys.stdin.read(), "cwd": os.getcwd(), "env": dict(os.environ)}
with open(sys.argv[1], "w") as out:
    json.dump(record, out)
"""


def test_command_gets_the_alert_on_stdin_and_in_its_environment(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    out = tmp_path / "out.json"
    environ = {"PATH": os.environ["PATH"], "NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1"}
    section = notify(command=[sys.executable, str(script), str(out)])
    [result] = send(section, run_dir, environ=environ)
    assert result["via"] == "command"
    assert result["ok"] is True, result
    record = json.loads(out.read_text())
    assert json.loads(record["stdin"]) == alert_payload(make_report(), run_dir)
    assert record["cwd"] == str(run_dir)
    env = record["env"]
    assert env["AGENTD_RUN_ID"] == "20260101T023000Z-ab12"
    assert env["AGENTD_STATUS"] == "failed"
    assert env["AGENTD_REPORT"] == str(run_dir / "report.md")
    assert env["AGENTD_REPORT_JSON"] == str(run_dir / "report.json")
    assert env["AGENTD_ALERT"] == str(run_dir / "alert.json")
    assert env["PATH"] == os.environ["PATH"]
    assert "NOTIFY_SOCKET" not in env
    assert "WATCHDOG_USEC" not in env
    assert (run_dir / "alert.json").stat().st_mode & 0o777 == 0o600
    assert (run_dir / "alert-command.log").exists()


def test_command_failing(tmp_path: Path) -> None:
    log = FakeLog()
    section = notify(command=[sys.executable, "-c", "import sys; sys.exit(3)"])
    [result] = send(section, tmp_path, log=log)
    assert result == {
        "via": "command",
        "ok": False,
        "detail": "exit status 3 (log: alert-command.log)",
    }
    assert ("error", "alert.failed") in {(e[0], e[1]) for e in log.events}


def test_command_not_found(tmp_path: Path) -> None:
    [result] = send(notify(command=[str(tmp_path / "no-such-program")]), tmp_path)
    assert result["ok"] is False
    assert "not found" in result["detail"]


def test_command_timeout_kills_it_and_its_child(tmp_path: Path) -> None:
    section = notify(command=["sh", "-c", "sleep 300 & echo $! > child.pid; wait"], timeout="3s")
    t0 = time.monotonic()
    [result] = send(section, tmp_path)
    assert time.monotonic() - t0 < DEADLINE
    assert result["ok"] is False
    assert "timed out" in result["detail"]
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + DEADLINE
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """Running, not merely a zombie nobody has reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


def test_both_channels_run_even_if_the_first_fails(tmp_path: Path, hook: Hook) -> None:
    section = notify(command=[sys.executable, "-c", "raise SystemExit(3)"], webhook=hook.url())
    results = send(section, tmp_path)
    assert [(r["via"], r["ok"]) for r in results] == [("command", False), ("webhook", True)]
    assert len(hook.seen) == 1


def test_runner_reports_a_missing_stdin_file(tmp_path: Path) -> None:
    command = Command(
        argv=["true"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        log_path=tmp_path / "log",
        timeout=DEADLINE,
        kill_grace=1.0,
        stdin=tmp_path / "missing.json",
    )
    stop = StopToken()
    try:
        outcome = run_process(command, stop, UTC)
    finally:
        stop.close()
    assert outcome.status == "error"
    assert outcome.reason.startswith(f"cannot open input file {tmp_path / 'missing.json'}")
