"""A task's log on its way to its reader (``agentd log``): as it is into a pipe or a file,
made harmless on a terminal.

The log holds what the task printed, byte for byte, and the task is not ours: on a
terminal its escape sequences would act (clear the screen, retitle the window, hide lines),
so they are shown as escapes, like everything else agentd prints there. Into a pipe the
bytes go unchanged: ``agentd log p t | grep`` or ``> copy.log`` must see what the task
wrote, binary output included.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import BinaryIO

from agentd.daemon.output.textout import harmless
from agentd.daemon.tasks.tasklog import task_log_path

CHUNK = 64 * 1024


class LogOutput:
    """Writes a log's bytes, chunk by chunk as they are read, to ``stream``."""

    def __init__(self, stream: BinaryIO, terminal: bool) -> None:
        self.stream = stream
        self.terminal = terminal
        # Bytes that are not UTF-8 are shown as \\xNN, as the rest of the escapes are; a
        # character split between two chunks is decoded whole.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="backslashreplace")
        self._cr = False  # a CR at a chunk's end: the start of a CR LF, or a lone one?

    def write(self, data: bytes) -> None:
        if not self.terminal:
            self.stream.write(data)
            return
        self._text(self._decoder.decode(data))

    def _text(self, text: str) -> None:
        if self._cr:
            text = "\r" + text
            self._cr = False
        if text.endswith("\r"):
            text, self._cr = text[:-1], True
        if text:
            self.stream.write(harmless(text).encode("utf-8"))

    def flush(self) -> None:
        """What has been written reaches the reader (a follower's reader waits for it)."""
        self.stream.flush()

    def close(self) -> None:
        """The end of the log: a character cut short and a last CR are shown too."""
        if self.terminal:
            rest = self._decoder.decode(b"", final=True)
            cr, self._cr = self._cr, False
            if rest or cr:
                self.stream.write(harmless(rest + ("\r" if cr else "")).encode("utf-8"))
        self.stream.flush()


def copy_available(source: BinaryIO, out: LogOutput) -> int:
    """Everything ``source`` holds now, from where it stands; the number of bytes."""
    total = 0
    while chunk := source.read(CHUNK):
        out.write(chunk)
        total += len(chunk)
    return total


def failed_logs(run_path: Path) -> list[dict[str, str]]:
    """Where the failed tasks of a finished run left their logs, from its report: what
    ``agentd status`` points to; none for a run without a (readable) report."""
    try:
        report = json.loads((run_path / "report.json").read_text())
        tasks = {(p["name"], t["name"]): t for p in report["projects"] for t in p["tasks"]}
        failures = [(f.get("project"), f.get("task")) for f in report["failures"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    out = []
    for project, task in dict.fromkeys(failures):  # a task may fail twice (its cleanup)
        entry = tasks.get((project, task))
        if entry is None or not entry.get("log"):
            continue  # a project's or the sweep's own failure: no task log
        # Where the log is now: the run directory may have moved with the state directory.
        path = task_log_path(run_path, str(project), str(task))
        out.append({"project": str(project), "task": str(task), "log": str(path)})
    return out
