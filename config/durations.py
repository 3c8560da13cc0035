"""Duration strings such as ``"90s"``, ``"10m"`` or ``"1h30m"``.

TOML has no duration type, and a bare number of seconds in a config file is the kind of
value people misread at 3 a.m.; so durations are strings with explicit units, and they are
printed back the same way by ``agentd config show``.
"""

from __future__ import annotations

import re

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
# Beyond a year a duration is a typo, and date arithmetic would overflow somewhere.
MAX_DAYS = 365
MAX_SECONDS = MAX_DAYS * 86400
_PART = re.compile(r"(\d+(?:\.\d+)?)(d|h|ms|m|s)")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises ValueError with a message fit for a config error."""
    s = text.strip().lower()
    if not s:
        raise ValueError("empty duration; write it like '90s', '10m' or '1h30m'")
    pos = 0
    total = 0.0
    seen: list[str] = []
    for match in _PART.finditer(s):
        if match.start() != pos:
            break
        number, unit = match.groups()
        if unit in seen:
            raise ValueError(f"unit {unit!r} given twice in {text!r}")
        seen.append(unit)
        total += float(number) * (0.001 if unit == "ms" else _UNITS[unit])
        pos = match.end()
    if pos != len(s) or not seen:
        raise ValueError(f"{text!r} is not a duration; write it like '90s', '10m' or '1h30m'")
    if total > MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than {MAX_DAYS} days")
    return total


def format_duration(seconds: float) -> str:
    """The shortest string that ``parse_duration`` reads back as ``seconds``."""
    if seconds == 0:
        return "0s"
    whole = int(seconds)
    rest_ms = round((seconds - whole) * 1000)
    out = []
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if whole >= size:
            out.append(f"{whole // size}{unit}")
            whole %= size
    if rest_ms:
        out.append(f"{rest_ms}ms")
    return "".join(out)
