"""Alerts after a sweep (``[notify]``): a command that reads the alert on stdin, a webhook.

An alert is best effort: a broken alert channel must never turn a finished sweep into a
crashed one, so nothing here raises. Every failure is logged and returned for the caller
to record. Hook URLs carry their secret in the path or query (Slack, Mattermost), so only
``scheme://host[:port]`` of one is ever logged or returned.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import structlog

from agentd.config.model import NotifySection
from agentd.config.secrets import redact_url
from agentd.daemon import __version__
from agentd.daemon.model.clock import SYSTEM_CLOCK, Clock
from agentd.daemon.model.observer import QuietObserver
from agentd.daemon.model.report import AlertResult, Report
from agentd.daemon.model.results import failure_place
from agentd.daemon.model.status import TaskStatus
from agentd.daemon.output.redact import redact
from agentd.daemon.output.report import write_report
from agentd.daemon.tasks.runner import Command, run_process
from agentd.daemon.tasks.stop import StopToken
from agentd.daemon.tasks.taskcmd import STRIPPED_ENV
from agentd.state.files import open_private

ALERT_FILE = "alert.json"
COMMAND_LOG = "alert-command.log"
ATTEMPTS = 3
PAUSES = (1.0, 2.0)  # before the second and the third attempt
TEXT_FAILURES = 10
CUT = 200  # characters of a failure message in the text, of a server's answer in a detail
# Only these keys of a failure go out: an output tail can hold secrets and be large.
FAILURE_KEYS = ("project", "task", "status", "message")
COPIED = (
    *("run_id", "status", "trigger", "date", "host"),
    *("started_at", "finished_at", "duration_s", "counts"),
)


class AlertSender(QuietObserver):
    """At a sweep's end, after its report is on disk (the alert points to it): alerts as
    ``[notify]`` says, and what became of them added to the report. A failing alert is
    logged and noted in the report, never a failure of the sweep."""

    def __init__(
        self, notify: NotifySection, environ: Mapping[str, str], clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.notify = notify
        self.environ = environ
        self.clock = clock

    def sweep_finished(self, report: Report, run_dir: Path) -> None:
        doc = report.to_dict()
        if not should_alert(self.notify, doc):
            return
        log = structlog.get_logger("agentd.sweep").bind(run_id=report.run_id)
        sent = send_alerts(self.notify, doc, run_dir, self.environ, log, self.clock)
        report.alerts = [AlertResult(a["via"], a["ok"], a["detail"]) for a in sent]
        try:
            write_report(run_dir, report)
        except OSError as exc:
            log.error("report.write_failed", path=str(run_dir), error=str(exc))


def should_alert(notify: NotifySection, report: dict[str, Any]) -> bool:
    if not notify.configured:
        return False
    return notify.when == "always" or report.get("status") != "ok" or bool(report.get("failures"))


def alert_payload(report: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """What both channels get. ``text`` alone is what Slack-style incoming webhooks show."""
    failures = [{key: f.get(key) for key in FAILURE_KEYS} for f in report.get("failures") or []]
    payload: dict[str, Any] = {"event": "agentd.sweep", "agentd_version": __version__}
    payload.update({key: report.get(key) for key in COPIED})
    payload["failures"] = failures
    payload.update({key: report[key] for key in ("budget", "spend") if key in report})
    payload["report"] = str(run_dir / "report.md")
    payload["report_json"] = str(run_dir / "report.json")
    payload["text"] = _text(report, failures)
    return payload


def send_alerts(
    notify: NotifySection,
    report: dict[str, Any],
    run_dir: Path,
    environ: Mapping[str, str],
    log: Any,
    clock: Clock = SYSTEM_CLOCK,
) -> list[dict[str, Any]]:
    """Each configured channel, the command first; one result per channel, never raises."""
    try:
        payload: dict[str, Any] | None = alert_payload(report, run_dir)
        broken = ""
    except Exception as exc:  # noqa: BLE001 - an alert must not take the daemon down
        payload, broken = None, f"internal error: {exc!r}"
    channels: list[tuple[str, Callable[[dict[str, Any]], tuple[bool, str]]]] = []
    if notify.command is not None:
        channels.append(("command", lambda p: _command(notify, p, run_dir, environ, log)))
    if notify.webhook is not None:
        channels.append(("webhook", lambda p: _webhook(notify, p, log, clock)))
    results = []
    for via, send in channels:
        try:
            ok, detail = send(payload) if payload is not None else (False, broken)
        except Exception as exc:  # noqa: BLE001 - an alert must not take the daemon down
            ok, detail = False, f"internal error: {exc!r}"
        detail = _scrub(detail, notify)
        if ok:
            log.info("alert.sent", via=via, detail=detail)
        else:
            log.error("alert.failed", via=via, detail=detail)
        results.append({"via": via, "ok": ok, "detail": detail})
    return results


def _text(report: dict[str, Any], failures: list[dict[str, Any]]) -> str:
    counts = report.get("counts") or {}
    tally = [
        _plural(counts.get(f"{kind}s_{state}", 0), kind, state)
        for state in ("failed", "interrupted", "ok")
        for kind in ("project", "task")
        if counts.get(f"{kind}s_{state}", 0)
    ]
    head = f"agentd run {report.get('run_id')}: {report.get('status')} on {report.get('host')}"
    parts = [head + (f": {', '.join(tally)}" if tally else "")]
    for failure in failures[:TEXT_FAILURES]:
        where = failure_place(failure)
        parts.append(f"{where}: {failure['status']}: {_cut(str(failure['message'] or ''))}")
    text = "; ".join(parts)
    if len(failures) > TEXT_FAILURES:
        text += f" (+{len(failures) - TEXT_FAILURES} more)"
    return text


def _plural(number: int, noun: str, state: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'} {state}"


def _cut(text: str) -> str:
    """One line of at most CUT characters: a chat line, not a log."""
    text = " ".join(text.split())
    return text if len(text) <= CUT else text[: CUT - 1] + "…"


def _command(
    notify: NotifySection,
    payload: dict[str, Any],
    run_dir: Path,
    environ: Mapping[str, str],
    log: Any,
) -> tuple[bool, str]:
    """Through the task runner, for the same guarantees: own session, deadline, nothing
    left behind. The alert goes through a file rather than a pipe so that a command that
    never reads its stdin cannot block agentd."""
    assert notify.command is not None
    alert = run_dir / ALERT_FILE
    try:
        with os.fdopen(open_private(alert), "wb") as handle:
            handle.write(json.dumps(payload, indent=2).encode() + b"\n")
    except OSError as exc:
        return False, f"cannot write {alert}: {exc.strerror}"
    env = {key: value for key, value in environ.items() if key not in STRIPPED_ENV}
    env.update(
        AGENTD_RUN_ID=str(payload["run_id"]),
        AGENTD_STATUS=str(payload["status"]),
        AGENTD_REPORT=payload["report"],
        AGENTD_REPORT_JSON=payload["report_json"],
        AGENTD_ALERT=str(alert),
    )
    command = Command(
        argv=list(notify.command),
        cwd=run_dir,
        env=env,
        log_path=run_dir / COMMAND_LOG,
        timeout=notify.timeout,
        kill_grace=min(5.0, notify.timeout),  # a short timeout is not stretched by the grace
        stdin=alert,
    )
    stop = StopToken()  # never requested: the timeout alone ends a hanging alert
    try:
        outcome = run_process(command, stop, UTC, log)
    finally:
        stop.close()
    if outcome.status is TaskStatus.OK:
        return True, f"exit status 0 (log: {COMMAND_LOG})"
    return False, f"{outcome.reason} (log: {COMMAND_LOG})"


def _webhook(
    notify: NotifySection, payload: dict[str, Any], log: Any, clock: Clock
) -> tuple[bool, str]:
    """POST the alert, retrying what may pass on a second try (no connection, a timeout,
    429, 5xx), all within ``notify.timeout``."""
    assert notify.webhook is not None
    where = redact_url(notify.webhook)
    headers = {"Content-Type": "application/json", "User-Agent": f"agentd/{__version__}"}
    headers.update(notify.headers)
    body = json.dumps(payload).encode()
    # The config admits only http:// and https:// URLs.
    request = urllib.request.Request(notify.webhook, body, headers, method="POST")  # noqa: S310
    opener = urllib.request.build_opener(_NoRedirect)
    deadline = clock.monotonic() + notify.timeout
    attempt = 1
    while True:
        ok, again, detail = _post_within(opener, request, deadline - clock.monotonic(), where)
        if ok:
            return True, detail + (f" (attempt {attempt})" if attempt > 1 else "")
        pause = PAUSES[attempt - 1] if attempt < ATTEMPTS else None
        if not again or pause is None or clock.monotonic() + pause >= deadline:
            return False, detail + (f" (after {attempt} attempts)" if attempt > 1 else "")
        log.warning("alert.retrying", via="webhook", detail=_scrub(detail, notify), pause_s=pause)
        clock.sleep(pause)
        attempt += 1


def _post_within(
    opener: urllib.request.OpenerDirector, request: urllib.request.Request, left: float, where: str
) -> tuple[bool, bool, str]:
    """``_post`` with a real deadline: urllib's timeout bounds each socket read, so a server
    trickling a byte at a time could hold the sweep (and a stopping unit) for minutes. The
    attempt runs in a thread of its own, abandoned at the deadline; its own socket timeout
    ends it soon after."""
    box: list[tuple[bool, bool, str]] = []
    worker = threading.Thread(
        target=lambda: box.append(_post(opener, request, left, where)),
        name="alert-webhook",
        daemon=True,
    )
    worker.start()
    worker.join(max(0.0, left) + 0.5)
    if box:
        return box[0]
    return False, False, f"no complete answer from {where} within {left:.1f}s"


def _post(
    opener: urllib.request.OpenerDirector, request: urllib.request.Request, left: float, where: str
) -> tuple[bool, bool, str]:
    """(ok, worth another try, detail) of one attempt."""
    if left <= 0:
        return False, False, f"no answer from {where} within the timeout"
    try:
        with opener.open(request, timeout=left) as response:
            return True, False, f"HTTP {response.status} from {where}"
    except urllib.error.HTTPError as exc:  # any status but 2xx
        answer = _answer(exc)
        again = exc.code == 429 or exc.code >= 500
        return False, again, f"HTTP {exc.code} from {where}" + (f": {answer}" if answer else "")
    except (OSError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, TimeoutError):
            return False, True, f"no answer from {where} in {left:.1f}s"
        return False, True, f"cannot reach {where}: {_reason(reason)}"
    except ValueError as exc:  # a URL that urllib cannot use
        return False, False, f"cannot post to {where}: {exc}"


def _answer(exc: urllib.error.HTTPError) -> str:
    """The start of a failed request's response body: services explain refusals there."""
    try:
        data = exc.read(CUT * 4)
    except (OSError, http.client.HTTPException):
        return ""
    return _cut(data.decode("utf-8", errors="replace"))


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _scrub(text: str, notify: NotifySection) -> str:
    """``text`` without the webhook's path, query or userinfo, or a header value, should an
    error message or a server's answer have echoed one."""
    return redact(text, _secrets(notify))


def _secrets(notify: NotifySection) -> set[str]:
    secrets = set(notify.headers.values())
    if notify.webhook is not None:
        secrets.add(notify.webhook)
        try:
            parts = urlsplit(notify.webhook)
        except ValueError:
            parts = None
        if parts is not None:
            userinfo = parts.netloc.rpartition("@")[0]
            secrets.update((parts.path, parts.query, userinfo, *userinfo.split(":", 1)))
            secrets.add(notify.webhook.partition(parts.netloc)[2])
    return secrets


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST is resent as a GET without its body, maybe to a host nobody
    configured: a 3xx is a failure, reported with its status."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None
