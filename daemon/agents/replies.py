"""What an agent run said, read from the agent's own output: one reader per CLI.

The morning report shows each agent run's final answer, and for a run that failed the
agent's own words for why ("Not logged in · Please run /login"), not the JSON object that
carries them. Like ``agents.usage``, a reader takes the end of a log that is not ours
(stderr interleaved, cut by a timeout, any bytes, a future CLI's format) and answers None
when it finds nothing of its format at all; it never raises on what it reads. Which
reader reads which agent's log is ``agents.registry``'s business.

The formats, as the pinned CLIs print them (``tests/agents/captured/`` holds real
outputs, ``tests/agents/test_real_clis.py`` runs the CLIs themselves):

- claude ``-p --output-format json``: one ``{"type": "result", ...}`` object; ``result``
  is the answer, or with ``is_error`` true the error ("Not logged in · Please run /login",
  ``subtype`` "success" all the same); ``error_*`` subtypes may carry ``errors`` instead.
- codex ``exec --json``: JSON lines; the answer is the last ``item.completed`` whose item
  is an ``agent_message`` (its ``text``); a failure is ``turn.failed`` (``error.message``)
  or ``error`` events (``message``: "Reconnecting... 2/5 (...)", later "Reconnecting...
  waiting for network"), which it keeps printing without a network until killed.
- gemini ``-p --output-format json``: one pretty-printed document (on stderr when it
  failed) with ``response`` or ``error: {type, message, code}`` (exit 41: no auth method);
  stream-json: ``message`` events (assistant ``content`` deltas), ``error`` events, and a
  last ``result`` whose ``error`` says why when ``status`` is "error".
- aider ``--no-pretty``: plain text; each reply is followed by its ``Tokens: ...`` line
  (see ``parse_aider``), so the last reply is what precedes the last such line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agentd.daemon.agents.formats import AIDER_TOKENS, ANSI, json_lines, last_json_document

# What report.json keeps of an answer: an agent may paste a whole file into its reply.
ANSWER_CHARS = 16 * 1024
# An error is a headline: one line, short enough for a table cell and an alert.
ERROR_CHARS = 300
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Answer:
    text: str | None  # the run's final answer, as the agent gave it (whole: see capped)
    error: str | None  # the agent's own account of why it failed: one line (see headline)

    @property
    def empty(self) -> bool:
        return self.text is None and self.error is None


def headline(text: str, limit: int | None = ERROR_CHARS) -> str:
    """An error message as one line, of at most ``limit`` characters. The readers leave
    it whole (``limit`` None): whoever shows it masks its secrets first, then cuts it, so
    that no secret is cut in two and half shown."""
    line = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    return line if limit is None or len(line) <= limit else line[: limit - 1] + "…"


def capped(text: str, limit: int = ANSWER_CHARS) -> str:
    """An answer cut to ``limit`` characters, saying so and how much is left out (after
    its secrets are masked, as for ``headline``)."""
    if len(text) <= limit:
        return text
    rest = len(text) - limit
    return text[:limit] + f"\n… [answer cut: {rest} more characters, the whole of it in the log]"


def _text(value: Any) -> str | None:
    """A string the agent gave, or None where it gave none (or not a string)."""
    return value if isinstance(value, str) and value.strip() else None


def _error(value: Any) -> str | None:
    text = _text(value)
    return headline(text, None) if text is not None else None


# -- Claude Code ---------------------------------------------------------------------------


def answer_claude(text: str) -> Answer | None:
    for obj in json_lines(text):
        if obj.get("type") != "result":
            continue
        said = _text(obj.get("result"))
        if obj.get("is_error") is True or str(obj.get("subtype", "")).startswith("error"):
            errors = obj.get("errors")
            listed = [e for e in errors if isinstance(e, str)] if isinstance(errors, list) else []
            why = said or "; ".join(listed) or f"{obj.get('subtype') or 'error'} (no message)"
            return Answer(None, headline(why, None))
        return Answer(said, None)
    return None


# -- OpenAI Codex CLI ----------------------------------------------------------------------


def answer_codex(text: str) -> Answer | None:
    """Read backwards: the last agent message is the answer; an error counts only when no
    turn completed after it (codex reports the retries of a turn that then succeeded)."""
    error: str | None = None
    completed = False
    seen = False
    for obj in json_lines(text):
        kind = obj.get("type")
        msg: dict[str, Any] = obj["msg"] if isinstance(obj.get("msg"), dict) else {}
        if kind in ("thread.started", "turn.started", "turn.completed", "item.completed"):
            seen = True
        if kind == "turn.completed" or msg.get("type") == "task_complete":
            completed = True
            if last := _text(msg.get("last_agent_message")):  # before 0.44
                return Answer(last, None)
        elif kind == "item.completed":
            item: dict[str, Any] = obj["item"] if isinstance(obj.get("item"), dict) else {}
            if item.get("type") == "agent_message" and (said := _text(item.get("text"))):
                return Answer(said, None if completed else error)
        elif msg.get("type") == "agent_message" and (said := _text(msg.get("message"))):
            return Answer(said, None if completed else error)
        elif error is None and not completed:
            error = _codex_error(obj, kind, msg)
            seen = seen or error is not None
    return Answer(None, error) if seen else None


def _codex_error(obj: dict[str, Any], kind: Any, msg: dict[str, Any]) -> str | None:
    if kind == "turn.failed":
        failed = obj.get("error")
        return _error(failed.get("message") if isinstance(failed, dict) else failed)
    if kind == "error":
        return _error(obj.get("message"))
    if msg.get("type") in ("error", "stream_error"):  # before 0.44
        return _error(msg.get("message"))
    return None


# -- Gemini CLI ----------------------------------------------------------------------------


def answer_gemini(text: str) -> Answer | None:
    doc = last_json_document(text)
    if doc is not None and ("response" in doc or "error" in doc):
        failed = doc.get("error")
        why = failed.get("message") if isinstance(failed, dict) else failed
        return Answer(_text(doc.get("response")), _error(why))
    return _gemini_stream(text)


def _gemini_stream(text: str) -> Answer | None:
    """stream-json: the assistant's ``message`` deltas since the last user message, and the
    error of a ``result`` with status "error" (else of the last ``error`` event)."""
    parts: list[str] = []
    error: str | None = None
    result: dict[str, Any] | None = None
    for obj in json_lines(text):  # last first
        kind = obj.get("type")
        if kind == "result" and result is None and "status" in obj:  # not claude's result
            result = obj
        elif kind == "error" and error is None:
            error = _error(obj.get("message"))
        elif kind == "message" and obj.get("role") == "user":
            break
        elif kind == "message" and obj.get("role") == "assistant":
            content = obj.get("content")
            parts.append(content if isinstance(content, str) else "")
    if result is None and not parts and error is None:
        return None
    if result is not None and result.get("status") == "error":
        failed = result.get("error")
        error = _error(failed.get("message") if isinstance(failed, dict) else failed) or error
    elif result is not None:
        error = None  # the run went on to succeed
    return Answer(_text("".join(reversed(parts))), error)


# -- aider ---------------------------------------------------------------------------------

# What aider itself prints around the model's replies (its banner, applying the edits,
# committing them, retrying), not the model's words.
_AIDER_OWN = re.compile(
    r"^(Aider v\d|Main model:|Weak model:|Editor model:|Model:|Git repo:|Repo-map:"
    r"|Added .+ to the chat|Applied edit to |Commit [0-9a-f]{7,} |Retrying in "
    r"|Cost: \$|https://aider\.chat/|Warning: |Cur working dir:|Note: |Use /help)"
)


# How aider shows a model call that failed (base_coder.check_and_open_urls): litellm's
# exception on one line, then, for the ones it knows, a line saying what to do.
_AIDER_ERROR = re.compile(r"^litellm\.\w+: .*$", re.MULTILINE)


def answer_aider(text: str) -> Answer | None:
    """The lines between the last reply's ``Tokens:`` line and the one before it (or the
    start), without aider's own lines; a model call that failed after it is the error
    (aider exits 0 all the same)."""
    text = ANSI.sub("", text)
    ends = [m.start() for m in AIDER_TOKENS.finditer(text)]
    failed = [m for m in _AIDER_ERROR.finditer(text) if not ends or m.start() > ends[-1]]
    error = _aider_error(text, failed[-1]) if failed else None
    if not ends:
        return Answer(None, error) if error else None
    # From the line after the previous reply's Tokens line (0 when it is the last line).
    start = text.find("\n", ends[-2]) + 1 if len(ends) > 1 else 0
    lines = text[start : ends[-1]].splitlines()
    reply = "\n".join(line for line in lines if not _AIDER_OWN.match(line)).strip()
    return Answer(reply or None, error)


def _aider_error(text: str, found: re.Match[str]) -> str:
    """aider's advice ("The API provider is not able to authenticate you. Check your API
    key."), with litellm's exception name; the exception's line when there is no advice."""
    after = text[found.end() :].lstrip("\n").split("\n", 1)[0].strip()
    kind = found.group(0).split(":", 1)[0]
    if after and not after.startswith(("litellm.", "Open URL", "Retrying", "Tokens:")):
        return headline(f"{after} ({kind})", None)
    return headline(found.group(0), None)


# -- any agent -----------------------------------------------------------------------------

_JSONISH = re.compile(r"^\s*[\[\]{}\"]")


def last_words(text: str) -> str | None:
    """The last line of a failed run's log that is not JSON (nor a piece of it): where a
    CLI says why it gave up before printing its format ("Not inside a trusted directory",
    a missing API key), on stderr."""
    for line in reversed(ANSI.sub("", text).splitlines()[-200:]):
        if line.strip() and not _JSONISH.match(line):
            return headline(line, None)
    return None
