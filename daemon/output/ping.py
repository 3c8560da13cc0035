"""A dead-man's switch in the healthchecks.io convention (``[notify] ping_url``).

``<url>/start`` as a sweep starts; at its end ``<url>`` when it succeeded (what makes
``agentd run --once`` exit 0: status ok and no failure) and ``<url>/fail`` otherwise:
failed, interrupted, or unable to run at all. A sweep that ran nothing (a manual one after
the night's had done everything) answers for the latest sweep that ran something instead,
as ``agentd status`` does: success if that one succeeded (or there is none), ``/fail`` if
it failed, so that a no-op neither clears a failed night's alarm nor raises one. The
ping service raises the alarm on a
``/fail``, and on a night without any ping, which catches what agentd cannot report
itself: the daemon down, the machine off. Each ping is a POST with one line of text (run
id, status, host, counts; never a failure's message, which may quote a task's output).
Both pings carry ``rid``, a UUID derived from the run id, so that the service pairs each
end with its own start when a manual sweep overlaps the daemon's.

Best effort, like the alerts: the start ping goes out in the background, so the sweep
never waits for it; the end waits for its ping (and for the start's, so that the service
sees them in order) at most ``[notify] timeout``. A ping that fails is a warning in the
log, with only ``scheme://host[:port]`` of the URL (its path is the check's secret), and
never changes a sweep's status or exit status.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agentd.config.secrets import redact_url
from agentd.daemon import __version__
from agentd.daemon.model.clock import SYSTEM_CLOCK, Clock
from agentd.daemon.model.observer import QuietObserver
from agentd.daemon.model.report import Report, latest_that_ran, ran_nothing
from agentd.daemon.model.status import SweepStatus
from agentd.daemon.output.alerts import summary_line
from agentd.daemon.output.httppost import post, scrub
from agentd.slog import structlog
from agentd.state import StateError, StateStore
from agentd.state.claims import this_host

START, FAIL = "start", "fail"
HEADERS = {"Content-Type": "text/plain; charset=utf-8", "User-Agent": f"agentd/{__version__}"}

log = structlog.get_logger("agentd.sweep")


class Pinger(QuietObserver):
    """The pings of one sweep: start when it starts, success or fail when it ends."""

    def __init__(
        self, url: str, timeout: float, store: StateStore, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.store = store  # its history: what a sweep that ran nothing answers for
        self.clock = clock
        self.starting: threading.Thread | None = None

    def sweep_started(self, run_id: str, projects: int, bound: int) -> None:
        noun = "project" if projects == 1 else "projects"
        body = f"agentd run {run_id} started on {this_host()}: {projects} {noun} to run"
        deadline = self.clock.monotonic() + self.timeout
        self.starting = threading.Thread(
            target=lambda: send(self.url, START, run_id, body, deadline, self.clock),
            name="ping-start",
            daemon=True,
        )
        self.starting.start()

    def sweep_finished(self, report: Report, run_dir: Path) -> None:
        deadline = self.clock.monotonic() + self.timeout
        if self.starting is not None:
            self.starting.join(max(0.0, deadline - self.clock.monotonic()))
            if self.starting.is_alive():
                # Sent now, it could reach the service before the start and be taken for
                # the end of an earlier run; the start is still unanswered anyway.
                log.warning(
                    "ping.not_sent",
                    run_id=report.run_id,
                    url=redact_url(self.url),
                    why=f"the start ping had no answer within {self.timeout:g}s",
                )
                return
        ok, body = succeeded(report), summary_line(report.to_dict())
        if ran_nothing(report.to_dict()):
            ok, body = self.standing(report.run_id, body)
        send(self.url, None if ok else FAIL, report.run_id, body, deadline, self.clock)

    def standing(self, run_id: str, body: str) -> tuple[bool, str]:
        """For a sweep that ran nothing: the outcome of the latest sweep that ran
        something, and the body saying which that is. A history that cannot be read
        leaves the sweep's own success (it ran, and failed nothing)."""
        try:
            runs = self.store.read().runs()
        except StateError as exc:
            log.warning("ping.history_unread", run_id=run_id, error=str(exc))
            return True, body
        last = latest_that_ran(runs)
        if last is None:
            return True, f"{body}; no sweep has run anything yet"
        earlier = runs[last]
        said = "".join(c for c in f"{earlier['run_id']} {earlier.get('status')}" if c.isprintable())
        ok = earlier.get("status") == SweepStatus.OK
        return ok, f"{body}; ran nothing, the latest sweep that ran something: {said[:100]}"


def succeeded(report: Report) -> bool:
    """What ``agentd run --once`` answers with exit status 0."""
    return report.status == SweepStatus.OK and not report.failures


def ping_failure(
    url: str | None, timeout: float, run_id: str | None, clock: Clock = SYSTEM_CLOCK
) -> None:
    """``/fail`` for a sweep that could not run, or crashed, and left no report to send it:
    the ping service hears of it now rather than at the end of its grace time. The body is
    a fixed line with the run id, if the sweep got one: the reason may quote the state or
    an exception, and stays in agentd's log."""
    if url is not None:
        run = f" (run {run_id})" if run_id else ""
        body = f"agentd: a sweep could not run on {this_host()}{run}; see agentd's log"
        send(url, FAIL, run_id, body, clock.monotonic() + timeout, clock)


def target(url: str, kind: str | None, run_id: str | None) -> str:
    """``url`` with ``/kind`` added to its path, and ``rid`` to its query for a run."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/") + (f"/{kind}" if kind else "")
    query = parts.query
    if run_id is not None:
        rid = uuid.uuid5(uuid.NAMESPACE_URL, f"agentd-run:{run_id}")
        query = f"{query}&rid={rid}" if query else f"rid={rid}"
    return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))


def send(
    url: str, kind: str | None, run_id: str | None, body: str, deadline: float, clock: Clock
) -> bool:
    """One ping, given up at ``deadline`` (clock.monotonic()); never raises."""
    what = kind or "success"
    bound: Any = log.bind(run_id=run_id) if run_id else log

    def retrying(detail: str, pause: float) -> None:
        bound.info("ping.retrying", ping=what, detail=scrub(detail, url), pause_s=pause)

    left = deadline - clock.monotonic()
    try:
        ok, detail = post(
            target(url, kind, run_id), body.encode(), HEADERS, left, clock, retrying, "ping"
        )
    except Exception as exc:  # noqa: BLE001 - a ping must not take the sweep down
        ok, detail = False, f"internal error: {exc!r}"
    detail = scrub(detail, url)
    if ok:
        bound.info("ping.sent", ping=what, url=redact_url(url), detail=detail)
    else:
        bound.warning("ping.failed", ping=what, url=redact_url(url), detail=detail)
    return ok
