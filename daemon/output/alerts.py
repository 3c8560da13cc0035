"""Alerts after a sweep (``[notify]``): a command that reads the alert on stdin, a webhook.

An alert is best effort: a broken alert channel must never turn a finished sweep into a
crashed one, so nothing here raises. Every failure is logged and returned for the caller
to record. Hook URLs carry their secret in the path or query (Slack, Mattermost), so only
``scheme://host[:port]`` of one is ever logged or returned.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC
from pathlib import Path
from typing import Any

from agentd.config.model import NotifySection
from agentd.daemon import __version__
from agentd.daemon.model.clock import SYSTEM_CLOCK, Clock
from agentd.daemon.model.observer import QuietObserver
from agentd.daemon.model.report import AlertResult, Report
from agentd.daemon.model.results import failure_place
from agentd.daemon.model.status import TaskStatus
from agentd.daemon.output.httppost import one_line, post, scrub
from agentd.daemon.output.report import HTML_FILE, write_report
from agentd.daemon.tasks.runner import Command, run_process
from agentd.daemon.tasks.stop import StopToken
from agentd.daemon.tasks.taskcmd import inherited
from agentd.slog import structlog
from agentd.state.files import open_new

ALERT_FILE = "alert.json"
COMMAND_LOG = "alert-command.log"
TEXT_FAILURES = 10
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
    # The page, when the sweep's end could make it (null otherwise: never a dead link).
    page = Path(os.path.abspath(run_dir)) / HTML_FILE
    payload["html"] = str(page) if page.is_file() else None
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
        detail = scrub(detail, notify.webhook, notify.headers.values())
        if ok:
            log.info("alert.sent", via=via, detail=detail)
        else:
            log.error("alert.failed", via=via, detail=detail)
        results.append({"via": via, "ok": ok, "detail": detail})
    return results


def summary_line(report: dict[str, Any]) -> str:
    """The sweep in one line: run id, status, host and what ended how (no failure text,
    which may quote a task's output). The dead-man's switch sends this too."""
    counts = report.get("counts") or {}
    tally = [
        _plural(counts.get(f"{kind}s_{state}", 0), kind, state)
        for state in ("failed", "interrupted", "ok")
        for kind in ("project", "task")
        if counts.get(f"{kind}s_{state}", 0)
    ]
    head = f"agentd run {report.get('run_id')}: {report.get('status')} on {report.get('host')}"
    return head + (f": {', '.join(tally)}" if tally else "")


def _text(report: dict[str, Any], failures: list[dict[str, Any]]) -> str:
    parts = [summary_line(report)]
    for failure in failures[:TEXT_FAILURES]:
        where = failure_place(failure)
        parts.append(f"{where}: {failure['status']}: {one_line(str(failure['message'] or ''))}")
    text = "; ".join(parts)
    if len(failures) > TEXT_FAILURES:
        text += f" (+{len(failures) - TEXT_FAILURES} more)"
    return text


def _plural(number: int, noun: str, state: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'} {state}"


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
        with os.fdopen(open_new(alert), "wb") as handle:
            handle.write(json.dumps(payload, indent=2).encode() + b"\n")
    except OSError as exc:
        return False, f"cannot write {alert}: {exc.strerror}"
    env = inherited(environ)
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
    """POST the alert, retrying what may pass on a second try, all within ``timeout``."""
    assert notify.webhook is not None
    headers = {"Content-Type": "application/json", "User-Agent": f"agentd/{__version__}"}
    headers.update(notify.headers)

    def retrying(detail: str, pause: float) -> None:
        log.info(
            "alert.retrying",
            via="webhook",
            detail=scrub(detail, notify.webhook, notify.headers.values()),
            pause_s=pause,
        )

    body = json.dumps(payload).encode()
    return post(notify.webhook, body, headers, notify.timeout, clock, retrying, "alert-webhook")
