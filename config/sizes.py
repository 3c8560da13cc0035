"""Byte sizes such as ``"100MiB"`` or ``"1.5GB"``, for the same reason durations carry units:
a bare ``104857600`` is misread at 3 a.m."""

from __future__ import annotations

import re

_UNITS = {
    "b": 1,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]+)$")
EXAMPLES = "'512KiB', '100MiB' or '2GB'"


def parse_size(text: str) -> int:
    """Bytes in ``text``; raises ValueError with a message fit for a config error."""
    match = _SIZE.match(text.strip().lower())
    if not match or match.group(2) not in _UNITS or len(match.group(1)) > 30:
        raise ValueError(f"{text[:40]!r} is not a size; write it like {EXAMPLES}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_size(size: int) -> str:
    """The shortest exact binary spelling (``100MiB``), else bytes; what ``parse_size``
    reads back as ``size``."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = _UNITS[unit.lower()]
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size}B"


def human(size: float) -> str:
    """Approximate, for people reading a report: ``2.9 GiB``."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = _UNITS[unit.lower()]
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} bytes"
