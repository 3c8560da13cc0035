"""Reading what an agent run cost from the agent's own output: one parser per CLI.

Each CLI reports usage its own way (see the parsers below and the examples in
``tests/agents/test_usage.py``). The output is not ours: any of it may be missing, cut
short by a timeout, or changed by a new CLI version. So a parser answers ``None`` when it
finds no usage report at all (``agents.registry`` then gives that CLI's own reason, which
names the flag that prints one) and "unknown, because ..." when the report it found is
unusable; a number is only taken when it is a finite, non-negative number. Which parser
reads which agent's log is the registry's business, not this module's.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentd.daemon.agents.formats import AIDER_TOKENS, ANSI, json_lines, last_json_document

# The final result of an agent comes last; a run that printed more than this after it
# (or a single result line longer than this) is "usage unknown".
WINDOW_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Usage:
    known: bool
    cost_usd: float | None = None
    tokens: int | None = None  # what token budgets count: input (cached too) plus output
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None  # the part of the input read from or written to a cache
    reason: str | None = None  # why unknown

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def unknown(reason: str) -> Usage:
    return Usage(known=False, reason=reason)


def read_tail(path: Path) -> str:
    """The last WINDOW_BYTES of a log, where an agent prints its final result; OSError if
    it cannot be read."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - WINDOW_BYTES))
        return handle.read(WINDOW_BYTES).decode("utf-8", errors="replace")


# Larger figures are not usage but garbage: no agent run spends them.
MAX_TOKENS = 10**15
MAX_USD = 10.0**9


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        return None
    return int(value) if 0 <= value <= MAX_TOKENS else None


def _money(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return float(value) if 0 <= value <= MAX_USD else None


def _sum(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _usage(cost: float | None, inp: int | None, out: int | None, cached: int | None) -> Usage:
    total = _sum(inp, out)
    if cost is None and total is None:
        return unknown("the usage report has no cost and no token counts")
    return Usage(True, cost, total, inp, out, cached)


# -- Claude Code: `claude -p ... --output-format json` (or stream-json) ---------------------


def parse_claude(text: str) -> Usage | None:
    """The last ``{"type": "result", ...}`` object: ``total_cost_usd`` (``cost_usd`` in old
    versions) and ``usage``, whose ``input_tokens`` leaves out the cache reads and writes
    counted beside it. With verbose on, ``json`` prints an array of every message instead;
    the result is its last element."""
    for obj in json_lines(text):
        if obj.get("type") != "result":
            continue
        usage = obj["usage"] if isinstance(obj.get("usage"), dict) else {}
        fresh = _count(usage.get("input_tokens"))
        written = _count(usage.get("cache_creation_input_tokens"))
        read = _count(usage.get("cache_read_input_tokens"))
        cached = _sum(written, read)
        cost = obj.get("total_cost_usd", obj.get("cost_usd"))
        return _usage(_money(cost), _sum(fresh, cached), _count(usage.get("output_tokens")), cached)
    return None


# -- OpenAI Codex CLI: `codex exec --json ...` ---------------------------------------------


def parse_codex(text: str) -> Usage | None:
    """JSON lines. ``turn.completed`` carries the thread's running total so far (not the
    turn's own), so the last one is the run's; its ``input_tokens`` include
    ``cached_input_tokens``. Before 0.44, ``token_count`` events carried it (flat, or
    under ``info.total_token_usage``). Codex reports no cost."""
    for obj in json_lines(text):
        usage: Any = None
        if obj.get("type") == "turn.completed":
            usage = obj.get("usage")
        else:
            msg = obj.get("msg")
            if isinstance(msg, dict) and msg.get("type") == "token_count":
                info = msg.get("info")
                usage = info.get("total_token_usage") if isinstance(info, dict) else msg
        if not isinstance(usage, dict):
            continue
        inp, out = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
        if inp is None or out is None:
            continue
        return Usage(True, None, inp + out, inp, out, _count(usage.get("cached_input_tokens")))
    return None


# -- Gemini CLI: `gemini -p ... --output-format json` (or stream-json) --------------------


def parse_gemini(text: str) -> Usage | None:
    """``json``: one pretty-printed document whose ``stats.models.<model>.tokens`` hold
    ``prompt`` (cached included), ``candidates``, ``cached`` and ``total`` (thoughts and
    tool tokens included). ``stream-json``: a last ``result`` event with the same sums in
    ``stats``. Gemini CLI reports no cost."""
    doc = last_json_document(text)
    stats = doc.get("stats") if doc is not None else None
    if isinstance(stats, dict) and isinstance(stats.get("models"), dict):
        return _gemini_models(stats["models"])
    for obj in json_lines(text):
        stats = obj.get("stats")
        if obj.get("type") == "result" and isinstance(stats, dict):
            inp, out = _count(stats.get("input_tokens")), _count(stats.get("output_tokens"))
            if inp is not None and out is not None:
                total = _count(stats.get("total_tokens")) or inp + out
                return Usage(True, None, total, inp, out, _count(stats.get("cached")))
    return None


def _gemini_models(models: dict[str, Any]) -> Usage:
    if not models:
        return unknown("stats.models is empty")
    inp = out = cached = total = 0
    for model in models.values():
        tokens = model.get("tokens") if isinstance(model, dict) else None
        if not isinstance(tokens, dict):
            return unknown("stats.models without token counts")
        prompt, candidates = _count(tokens.get("prompt")), _count(tokens.get("candidates"))
        if prompt is None or candidates is None:
            return unknown("stats.models without prompt and candidates token counts")
        inp += prompt
        out += candidates
        cached += _count(tokens.get("cached")) or 0
        total += _count(tokens.get("total")) or prompt + candidates
    return Usage(True, None, total, inp, out, cached)


# -- aider: `aider --message ...` ---------------------------------------------------------

_AIDER_COST = re.compile(r"Cost: \$(?P<message>[\d.]+) message, \$(?P<session>[\d.]+) session\.")


def parse_aider(text: str) -> Usage | None:
    """aider prints ``Tokens: 2.3k sent, 120 received. Cost: $0.01 message, $0.05 session.``
    after each reply to the model (the cost part on the next line when both cache figures
    are shown; none when the model has no price). Counts are per reply and rounded (``2.3k``,
    ``47k``; ``12,450`` in old versions), so the run's tokens are their sum, approximately;
    "sent" already holds what was written to the cache. The last session cost is the run's."""
    text = ANSI.sub("", text)
    sent = received = cached = 0
    lines = 0
    for found in AIDER_TOKENS.finditer(text):
        figures = {k: _aider_number(v) for k, v in found.groupdict().items() if v}
        if None in figures.values():
            continue  # a figure that is not one: this line tells nothing
        lines += 1
        sent += figures["sent"] or 0
        received += figures["received"] or 0
        cached += (figures.get("write") or 0) + (figures.get("hit") or 0)
    costs = list(_AIDER_COST.finditer(text))
    cost = _money(_float(costs[-1]["session"])) if costs else None
    if not lines and cost is None:
        return None
    if not lines:
        return Usage(True, cost)
    return Usage(True, cost, sent + received, sent, received, cached or None)


def _aider_number(text: str) -> int | None:
    text = text.replace(",", "")
    scale = 1000 if text.endswith("k") else 1
    try:
        value = float(text.removesuffix("k")) * scale
    except ValueError:
        return None
    return _count(round(value)) if math.isfinite(value) else None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
