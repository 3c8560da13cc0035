"""What the fake agent CLIs beside this file share: the FAKE_* settings, the trace file,
and the changes they make to the repository they run in.

Each fake takes exactly its built-in preset's argv (config/presets.py), or `--version`
alone, and, like the real CLI, exits 2 on any other flag (argparse does that). It then
hands `run` the output its CLI would print, and the environment decides what really happens:

    FAKE_COST            USD: claude's total_cost_usd (default 0.0312), aider's session
                         cost (default 0.0063; "none": a model aider has no price for).
                         codex and gemini report no cost.
    FAKE_INPUT_TOKENS    input tokens, cached ones included (default 1830)
    FAKE_OUTPUT_TOKENS   output tokens (default 412)
    FAKE_CACHED_TOKENS   the part of the input read from or written to a cache (default 0)
    FAKE_THOUGHT_TOKENS  gemini's thinking tokens, counted only in its "total" (default 0)
    FAKE_OUTPUT          good (default) | garbage | truncated | none | weird | error
                         (error: what the real CLI prints with no account and no
                         network, as captured in tests/agents/captured/, and its exit
                         status; codex then waits until killed, as the real one does)
    FAKE_SLEEP           seconds to wait before printing (default 0)
    FAKE_EXIT            exit status (default 0)
    FAKE_TRACE           a file to append a "start" and an "end" JSON line to
    FAKE_COMMIT=1        commit a new file agent-NAME-PID.txt in the current directory
    FAKE_DIRTY=1         leave an untracked agent-scratch.txt in the current directory
    FAKE_VERSION         what `--version` prints (default: the real CLI's kind of line)
    FAKE_VERSION_EXIT    `--version`'s exit status (default 0)

The token settings mean what agents.usage reports (input with cached, output), so a test
expects back what it set; each fake splits them into its own CLI's fields. A run killed
during FAKE_SLEEP leaves a "start" without an "end" in the trace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

MODES = ("good", "garbage", "truncated", "none", "weird", "error")

# What a crashed or confused CLI might leave in a log: neither JSON nor a usage line.
GARBAGE = (
    "\x1b[31m✗ unexpected response from the model server\x1b[0m\n"
    "<html><body><h1>502 Bad Gateway</h1></body></html>\n"
    "{{ not json ]] cost: lots\n"
)


@dataclass(frozen=True)
class Figures:
    cost: float | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    thought_tokens: int

    @property
    def fresh_tokens(self) -> int:
        return self.input_tokens - self.cached_tokens


@dataclass(frozen=True)
class Output:
    """A fake's stdout when all goes well is ``before`` then ``result`` (the part that
    carries usage). ``weird`` replaces ``result`` with the right shape but wrong value
    types; ``truncated`` replaces it when killed mid-write (default: its first half)."""

    before: str
    result: str
    weird: str
    truncated: str | None = None
    stderr: str = ""
    # FAKE_OUTPUT=error: stdout, stderr and exit status (None: never exits by itself).
    error: tuple[str, str, int | None] = ("", "", 1)

    def stdout(self, mode: str) -> str:
        if mode == "none":
            return ""
        if mode == "garbage":
            return GARBAGE
        if mode == "weird":
            return self.before + self.weird
        if mode == "truncated":
            half = self.result[: len(self.result) // 2]
            return self.before + (half if self.truncated is None else self.truncated)
        return self.before + self.result


# What each real CLI's --version prints, in its own form.
VERSIONS = {
    "claude": "2.0.14 (Claude Code)",
    "codex": "codex-cli 0.46.0",
    "gemini": "0.9.0",
    "aider": "aider 0.86.1",
}


def answer_version(name: str) -> None:
    """``NAME --version`` alone, as every real CLI accepts it (``agentd doctor`` asks)."""
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(os.environ.get("FAKE_VERSION", VERSIONS[name]) + "\n")
        sys.exit(int(os.environ.get("FAKE_VERSION_EXIT", "0")))


def run(name: str, default_cost: float | None, build: Callable[[Figures], Output]) -> NoReturn:
    mode = os.environ.get("FAKE_OUTPUT", "good")
    if mode not in MODES:
        sys.exit(f"{name}: FAKE_OUTPUT must be one of {', '.join(MODES)}, not {mode!r}")
    output = build(_figures(default_cost))
    if mode == "error":
        _fail(*output.error)
    _trace(
        event="start",
        agent=name,
        pid=os.getpid(),
        cwd=os.getcwd(),
        project_dir=os.environ.get("AGENTD_PROJECT_DIR"),
        branch=os.environ.get("AGENTD_BRANCH"),
        t=time.time(),
    )
    if mode != "none":
        _write(sys.stderr, output.stderr)
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    _change_files(name)
    _write(sys.stdout, output.stdout(mode))
    _trace(event="end", agent=name, pid=os.getpid(), t=time.time())
    sys.exit(int(os.environ.get("FAKE_EXIT", "0")))


def _fail(stdout: str, stderr: str, code: int | None) -> NoReturn:
    _write(sys.stderr, stderr)
    _write(sys.stdout, stdout)
    while code is None:  # a CLI that retries forever: until the task's timeout kills it
        time.sleep(3600)
    sys.exit(int(os.environ.get("FAKE_EXIT", str(code))))


def compact(value: Any) -> str:
    """One JSON line as the Node and Rust CLIs print it (no spaces, UTF-8 kept)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False) + "\n"


def _figures(default_cost: float | None) -> Figures:
    raw_cost = os.environ.get("FAKE_COST")
    cost = default_cost if raw_cost is None else None if raw_cost == "none" else float(raw_cost)
    counts = {
        key: int(os.environ.get(key, default))
        for key, default in (
            ("FAKE_INPUT_TOKENS", 1830),
            ("FAKE_OUTPUT_TOKENS", 412),
            ("FAKE_CACHED_TOKENS", 0),
            ("FAKE_THOUGHT_TOKENS", 0),
        )
    }
    # A misconfigured test should fail loudly here, not pass on output no CLI prints.
    if min(counts.values()) < 0 or counts["FAKE_CACHED_TOKENS"] > counts["FAKE_INPUT_TOKENS"]:
        sys.exit(f"fake agent: token counts must be >= 0 and cached <= input: {counts}")
    return Figures(cost, *counts.values())


def _trace(**event: Any) -> None:
    path = os.environ.get("FAKE_TRACE")
    if not path:
        return
    # One write on an O_APPEND descriptor: lines of concurrent fakes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(event) + "\n").encode())
    finally:
        os.close(fd)


def _change_files(name: str) -> None:
    if os.environ.get("FAKE_COMMIT") == "1":
        path = Path(f"agent-{name}-{os.getpid()}.txt")
        path.write_text(f"changed by the fake {name}\n")
        subprocess.run(["git", "add", path.name], check=True)
        who = ["-c", "user.name=fake", "-c", "user.email=fake@example.com"]
        subprocess.run(
            ["git", *who, "commit", "-q", "-m", "agent change", "--", path.name], check=True
        )
    if os.environ.get("FAKE_DIRTY") == "1":
        Path("agent-scratch.txt").write_text(f"left behind by the fake {name}\n")


def _write(stream: Any, text: str) -> None:
    # Flushed at once so stdout and stderr reach a shared log in the order written.
    stream.buffer.write(text.encode())
    stream.flush()
