"""One way to POST to a URL agentd was given (the alert webhook, the dead-man's switch):
within a deadline, retrying what may pass on a second try, and saying what happened with
only ``scheme://host[:port]`` of the URL, since hook and ping URLs carry their secret in
the path or query.

Nothing here raises for a failure to deliver: the callers send best effort and must never
turn a finished sweep into a crashed one.
"""

from __future__ import annotations

import http.client
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import IO
from urllib.parse import urlsplit

from agentd.config.secrets import redact_url
from agentd.daemon.model.clock import Clock
from agentd.daemon.output.redact import redact

ATTEMPTS = 3
PAUSES = (1.0, 2.0)  # before the second and the third attempt
CUT = 200  # characters of a server's answer in a detail


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    clock: Clock,
    on_retry: Callable[[str, float], None],
    name: str = "http-post",
) -> tuple[bool, str]:
    """POST ``body`` to ``url``, retrying what may pass on a second try (no connection, a
    timeout, 429, 5xx), all within ``timeout`` seconds: (delivered, what happened).
    ``on_retry(detail, pause)`` hears each failed attempt that is tried again."""
    where = redact_url(url)
    # The config admits only http:// and https:// URLs.
    request = urllib.request.Request(url, body, dict(headers), method="POST")  # noqa: S310
    opener = urllib.request.build_opener(_NoRedirect)
    deadline = clock.monotonic() + timeout
    attempt = 1
    while True:
        left = deadline - clock.monotonic()
        ok, again, detail = _post_within(opener, request, left, where, name)
        if ok:
            return True, detail + (f" (attempt {attempt})" if attempt > 1 else "")
        pause = PAUSES[attempt - 1] if attempt < ATTEMPTS else None
        if not again or pause is None or clock.monotonic() + pause >= deadline:
            return False, detail + (f" (after {attempt} attempts)" if attempt > 1 else "")
        on_retry(detail, pause)
        clock.sleep(pause)
        attempt += 1


def url_secrets(url: str) -> set[str]:
    """The parts of ``url`` that are not to be shown: everything after its host, and
    userinfo, should an error message or a server's answer echo one."""
    secrets = {url}
    try:
        parts = urlsplit(url)
    except ValueError:
        return secrets
    userinfo = parts.netloc.rpartition("@")[0]
    secrets.update((parts.path, parts.query, userinfo, *userinfo.split(":", 1)))
    secrets.add(url.partition(parts.netloc)[2])
    return secrets


def scrub(text: str, url: str | None, also: Iterable[str] = ()) -> str:
    """``text`` (an error, a server's answer) without the parts of ``url`` that are not to
    be shown, nor ``also`` (header values), should it echo one."""
    return redact(text, (url_secrets(url) if url is not None else set()) | set(also))


def one_line(text: str, limit: int = CUT) -> str:
    """One line of at most ``limit`` characters: a chat line or a log field, not a log."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _post_within(
    opener: urllib.request.OpenerDirector,
    request: urllib.request.Request,
    left: float,
    where: str,
    name: str,
) -> tuple[bool, bool, str]:
    """``_post`` with a real deadline: urllib's timeout bounds each socket read, so a server
    trickling a byte at a time could hold the sweep (and a stopping unit) for minutes. The
    attempt runs in a thread of its own, abandoned at the deadline; its own socket timeout
    ends it soon after."""
    box: list[tuple[bool, bool, str]] = []
    worker = threading.Thread(
        target=lambda: box.append(_post(opener, request, left, where)), name=name, daemon=True
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
    return one_line(data.decode("utf-8", errors="replace"))


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


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
