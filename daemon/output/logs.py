"""Logging: structlog events, one per line, on stderr (SPEC section 8).

JSON lines when stderr is not a terminal (journald, files, pipes), a coloured console
otherwise. structlog goes through the standard library's logging so that APScheduler's
own records come out in the same format, through the same handler.

While a live view owns the terminal (``agentd run --once``), the console records would
scroll it away: ``hand_to_view`` then drops what is below warning and hands warnings and
errors to the view, one line each, to show where they cannot tear it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from agentd.daemon.output.textout import harmless
from agentd.slog import structlog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is now, so a live terminal view can redirect logs
    above itself instead of having them tear through it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _harmless_values(logger: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
    """On a console, values that came from a task, a repository or the state file must
    not act on the terminal; JSON lines escape them already."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = harmless(value)
        elif isinstance(value, list):
            event[key] = [harmless(v) if isinstance(v, str) else v for v in value]
    return event


@dataclass(frozen=True)
class Heard:
    """A warning or an error, for a live view: its level, its event and one line of text."""

    level: int
    event: str
    line: str


# Said by the place and the level of the line already, or too long for one line.
_LEFT_OUT = {"event", "level", "logger", "timestamp", "run_id", "project", "task", "log"}


def _one_line(logger: Any, name: str, event: MutableMapping[str, Any]) -> str:
    """``warning  task.finish  proj/test  status=failed reason='exit status 1'``: what a
    record says, short enough to read in a view's footer (its time and paths are in the
    report and in the log when one is kept)."""
    place = "/".join(str(event[k]) for k in ("project", "task") if event.get(k) is not None)
    fields = " ".join(
        f"{key}={_value(value)}"
        for key, value in event.items()
        if key not in _LEFT_OUT and value is not None
    )
    parts = [str(event.get("level", name)), str(event.get("event", "")), place, fields]
    return harmless("  ".join(part for part in parts if part))


def _value(value: Any) -> str:
    """A word as itself, anything else as Python writes it: a reason with spaces stays one
    value to the eye (``reason='exit status 1'``)."""
    if isinstance(value, str) and value and not any(c.isspace() for c in value):
        return value
    return repr(value) if isinstance(value, str | list | tuple | dict) else str(value)


class _Terminal(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler: records as configured, or, while a live view has them, only the
    warnings and errors, handed to it."""

    def __init__(self, on_terminal: bool, keep: bool) -> None:
        super().__init__(_CurrentStderr())
        self.on_terminal = on_terminal
        self.keep = keep
        self.view: Callable[[Heard], None] | None = None
        self.brief = structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_log_level],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _exception_line,
                _one_line,
            ],
        )

    def emit(self, record: logging.LogRecord) -> None:
        view = self.view
        if view is None:
            super().emit(record)
            return
        if record.levelno < logging.WARNING:
            return
        msg = record.msg
        try:
            event = str(msg.get("event", "")) if isinstance(msg, dict) else record.getMessage()
            view(Heard(record.levelno, event, self.brief.format(record)))
        except Exception:  # noqa: BLE001 - logging's own policy: say so on stderr, go on
            self.handleError(record)


def _exception_line(
    logger: Any, name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """An exception as its last line (``RuntimeError: boom``), not a traceback, in one line."""
    event = structlog.processors.format_exc_info(logger, name, event)
    text = event.pop("exception", None)
    if text:
        event["exception"] = text.strip().splitlines()[-1]
    return event


def hand_to_view(view: Callable[[Heard], None]) -> bool:
    """From now on, records below warning stay off the terminal and warnings and errors go
    to ``view`` (from any thread) instead of being printed, until ``configure`` runs again.

    Only when the records go to the terminal as console lines: JSON, a stderr that is a
    file or a pipe, and an ``--log-level`` below warning given on the command line (see
    ``configure``) keep the records as they are, and False says so."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _Terminal) and handler.on_terminal and not handler.keep:
            handler.view = view
            return True
    return False


def configure(level: str = "info", fmt: str = "auto", asked: bool = False) -> None:
    """``asked``: the level was given on the command line. Someone who asks a terminal for
    debug or info records gets them, printed above a live view as they come."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.format_exc_info] if use_json else [_harmless_values]),
            renderer,
        ],
    )
    keep = asked and LEVELS.get(level, logging.INFO) < logging.WARNING
    handler = _Terminal(on_terminal=not use_json and sys.stderr.isatty(), keep=keep)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS.get(level, logging.INFO))
    # APScheduler logs every job run at INFO; ours already says what happened.
    logging.getLogger("apscheduler").setLevel(max(root.level, logging.WARNING))
