"""What an agent run said: its final answer, or for a failed run the agent's own error,
read from its log with the reader of its format (``agents.registry``, one per CLI).

The report shows this in place of the log's last lines: a person wants "claude: Not
logged in · Please run /login", not the JSON object around it. A failed run whose output
holds nothing of its format (the CLI gave up before printing it: no git repository, a
bad flag) is described by the last line it printed that is not JSON.
"""

from __future__ import annotations

from pathlib import Path

from agentd.daemon.agents.registry import AGENTS, AUTO
from agentd.daemon.agents.replies import ANSWER_CHARS, Answer, capped, headline, last_words
from agentd.daemon.agents.usage import read_tail

__all__ = ["ANSWER_CHARS", "Answer", "answer_from_log", "capped", "headline", "read_answer"]


def read_answer(
    fmt: str, log_text: str, *, failed: bool = False, agent: str | None = None
) -> Answer:
    """``log_text`` read as usage format ``fmt`` (an agent's name, ``auto`` or ``none``).
    The error names the agent (``agent``, else the format whose output was found):
    "claude: Not logged in · Please run /login". ``failed``: the run failed, so a log with
    nothing of the format still gives its last plain line as the error. Both are whole:
    mask their secrets, then cut them with ``capped`` and ``headline``."""
    name, found = _read(fmt, log_text)
    answer = found or Answer(None, None)
    if answer.error is None and failed and answer.text is None:
        answer = Answer(None, last_words(log_text))
    if answer.error is not None:
        who = agent or name
        error = f"{who}: {answer.error}" if who else answer.error
        answer = Answer(answer.text, headline(error, None))
    return answer


def _read(fmt: str, text: str) -> tuple[str | None, Answer | None]:
    """The CLI whose format was found and what it read there."""
    if fmt in AGENTS:
        return fmt, AGENTS[fmt].said(text)
    if fmt == AUTO:
        for cli in AGENTS.values():
            found = cli.said(text)
            if found is not None and not found.empty:
                return cli.name, found
    return None, None  # "none": this agent's output is not read


def answer_from_log(
    path: Path, fmt: str, *, failed: bool = False, agent: str | None = None
) -> Answer:
    """What an agent said in its log (stdout and stderr together, the last 8 MiB)."""
    try:
        text = read_tail(path)
    except OSError:
        return Answer(None, None)  # not the agent's words: the run's reason says what failed
    return read_answer(fmt, text, failed=failed, agent=agent)
