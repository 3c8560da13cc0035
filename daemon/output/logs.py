"""Logging: structlog events, one per line, on stderr (SPEC section 8).

JSON lines when stderr is not a terminal (journald, files, pipes), a coloured console
otherwise. structlog goes through the standard library's logging so that APScheduler's
own records come out in the same format, through the same handler.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from agentd.daemon.output.textout import harmless

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


def configure(level: str = "info", fmt: str = "auto") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
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
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS.get(level, logging.INFO))
    # APScheduler logs every job run at INFO; ours already says what happened.
    logging.getLogger("apscheduler").setLevel(max(root.level, logging.WARNING))
