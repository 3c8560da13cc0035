"""How agent CLIs print what the readers look for, shared by the usage parsers
(``agents.usage``) and the answer readers (``agents.replies``): JSON objects one per line
or one pretty-printed document at the end, aider's per-reply ``Tokens:`` line, terminal
colour codes. One place, so a format a new CLI version changes is fixed for both.

The logs are not ours: these never raise on what they read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

_NUMBER = r"[\d,]+(?:\.\d+)?k?"
# aider's line after each reply: ``Tokens: 2.3k sent, 120 received.`` (cache figures between).
AIDER_TOKENS = re.compile(
    rf"Tokens: (?P<sent>{_NUMBER}) sent"
    rf"(?:, (?P<write>{_NUMBER}) cache write)?"
    rf"(?:, (?P<hit>{_NUMBER}) (?:cache hit|cached))?"
    rf", (?P<received>{_NUMBER}) received\."
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colour and cursor codes in a plain-text log


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    """JSON objects, one per line, last first; lines that are not JSON are skipped (stderr
    shares the log). A line holding an array yields its objects, last first."""
    for raw in reversed(text.splitlines()):
        line = raw.strip()
        if not (line.startswith(("{", "[")) and line.endswith(("}", "]"))):
            continue
        try:
            value = json.loads(line, parse_constant=_not_a_number)
        except (ValueError, RecursionError):  # one line of garbage costs that line alone
            continue
        for item in reversed(value) if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                yield item


def last_json_document(text: str) -> dict[str, Any] | None:
    """A pretty-printed JSON object ending the output (gemini prints one): it starts at
    one of the last lines that begin with "{" in the first column."""
    end = text.rstrip()
    if not end.endswith("}"):
        return None
    starts = [m.start() for m in re.finditer(r"(?m)^\{", end)]
    for begin in reversed(starts[-50:]):
        try:
            value = json.loads(end[begin:], parse_constant=_not_a_number)
        except (ValueError, RecursionError):
            continue
        return value if isinstance(value, dict) else None
    return None


class _NotANumber:
    """What ``NaN`` and ``Infinity`` (JavaScript's, not JSON's) read as: a value that no
    figure accepts, so a bad figure is dropped alone and the rest of its line still
    counts."""


_NAN = _NotANumber()


def _not_a_number(constant: str) -> Any:
    return _NAN
