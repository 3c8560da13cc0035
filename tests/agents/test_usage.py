"""Usage read from agent output: each CLI's documented examples, hostile output, the log
window, and the fake CLIs in tests/bin/fake-agents run as real processes.

The expected figures are worked out by hand from each example. `tokens` is input (cached
included) plus output; `cached_tokens` is the part of the input read from or written to a
cache. Sources are as recorded in the research notes on the CLIs' formats.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from agentd.daemon.agents import usage
from agentd.daemon.agents.registry import AGENTS, from_log, parse
from agentd.daemon.agents.usage import Usage
from tests.helpers import TEST_BIN

FAKES = TEST_BIN / "fake-agents"


def known(
    cost: float | None = None,
    tokens: int | None = None,
    inp: int | None = None,
    out: int | None = None,
    cached: int | None = None,
) -> Usage:
    return Usage(True, cost, tokens, inp, out, cached)


# -- Claude Code ---------------------------------------------------------------------------

# Constructed from SDKResultMessage (code.claude.com/docs/en/agent-sdk/typescript) with the
# field set of real captures; the CLI prints it as one line.
CLAUDE_SDK = (
    '{"type":"result","subtype":"success","is_error":false,"duration_ms":8412,'
    '"duration_api_ms":7964,"num_turns":3,"result":"Added a README.md with install and usage'
    ' sections.","stop_reason":"end_turn","session_id":"0e639165-79b1-4bd4-bb0f-4cb4c15115d4",'
    '"total_cost_usd":0.0534177,"usage":{"input_tokens":18,"cache_creation_input_tokens":6120,'
    '"cache_read_input_tokens":31270,"output_tokens":842,"server_tool_use":'
    '{"web_search_requests":0,"web_fetch_requests":0},"service_tier":"standard"},'
    '"modelUsage":{"claude-sonnet-4-5-20250929":{"inputTokens":18,"outputTokens":842,'
    '"cacheReadInputTokens":31270,"cacheCreationInputTokens":6120,"webSearchRequests":0,'
    '"costUSD":0.0534177,"contextWindow":200000}},"permission_denials":[],'
    '"uuid":"7c1f7a52-3f0e-4c55-9d57-2b0c2d6f9a11"}'
)
# 18 fresh + 6120 written + 31270 read = 37408 input, 37390 of it cached; + 842 output.
CLAUDE_SDK_USAGE = known(0.0534177, 38250, 37408, 842, 37390)

# Verbatim from the old headless docs (docs.anthropic.com/en/docs/claude-code/sdk/sdk-headless),
# which pretty-print it; the CLI prints one line, hence the json.dumps.
CLAUDE_OLD_DOCS = json.dumps(
    {
        "type": "result",
        "subtype": "success",
        "total_cost_usd": 0.003,
        "is_error": False,
        "duration_ms": 1234,
        "duration_api_ms": 800,
        "num_turns": 6,
        "result": "The response text here...",
        "session_id": "abc123",
    }
)

# With verbose on, `--output-format json` prints every message as one array, the result
# last (anthropics/claude-code issue #84784; nkzw-tech/codiff PR #114). Constructed.
CLAUDE_INIT = '{"type":"system","subtype":"init","session_id":"s1","model":"claude-sonnet-4-5"}'
CLAUDE_ASSISTANT = (
    '{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"ok"}],'
    '"usage":{"input_tokens":3,"output_tokens":9}},"session_id":"s1"}'
)
CLAUDE_VERBOSE = f"[{CLAUDE_INIT},{CLAUDE_ASSISTANT},{CLAUDE_SDK}]"

# stream-json: one message a line, the result last (same sources, constructed).
CLAUDE_STREAM = "\n".join([CLAUDE_INIT, CLAUDE_ASSISTANT, CLAUDE_SDK]) + "\n"

# Old versions said cost_usd (formats notes, section 1: "very old versions/posts").
CLAUDE_COST_USD = (
    '{"type":"result","subtype":"success","cost_usd":0.0215,"is_error":false,'
    '"duration_ms":5210,"num_turns":2,"result":"done","session_id":"abc"}'
)

# Error subtypes still carry usage (the SDK type's second variant).
CLAUDE_ERROR = (
    '{"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":30,'
    '"total_cost_usd":1.25,"usage":{"input_tokens":4000,"cache_read_input_tokens":96000,'
    '"output_tokens":5000},"errors":["max turns reached"]}'
)

CLAUDE = [
    ("sdk shape, one line", CLAUDE_SDK, CLAUDE_SDK_USAGE),
    ("sdk shape after stderr noise", "Warning: low disk\n" + CLAUDE_SDK + "\n", CLAUDE_SDK_USAGE),
    ("old docs: cost only", CLAUDE_OLD_DOCS, known(0.003)),
    ("verbose: a JSON array", CLAUDE_VERBOSE, CLAUDE_SDK_USAGE),
    ("stream-json: last line", CLAUDE_STREAM, CLAUDE_SDK_USAGE),
    ("old cost_usd", CLAUDE_COST_USD, known(0.0215)),
    ("error result", CLAUDE_ERROR, known(1.25, 105000, 100000, 5000, 96000)),
    # Two results (a log appended to twice): the last one is this run's.
    ("two results", CLAUDE_COST_USD + "\n" + CLAUDE_SDK, CLAUDE_SDK_USAGE),
]


# -- OpenAI Codex CLI ----------------------------------------------------------------------

# Verbatim: openai/codex docs/exec.md, "JSON output mode",
# commit 187a11a1e4a91ea029bae8524488e2e5be6546fd.
CODEX_DOCS = r"""{"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}
{"type":"turn.started"}
{"type":"item.completed","item":{"id":"item_0","type":"reasoning","text":"**Searching for README files**"}}
{"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"bash -lc ls","aggregated_output":"","status":"in_progress"}}
{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"bash -lc ls","aggregated_output":"2025-09-11\nAGENTS.md\nCHANGELOG.md\ncliff.toml\ncodex-cli\ncodex-rs\ndocs\nexamples\nflake.lock\nflake.nix\nLICENSE\nnode_modules\nNOTICE\npackage.json\npnpm-lock.yaml\npnpm-workspace.yaml\nPNPM.md\nREADME.md\nscripts\nsdk\ntmp\n","exit_code":0,"status":"completed"}}
{"type":"item.completed","item":{"id":"item_2","type":"reasoning","text":"**Checking repository root for README**"}}
{"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"Yep — there’s a `README.md` in the repository root."}}
{"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,"output_tokens":122}}
"""  # noqa: E501 - verbatim
# input_tokens already holds the cached ones: 24763 + 122.
CODEX_DOCS_USAGE = known(None, 24885, 24763, 122, 24448)

# The newer non-interactive docs (developers.openai.com) show a fourth field.
CODEX_FOUR = (
    '{"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,'
    '"output_tokens":122,"reasoning_output_tokens":0}}'
)

# Before about 0.44, flat token_count events; verbatim from a third-party log-normaliser
# test fixture (formats notes, section 2).
CODEX_LEGACY_FLAT = (
    '{"id":"1","msg":{"type":"token_count","input_tokens":1674,"cached_input_tokens":1627,'
    '"output_tokens":384,"reasoning_output_tokens":384,"total_tokens":2058}}'
)

# Later legacy events nest the running total under info.total_token_usage, beside the last
# request's own (TokenCountEvent, codex-rs/protocol/src/protocol.rs). Constructed.
CODEX_LEGACY_NESTED = (
    '{"id":"1","msg":{"type":"token_count","info":{"total_token_usage":{"input_tokens":3804,'
    '"cached_input_tokens":3200,"output_tokens":95,"reasoning_output_tokens":64,'
    '"total_tokens":3899},"last_token_usage":{"input_tokens":1900,"cached_input_tokens":1800,'
    '"output_tokens":40,"reasoning_output_tokens":20,"total_tokens":1940},'
    '"model_context_window":272000},"rate_limits":{"primary":null,"secondary":null}}}'
)
CODEX_INFO_NULL = '{"id":"1","msg":{"type":"token_count","info":null,"rate_limits":null}}'


def _turn(inp: int, cached: int, out: int) -> str:
    usage = {"input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out}
    return json.dumps({"type": "turn.completed", "usage": usage})


CODEX = [
    ("docs/exec.md JSONL", CODEX_DOCS, CODEX_DOCS_USAGE),
    ("turn.completed with reasoning_output_tokens", CODEX_FOUR, CODEX_DOCS_USAGE),
    ("legacy flat token_count", CODEX_LEGACY_FLAT, known(None, 2058, 1674, 384, 1627)),
    ("legacy nested: total, not last", CODEX_LEGACY_NESTED, known(None, 3899, 3804, 95, 3200)),
    (
        "legacy nested, then info null",
        CODEX_LEGACY_NESTED + "\n" + CODEX_INFO_NULL,
        known(None, 3899, 3804, 95, 3200),
    ),
    # Each turn.completed is the thread's running total, so the last one is the run's.
    (
        "several turns: the last total",
        "\n".join([_turn(1000, 0, 50), '{"type":"turn.started"}', _turn(5200, 4000, 310)]),
        known(None, 5510, 5200, 310, 4000),
    ),
    ("stderr around it", "WARN x\n" + CODEX_DOCS + "ERROR y\n", CODEX_DOCS_USAGE),
]


# -- Gemini CLI ----------------------------------------------------------------------------

# Verbatim: google-gemini/gemini-cli docs/cli/headless.md,
# commit 389505469f32511a7f67acb7fc9fa7a9bcd7c70c.
GEMINI_DOCS = """{
  "response": "The capital of France is Paris.",
  "stats": {
    "models": {
      "gemini-2.5-pro": {
        "api": {
          "totalRequests": 2,
          "totalErrors": 0,
          "totalLatencyMs": 5053
        },
        "tokens": {
          "prompt": 24939,
          "candidates": 20,
          "total": 25113,
          "cached": 21263,
          "thoughts": 154,
          "tool": 0
        }
      },
      "gemini-2.5-flash": {
        "api": {
          "totalRequests": 1,
          "totalErrors": 0,
          "totalLatencyMs": 1879
        },
        "tokens": {
          "prompt": 8965,
          "candidates": 10,
          "total": 9033,
          "cached": 0,
          "thoughts": 30,
          "tool": 28
        }
      }
    },
    "tools": {
      "totalCalls": 1,
      "totalSuccess": 1,
      "totalFail": 0,
      "totalDurationMs": 1881,
      "totalDecisions": {
        "accept": 0,
        "reject": 0,
        "modify": 0,
        "auto_accept": 1
      },
      "byName": {
        "google_web_search": {
          "count": 1,
          "success": 1,
          "fail": 0,
          "durationMs": 1881,
          "decisions": {
            "accept": 0,
            "reject": 0,
            "modify": 0,
            "auto_accept": 1
          }
        }
      }
    },
    "files": {
      "totalLinesAdded": 0,
      "totalLinesRemoved": 0
    }
  }
}
"""
# Summed over both models: prompt 24939 + 8965, candidates 20 + 10, cached 21263 + 0, and
# the total from "total" (thoughts and tool tokens in it): 25113 + 9033.
GEMINI_DOCS_USAGE = known(None, 34146, 33904, 30, 21263)

# Verbatim stream-json result line, from a third-party Go test fixture (realGeminiOutput).
GEMINI_STREAM_RESULT = (
    '{"type":"result","timestamp":"2026-04-16T20:47:39.134Z","status":"success","stats":'
    '{"total_tokens":12123,"input_tokens":10764,"output_tokens":84,"cached":0,"input":10764,'
    '"duration_ms":10374,"tool_calls":0}}'
)
GEMINI_STREAM = (
    '{"type":"init","timestamp":"2026-04-16T20:47:28.760Z","session_id":"s1","model":"auto"}\n'
    '{"type":"message","role":"assistant","content":"Paris.","delta":true}\n'
    + GEMINI_STREAM_RESULT
    + "\n"
)

GEMINI = [
    ("headless.md two models", GEMINI_DOCS, GEMINI_DOCS_USAGE),
    ("after a stderr line", "Loaded cached credentials.\n" + GEMINI_DOCS, GEMINI_DOCS_USAGE),
    ("stream-json result", GEMINI_STREAM, known(None, 12123, 10764, 84, 0)),
]


# -- aider ---------------------------------------------------------------------------------

# Verbatim lines from aider chat transcripts in third-party repositories; the variants are
# built from Aider-AI/aider base_coder.py calculate_and_show_tokens_and_cost and
# format_tokens in aider/utils.py (commit 01592afac3ae774923673a1b8bc2873e05f04c6d).
AIDER_SMALL = "Tokens: 3.0k sent, 42 received. Cost: $0.0063 message, $0.0063 session."
AIDER = [
    ("single line", f"Applied edit to a.py\n{AIDER_SMALL}\n", known(0.0063, 3042, 3000, 42)),
    (
        "47k and 2.5k",
        "Tokens: 47k sent, 2.5k received. Cost: $0.85 message, $0.85 session.",
        known(0.85, 49500, 47000, 2500),
    ),
    (
        "4.5k",
        "Tokens: 4.5k sent, 429 received. Cost: $0.0018 message, $0.0018 session.",
        known(0.0018, 4929, 4500, 429),
    ),
    (
        "cache write",
        "Tokens: 12k sent, 11k cache write, 310 received. Cost: $0.05 message, $0.05 session.",
        known(0.05, 12310, 12000, 310, 11000),
    ),
    (
        "cache hit",
        "Tokens: 12k sent, 11k cache hit, 280 received. Cost: $0.0094 message, $0.06 session.",
        known(0.06, 12280, 12000, 280, 11000),
    ),
    # Both cache figures put the Cost part on a line of its own.
    (
        "two lines",
        "Tokens: 13k sent, 1.2k cache write, 11k cache hit, 295 received.\n"
        "Cost: $0.01 message, $0.07 session.\n",
        known(0.07, 13295, 13000, 295, 12200),
    ),
    ("no price", "Tokens: 2.3k sent, 120 received.\n", known(None, 2420, 2300, 120)),
    # Counts are per reply and summed; the session cost is already a running total.
    (
        "several replies",
        "Tokens: 3.0k sent, 42 received. Cost: $0.0063 message, $0.0063 session.\n"
        "Applied edit to a.py\n"
        "Tokens: 47k sent, 2.5k received. Cost: $0.85 message, $0.86 session.\n",
        known(0.86, 52542, 50000, 2542),
    ),
    # Old versions: comma-grouped counts (verbatim from a third-party doc) and "N cached".
    (
        "old comma-grouped",
        "Tokens: 12,450 sent, 3,200 received. Cost: $0.052 message, $0.187 session.",
        known(0.187, 15650, 12450, 3200),
    ),
    (
        "old cached",
        "Tokens: 12,450 sent, 10,000 cached, 3,200 received. Cost: $0.052 message, $0.187 session.",
        known(0.187, 15650, 12450, 3200, 10000),
    ),
    ("ANSI colour", f"\x1b[37m{AIDER_SMALL}\x1b[0m\n", known(0.0063, 3042, 3000, 42)),
    ("9999 tokens", "Tokens: 10.0k sent, 0 received.", known(None, 10000, 10000, 0)),
]


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        pytest.param(fmt, text, expected, id=f"{fmt}: {label}")
        for fmt, table in (
            ("claude", CLAUDE),
            ("codex", CODEX),
            ("gemini", GEMINI),
            ("aider", AIDER),
        )
        for label, text, expected in table
    ],
)
def test_documented_examples(fmt: str, text: str, expected: Usage) -> None:
    assert parse(text, fmt) == expected
    # ... and "auto" finds the same, whatever the other parsers make of it.
    assert parse(text, "auto") == expected


# -- hostile output ------------------------------------------------------------------------


def _claude(**fields: object) -> str:
    return json.dumps({"type": "result", "subtype": "success", **fields})


def _codex(**usage: object) -> str:
    return json.dumps({"type": "turn.completed", "usage": usage})


def _gemini(**tokens: object) -> str:
    return json.dumps({"stats": {"models": {"gemini-2.5-pro": {"tokens": tokens}}}}, indent=2)


NO_CLAUDE = 'no result object ({"type": "result", ...}) in the output'
NO_FIGURES = "the usage report has no cost and no token counts"
NO_CODEX = "no turn.completed event with usage in the output (is --json set?)"
NO_GEMINI = "no stats in a JSON result (is --output-format json set?)"
NO_AIDER = 'no "Tokens: ... sent, ... received." line in the output'

AIDER_NONE = 'no "Tokens: ... sent, ... received." line in the output'
HOSTILE = [
    # (format, label, text, the reason given)
    ("claude", "empty", "", NO_CLAUDE),
    ("claude", "garbage", "\x1b[31merror\x1b[0m\n<html>502</html>\n{{ ]]\n", NO_CLAUDE),
    ("claude", "truncated", CLAUDE_SDK[: len(CLAUDE_SDK) // 2], NO_CLAUDE),
    ("claude", "truncated array", CLAUDE_VERBOSE[:-40], NO_CLAUDE),
    ("claude", "no figures", _claude(result="hi"), NO_FIGURES),
    ("claude", "modelUsage only", _claude(modelUsage={"m": {"costUSD": 1.0}}), NO_FIGURES),
    # NaN and Infinity are not numbers: the figure is dropped, the rest of the line is read.
    ("claude", "NaN", '{"type":"result","total_cost_usd":NaN}', NO_FIGURES),
    ("claude", "Infinity", '{"type":"result","usage":{"output_tokens":Infinity}}', NO_FIGURES),
    ("claude", "1e999", '{"type":"result","total_cost_usd":1e999}', NO_FIGURES),
    ("claude", "negative", _claude(total_cost_usd=-0.5, usage={"input_tokens": -1}), NO_FIGURES),
    (
        "claude",
        "booleans",
        _claude(total_cost_usd=True, usage={"output_tokens": False}),
        NO_FIGURES,
    ),
    (
        "claude",
        "strings",
        _claude(total_cost_usd="0.5", usage={"input_tokens": "10", "output_tokens": "5"}),
        NO_FIGURES,
    ),
    ("claude", "fractional tokens", _claude(usage={"output_tokens": 2.5}), NO_FIGURES),
    ("claude", "usage not an object", _claude(usage=[1, 2], cost_usd=None), NO_FIGURES),
    ("claude", "array of numbers", "[1, 2, 3]", NO_CLAUDE),
    ("claude", "a string", '"result"', NO_CLAUDE),
    ("claude", "another type", CLAUDE_INIT, NO_CLAUDE),
    ("claude", "codex output", CODEX_DOCS, NO_CLAUDE),
    ("codex", "empty", "", NO_CODEX),
    ("codex", "garbage", "thread panicked at 'oops'\n", NO_CODEX),
    ("codex", "truncated", CODEX_DOCS[:-40], NO_CODEX),
    (
        "codex",
        "NaN",
        '{"type":"turn.completed","usage":{"input_tokens":NaN,"output_tokens":1}}',
        NO_CODEX,
    ),
    ("codex", "negative", _codex(input_tokens=-1, output_tokens=5), NO_CODEX),
    ("codex", "boolean", _codex(input_tokens=True, output_tokens=5), NO_CODEX),
    ("codex", "strings", _codex(input_tokens="10", output_tokens="5"), NO_CODEX),
    ("codex", "no output count", _codex(input_tokens=10), NO_CODEX),
    ("codex", "usage not an object", '{"type":"turn.completed","usage":"lots"}', NO_CODEX),
    ("codex", "no usage", '{"type":"turn.completed"}', NO_CODEX),
    ("codex", "turn failed", '{"type":"turn.failed","error":{"message":"401"}}', NO_CODEX),
    ("codex", "info null only", CODEX_INFO_NULL, NO_CODEX),
    ("codex", "claude output", CLAUDE_SDK, NO_CODEX),
    ("gemini", "empty", "", NO_GEMINI),
    ("gemini", "garbage", "Error: 429 Too Many Requests\n}", NO_GEMINI),
    ("gemini", "truncated", GEMINI_DOCS[: len(GEMINI_DOCS) // 2], NO_GEMINI),
    ("gemini", "error document", '{\n  "error": {"type": "ApiError", "code": 429}\n}', NO_GEMINI),
    ("gemini", "a list", "[\n  1\n]", NO_GEMINI),
    ("gemini", "no models", '{\n  "stats": {"models": {}}\n}', "stats.models is empty"),
    (
        "gemini",
        "model without tokens",
        '{\n  "stats": {"models": {"m": []}}\n}',
        "stats.models without token counts",
    ),
    (
        "gemini",
        "negative",
        _gemini(prompt=-5, candidates=3),
        "stats.models without prompt and candidates token counts",
    ),
    (
        "gemini",
        "strings",
        _gemini(prompt="5", candidates="3"),
        "stats.models without prompt and candidates token counts",
    ),
    (
        "gemini",
        "boolean",
        _gemini(prompt=True, candidates=3),
        "stats.models without prompt and candidates token counts",
    ),
    (
        "gemini",
        "NaN",
        '{\n  "stats": {"models": {"m": {"tokens": {"prompt": NaN}}}}\n}',
        "stats.models without prompt and candidates token counts",
    ),
    (
        "gemini",
        "stream result with strings",
        '{"type":"result","stats":{"input_tokens":"5","output_tokens":3}}',
        NO_GEMINI,
    ),
    ("aider", "empty", "", NO_AIDER),
    ("aider", "chat only", "I changed a.py as asked.\nApplied edit to a.py\n", NO_AIDER),
    ("aider", "truncated", "Tokens: 3.0k sent, 4", NO_AIDER),
    (
        "aider",
        "words",
        "Tokens: lots sent, -5 received. Cost: $many message, $? session.",
        NO_AIDER,
    ),
    ("aider", "negative", "Tokens: -5 sent, 3 received.", NO_AIDER),
    # The format of very old versions is not read.
    ("aider", "very old", "1200 prompt tokens, 80 completion tokens, $0.004800 cost", NO_AIDER),
    ("aider", "a number that is not one", "Tokens: , sent, 3 received.", AIDER_NONE),
    ("aider", "huge", "Tokens: " + "9" * 400 + " sent, 3 received.", AIDER_NONE),
]


@pytest.mark.parametrize(
    ("fmt", "text", "reason"),
    [pytest.param(fmt, text, reason, id=f"{fmt}: {label}") for fmt, label, text, reason in HOSTILE],
)
def test_hostile_output_is_unknown_with_a_reason(fmt: str, text: str, reason: str | None) -> None:
    found = parse(text, fmt)
    assert found == Usage(known=False, reason=found.reason)
    if reason is None:  # a parser gave up on it: still an answer, not an exception
        assert (found.reason or "").startswith("unreadable usage report")
    else:
        assert found.reason == reason


def test_an_integer_too_large_for_a_float_is_rejected_not_fatal() -> None:
    """A figure beyond any real run is dropped alone; the valid cost beside it stays."""
    text = _claude(total_cost_usd=0.5, usage={"output_tokens": 10**400})
    assert parse(text, "claude") == known(0.5)


def test_a_nan_cost_is_dropped_alone_and_the_token_counts_beside_it_count() -> None:
    text = '{"type":"result","total_cost_usd":NaN,"usage":{"input_tokens":7,"output_tokens":3}}'
    assert parse(text, "claude") == known(None, 10, 7, 3)


@pytest.mark.parametrize("fmt", ["claude", "codex", "auto"])
def test_one_line_nested_too_deeply_costs_only_that_line(fmt: str) -> None:
    """Brackets nested past Python's recursion limit after the real report: the report
    before them still counts (RecursionError is not a ValueError). (Gemini's report is
    the document that ends the output, so nothing may follow it anyway.)"""
    report = {
        "claude": _claude(total_cost_usd=0.5, usage={"input_tokens": 10, "output_tokens": 5}),
        "codex": _codex(input_tokens=10, output_tokens=5),
        "auto": _claude(total_cost_usd=0.5, usage={"input_tokens": 10, "output_tokens": 5}),
    }[fmt]
    expected = parse(report, fmt)
    assert expected.known
    bomb = "[" * 100_000 + "]" * 100_000
    assert parse(report + "\n" + bomb + "\n", fmt) == expected
    assert parse(report + "\n{" + '"a":' * 50_000 + "1" + "}" * 50_000 + "\n", fmt) == expected


def test_a_gemini_document_nested_too_deeply_is_unknown_not_an_error() -> None:
    bomb = "{\n" + '"a":{' * 50_000 + "}" * 50_001
    assert parse(_gemini(prompt=10, candidates=5) + "\n" + bomb, "gemini") == Usage(
        False, reason="no stats in a JSON result (is --output-format json set?)"
    )


def test_an_aider_line_with_an_absurd_figure_is_skipped_not_the_whole_report() -> None:
    text = (
        "Tokens: 3.0k sent, 42 received. Cost: $0.0063 message, $0.0063 session.\n"
        f"Tokens: {'9' * 400} sent, 42 received. Cost: $0.01 message, $0.02 session.\n"
        "Tokens: , sent, 42 received.\n"
    )
    found = parse(text, "aider")
    assert (found.known, found.cost_usd, found.input_tokens) == (True, 0.02, 3000)


@pytest.mark.parametrize(
    "text",
    ["", "hello\nworld\n", "Tokens: many\n", '{"type": "result"}', "[]", "{\n}\n"],
)
def test_auto_says_unknown_for_plain_text(text: str) -> None:
    assert parse(text, "auto") == Usage(
        known=False,
        reason="no usage report of a known agent (claude, codex, gemini, aider) found",
    )


def test_unknown_format_name() -> None:
    assert parse(CLAUDE_SDK, "cursor") == Usage(False, reason="unknown usage format 'cursor'")


# -- from_log ------------------------------------------------------------------------------


def test_from_log_reads_each_format(tmp_path: Path) -> None:
    for fmt, text, expected in [
        ("claude", CLAUDE_SDK + "\n", CLAUDE_SDK_USAGE),
        ("codex", CODEX_DOCS, CODEX_DOCS_USAGE),
        ("gemini", GEMINI_DOCS, GEMINI_DOCS_USAGE),
        ("aider", AIDER_SMALL + "\n", known(0.0063, 3042, 3000, 42)),
    ]:
        log = tmp_path / f"{fmt}.log"
        log.write_text(text)
        assert from_log(log, fmt) == expected
        assert from_log(log, "auto") == expected


def test_from_log_usage_none_reads_nothing(tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    log.write_text(CLAUDE_SDK)
    found = from_log(log, "none")
    assert not found.known
    assert found.reason == 'this agent\'s usage is not read (usage = "none")'


def test_from_log_unreadable_log(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.log", tmp_path):
        found = from_log(path, "claude")
        assert not found.known
        assert (found.reason or "").startswith("cannot read the log")


def test_from_log_binary_bytes(tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    log.write_bytes(b'\xff\xfe\x00\x80garbage\xc3\x28\n{"type":"result",\xff}\n')
    for fmt in ("claude", "codex", "gemini", "aider", "auto"):
        assert from_log(log, fmt).known is False
    # Invalid bytes before the result line do not hide it.
    log.write_bytes(b"\xff\xfe\x00\x80 binary progress bar \xc3\x28\n" + CLAUDE_SDK.encode())
    assert from_log(log, "claude") == CLAUDE_SDK_USAGE


WINDOW = 4096


def test_from_log_reads_only_the_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage, "WINDOW_BYTES", WINDOW)
    log = tmp_path / "task.log"
    data = ("é" * WINDOW + "\n" + CLAUDE_SDK + "\n").encode()
    if data[-WINDOW] & 0xC0 != 0x80:
        data += b"\n"  # so that the window starts inside an "é" (two bytes)
    log.write_bytes(data)
    assert from_log(log, "claude") == CLAUDE_SDK_USAGE
    # aider's earlier replies out of the window are not counted: only the last one is seen.
    log.write_text(AIDER_SMALL + "\n" + "x" * 2 * WINDOW + "\n" + AIDER_SMALL + "\n")
    assert from_log(log, "aider") == known(0.0063, 3042, 3000, 42)


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("claude", _claude(result="x" * 2 * WINDOW, total_cost_usd=0.5)),
        ("codex", _codex(pad="x" * 2 * WINDOW, input_tokens=10, output_tokens=5)),
        ("gemini", GEMINI_DOCS.replace("Paris.", "Paris." + "x" * 2 * WINDOW)),
    ],
)
def test_from_log_result_starting_before_the_window(
    fmt: str, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage, "WINDOW_BYTES", WINDOW)
    log = tmp_path / "task.log"
    log.write_text(text + "\n")
    assert parse(text, fmt).known  # whole, it would be read
    found = from_log(log, fmt)
    assert found.known is False
    assert found.reason


# -- the fake CLIs -------------------------------------------------------------------------

# Each built-in agent's arguments as agentd passes them (the program itself left out).
PRESET_ARGV = {
    name: ["do it" if part == "{prompt}" else part for part in cli.argv[1:]]
    for name, cli in AGENTS.items()
}


def run_fake(
    name: str, args: list[str] | None = None, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """The fake as agentd runs it: stdout and stderr in one log."""
    argv = [str(FAKES / name), *(PRESET_ARGV[name] if args is None else args)]
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_", "AGENTD_"))}
    return subprocess.run(
        argv,
        cwd=cwd,
        env={**keep, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
    )


FAKE_FIGURES = {"FAKE_INPUT_TOKENS": "5000", "FAKE_OUTPUT_TOKENS": "700"}
FAKE_CASES = [
    # (agent, env, expected): counts chosen so aider's rounding ("5.0k") loses nothing.
    ("claude", {}, known(0.0312, 2242, 1830, 412, 0)),
    ("claude", {"FAKE_COST": "0.25", **FAKE_FIGURES}, known(0.25, 5700, 5000, 700, 0)),
    (
        "claude",
        {"FAKE_COST": "1.5", "FAKE_CACHED_TOKENS": "3000", **FAKE_FIGURES},
        known(1.5, 5700, 5000, 700, 3000),
    ),
    ("claude", {"FAKE_COST": "none"}, known(None, 2242, 1830, 412, 0)),
    ("codex", {}, known(None, 2242, 1830, 412, 0)),
    ("codex", {"FAKE_CACHED_TOKENS": "3000", **FAKE_FIGURES}, known(None, 5700, 5000, 700, 3000)),
    ("gemini", {}, known(None, 2242, 1830, 412, 0)),
    (
        "gemini",
        {"FAKE_CACHED_TOKENS": "3000", "FAKE_THOUGHT_TOKENS": "150", **FAKE_FIGURES},
        known(None, 5850, 5000, 700, 3000),
    ),
    # 1830 prints as "1.8k".
    ("aider", {}, known(0.0063, 2212, 1800, 412)),
    ("aider", {"FAKE_COST": "0.5", **FAKE_FIGURES}, known(0.5, 5700, 5000, 700)),
    (
        "aider",
        {"FAKE_COST": "0.0004", "FAKE_CACHED_TOKENS": "3000", **FAKE_FIGURES},
        known(0.0004, 5700, 5000, 700, 3000),
    ),
    ("aider", {"FAKE_COST": "none", **FAKE_FIGURES}, known(None, 5700, 5000, 700)),
]


@pytest.mark.parametrize(
    ("name", "env", "expected"),
    [pytest.param(n, e, x, id=f"{n}-{i}") for i, (n, e, x) in enumerate(FAKE_CASES)],
)
def test_fake_cli_prints_what_the_parser_reads(
    name: str, env: dict[str, str], expected: Usage
) -> None:
    proc = run_fake(name, **env)
    assert proc.returncode == 0, proc.stdout
    assert parse(proc.stdout, name) == expected
    assert parse(proc.stdout, "auto") == expected
    assert "do it" in proc.stdout


@pytest.mark.parametrize("name", sorted(PRESET_ARGV))
@pytest.mark.parametrize("output", ["garbage", "truncated", "none", "weird"])
def test_fake_cli_bad_output_is_unknown(name: str, output: str) -> None:
    proc = run_fake(name, FAKE_OUTPUT=output)
    assert proc.returncode == 0
    assert (proc.stdout == "") is (output == "none")
    for fmt in (name, "auto"):
        found = parse(proc.stdout, fmt)
        assert found.known is False
        assert found.reason


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("claude", ["-p", "do it", "--output-format", "stream-json"]),
        ("claude", ["do it", "--output-format", "json"]),
        ("codex", ["exec", "--json", "--full-auto", "do it"]),
        ("codex", ["--json", "do it"]),
        ("gemini", ["-p", "do it"]),
        ("aider", ["--yes", "--no-pretty", "--message", "do it"]),
    ],
)
def test_fake_cli_refuses_other_flags(name: str, args: list[str]) -> None:
    # Refused before anything else: a trace it cannot write would make it exit 1.
    proc = run_fake(name, args, FAKE_TRACE="/nonexistent/dir/trace")
    assert proc.returncode == 2
    assert "usage:" in proc.stdout


def test_fake_cli_exit_status_trace_and_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    trace = tmp_path / "trace.jsonl"
    proc = run_fake(
        "codex",
        cwd=repo,
        FAKE_EXIT="3",
        FAKE_TRACE=str(trace),
        FAKE_COMMIT="1",
        FAKE_DIRTY="1",
        AGENTD_PROJECT_DIR=str(repo),
    )
    assert proc.returncode == 3
    assert parse(proc.stdout, "codex").known  # a failing run still reports what it used
    start, end = (json.loads(line) for line in trace.read_text().splitlines())
    assert (start["event"], end["event"]) == ("start", "end")
    assert start["agent"] == end["agent"] == "codex"
    assert start["pid"] == end["pid"]
    assert start["cwd"] == start["project_dir"] == str(repo)
    assert start["branch"] is None
    assert isinstance(start["t"], float)
    log = subprocess.run(
        ["git", "log", "--format=%s %an", "--name-only"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert log == ["agent", "change", "fake", f"agent-codex-{start['pid']}.txt"]
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
    )
    assert status.stdout == "?? agent-scratch.txt\n"
