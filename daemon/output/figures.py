"""Figures as the report's views show them: a report read back from report.json is
anyone's file, so a number in it is a number only when it is a finite one (JSON readers
let ``Infinity`` and ``NaN`` through, and arithmetic or formatting on them raises)."""

from __future__ import annotations

import functools
import math
from typing import Any

from agentd.config.durations import format_duration


def number(value: Any) -> float | None:
    """``value`` as a finite float; None for anything else (text, booleans, NaN, inf, an
    integer too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value) if math.isfinite(value) else None
    except OverflowError:
        return None


def duration_text(seconds: float | None) -> str:
    """A duration as the page says it: "3.2s" (a short task's tenths matter, its
    milliseconds not), "2m5s", "1h2m"; "?" for none."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 10:
        return f"{seconds:.1f}s"
    return _whole(round(seconds))


@functools.lru_cache(maxsize=4096)
def _whole(seconds: int) -> str:
    """Cached: a page of 300 projects over 14 nights says some 25,000 durations, most of
    them a few hundred distinct whole seconds."""
    return format_duration(seconds)
