"""Text on its way to a terminal or a pipe: made harmless, and written without fuss.

Task output, agent answers, git messages and names from the configuration are not ours.
Printed raw, an escape sequence in them could clear the reader's screen, retitle the
terminal, or hide a line behind a carriage return. So every control character except tab
and newline is shown as an escape (``\\x1b``) instead of acting, and so are the Unicode
marks that reorder text on screen (bidirectional overrides). The text stays readable and
nothing is lost: the log files keep the bytes as they were.

Imported by the command line before anything heavy: standard library only.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator

# C0 controls but tab and newline, DEL, C1 controls; bidi embeddings, overrides, isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def harmless(text: str) -> str:
    """``text`` with every character that acts on a terminal shown as an escape instead.
    Line ends written as CR LF keep their line break; a lone CR (a progress bar redrawing
    its line) is shown, since it would otherwise hide what came before it."""
    return _UNSAFE.sub(_escape, text.replace("\r\n", "\n"))


def discard_stdout() -> None:
    """Further output to stdout goes nowhere: its reader is gone. (Also what is still in
    Python's buffer, which would otherwise fail again when the interpreter exits.)"""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """Output whose reader may have gone (``| head``): a broken pipe ends the output, not
    the command, whose exit status stays its own."""
    try:
        yield
    except BrokenPipeError:
        discard_stdout()
