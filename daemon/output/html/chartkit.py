"""What the report page's charts share: rounding, status classes, durations and the
reading of a report's hostile values (a value that does not parse is left out of a
chart, never raised)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from agentd.config.durations import format_duration
from agentd.daemon.output.textout import harmless

STATUSES = frozenset({"ok", "failed", "timeout", "error", "interrupted", "skipped"})
Point = tuple[float, float]


def r1(value: float) -> float:
    """One decimal, and a whole number as an int: a template writes 12.0 as "12.0", and a
    page of a thousand bars would carry those two characters a few thousand times."""
    rounded = round(float(value), 1)
    return int(rounded) if rounded.is_integer() else rounded


def status_class(status: object) -> str:
    """A CSS class for a status word; anything else a report.json may hold is "unknown"."""
    text = str(status)
    return f"st-{text}" if text in STATUSES else "st-unknown"


def duration_text(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 10:
        return f"{seconds:.1f}s"  # "3.2s": a short task's tenths matter, its milliseconds not
    return format_duration(round(seconds))


def plain(value: object) -> str:
    return harmless(str(value)) if value is not None else "?"


def moment_of(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if not 1 < moment.year < 9999:
        return None  # a chart's arithmetic on it (zones, tick steps) would overflow
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def seconds_of(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def money(value: float | None) -> str:
    return f"${value:.2f}" if value is not None and math.isfinite(value) else "?"
