"""What an agent run said, read from its log: each CLI's reader on real captured output
(tests/agents/captured: the pinned CLIs run with no account and no network, stdout and
stderr in one file as agentd logs them), on the formats' success shapes, and on hostile
logs (cut short, not JSON, huge, not UTF-8, nested without end)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from agentd.daemon.agents.answers import Answer, answer_from_log, capped, read_answer
from agentd.daemon.agents.registry import AGENTS, AgentCLI
from agentd.daemon.agents.replies import ANSWER_CHARS, ERROR_CHARS, headline
from tests.helpers import TEST_BIN

CAPTURED = Path(__file__).resolve().parent / "captured"
FAKES = TEST_BIN / "fake-agents"
ENTRIES = [pytest.param(cli, id=name) for name, cli in AGENTS.items()]
NOT_LOGGED_IN = "claude: Not logged in · Please run /login"


def captured(name: str) -> str:
    return (CAPTURED / f"{name}.log").read_text()


# -- the real CLIs' output -----------------------------------------------------------------


def test_claude_not_logged_in_is_its_result_not_the_json() -> None:
    text = captured("claude-not-logged-in")
    assert '"is_error":true' in text
    assert '"subtype":"success"' in text
    assert read_answer("claude", text, failed=True) == Answer(None, NOT_LOGGED_IN)
    assert read_answer("auto", text, failed=True) == Answer(None, NOT_LOGGED_IN)


def test_gemini_without_auth_is_its_error_message() -> None:
    said = read_answer("gemini", captured("gemini-no-auth"), failed=True)
    assert said.text is None
    assert said.error is not None
    assert said.error.startswith("gemini: Please set an Auth method in your /tmp/")
    assert said.error.endswith("GEMINI_API_KEY, GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GENAI_USE_GCA")


def test_codex_offline_is_its_last_error_event() -> None:
    text = captured("codex-offline")
    events = [json.loads(x) for x in text.splitlines() if x.startswith('{"type":"error"')]
    assert len(events) >= 2  # several retries: the last one is the headline
    said = read_answer("codex", text, failed=True)
    assert said == Answer(None, f"codex: {events[-1]['message']}")
    assert said.error is not None
    assert said.error.startswith("codex: Reconnecting... ")


def test_codex_outside_a_git_repository_is_its_plain_stderr_line() -> None:
    said = read_answer("codex", captured("codex-untrusted"), failed=True)
    expected = "codex: Not inside a trusted directory and --skip-git-repo-check was not specified."
    assert said == Answer(None, expected)
    # The same log from a run that did not fail names no error: stderr chatter is not one.
    assert read_answer("codex", captured("codex-untrusted")) == Answer(None, None)


def test_the_error_names_the_task_agent_when_given() -> None:
    said = read_answer("claude", captured("claude-not-logged-in"), agent="review-bot")
    assert said.error == "review-bot: Not logged in · Please run /login"


@pytest.mark.parametrize(
    ("fake", "argv", "real"),
    [
        ("claude", ["-p", "x", "--output-format", "json"], "claude-not-logged-in"),
        ("gemini", ["-p", "x", "--output-format", "json"], "gemini-no-auth"),
    ],
)
def test_fake_error_outputs_match_the_real_ones(
    tmp_path: Path, fake: str, argv: list[str], real: str
) -> None:
    """The fakes' FAKE_OUTPUT=error is what the pinned CLIs print: same keys, same error."""
    env = {"PATH": os.environ["PATH"], "HOME": "/tmp/x", "FAKE_OUTPUT": "error"}
    done = subprocess.run(
        [str(FAKES / fake), *argv], env=env, capture_output=True, text=True, timeout=30
    )
    fake_doc = json.loads(done.stdout or done.stderr)
    real_doc = json.loads(captured(real))
    assert set(fake_doc) == set(real_doc)
    assert done.returncode == {"claude": 1, "gemini": 41}[fake]
    ours = read_answer(fake, done.stdout + done.stderr, failed=True).error
    theirs = read_answer(fake, captured(real), failed=True).error
    assert ours is not None
    assert theirs is not None
    # Only the temporary HOME in gemini's message differs.
    assert ours.split(" in your ")[0] == theirs.split(" in your ")[0]


def test_fake_codex_error_events_match_the_real_ones() -> None:
    env = {"PATH": os.environ["PATH"], "FAKE_OUTPUT": "error"}
    with pytest.raises(subprocess.TimeoutExpired) as waited:  # it waits to be killed
        subprocess.run(
            [str(FAKES / "codex"), "exec", "--json", "x"], env=env, capture_output=True, timeout=3
        )
    out = (waited.value.stdout or b"").decode()
    real = [json.loads(x) for x in captured("codex-offline").splitlines() if x.startswith("{")]
    fake = [json.loads(x) for x in out.splitlines()]
    assert [e["type"] for e in fake[:4]] == [e["type"] for e in real[:4]]
    assert fake[2]["message"] == real[2]["message"]  # "Reconnecting... 2/5 (...)"
    assert read_answer("codex", out, failed=True).error == (
        "codex: Reconnecting... waiting for network (Connection failed: error sending request)"
    )


# -- each format's answers ------------------------------------------------------------------


@pytest.mark.parametrize("cli", ENTRIES)
def test_each_reader_finds_its_fake_cli_answer(cli: AgentCLI) -> None:
    argv = [part.replace("{prompt}", "tidy the docs") for part in cli.argv[1:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_", "AGENTD_"))}
    done = subprocess.run(
        [str(FAKES / cli.name), *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
        check=True,
    )
    said = read_answer(cli.name, done.stdout)
    assert said.error is None
    assert said.text is not None
    assert "tidy the docs" in said.text
    assert not said.text.lstrip().startswith(("{", "["))
    assert read_answer("auto", done.stdout) == said  # no other reader claims it first
    for other in AGENTS.values():
        if other is not cli:
            assert other.said(done.stdout) is None, other.name


def test_claude_error_subtypes_without_a_result() -> None:
    line = {"type": "result", "subtype": "error_max_turns", "is_error": True, "num_turns": 9}
    said = read_answer("claude", json.dumps(line))
    assert said == Answer(None, "claude: error_max_turns (no message)")
    line |= {"subtype": "error_during_execution", "errors": ["tool crashed", 3, "gave up"]}
    assert read_answer("claude", json.dumps(line)).error == "claude: tool crashed; gave up"


def test_claude_verbose_array_ends_with_the_result() -> None:
    doc = [{"type": "system"}, {"type": "result", "is_error": False, "result": "Fixed."}]
    assert read_answer("claude", json.dumps(doc)) == Answer("Fixed.", None)


def codex_lines(*events: dict[str, object]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


def test_codex_retries_before_a_completed_turn_are_no_error() -> None:
    text = codex_lines(
        {"type": "thread.started", "thread_id": "t"},
        {"type": "error", "message": "Reconnecting... 2/5 (timeout)"},
        {"type": "item.completed", "item": {"type": "agent_message", "text": "first"}},
        {"type": "item.completed", "item": {"type": "agent_message", "text": "All fixed."}},
        {"type": "turn.completed", "usage": {"input_tokens": 5, "output_tokens": 2}},
    )
    assert read_answer("codex", text, failed=True) == Answer("All fixed.", None)


def test_codex_turn_failed_after_a_message_keeps_both() -> None:
    text = codex_lines(
        {"type": "item.completed", "item": {"type": "agent_message", "text": "Half done."}},
        {"type": "turn.failed", "error": {"message": "usage limit reached"}},
    )
    assert read_answer("codex", text) == Answer("Half done.", "codex: usage limit reached")


def test_codex_before_0_44_events() -> None:
    text = codex_lines(
        {"id": "0", "msg": {"type": "agent_message", "message": "old answer"}},
        {"id": "0", "msg": {"type": "task_complete", "last_agent_message": "old answer"}},
    )
    assert read_answer("codex", text) == Answer("old answer", None)
    failed = codex_lines({"id": "0", "msg": {"type": "stream_error", "message": "retrying"}})
    assert read_answer("codex", failed) == Answer(None, "codex: retrying")


def test_gemini_json_response() -> None:
    doc = {"session_id": "s", "response": "Looks fine.", "stats": {"models": {}}}
    assert read_answer("gemini", json.dumps(doc, indent=2)) == Answer("Looks fine.", None)


def test_gemini_stream_json_deltas_and_error_result() -> None:
    events = [
        {"type": "init", "session_id": "s"},
        {"type": "message", "role": "user", "content": "fix it"},
        {"type": "message", "role": "assistant", "content": "Fixed ", "delta": True},
        {"type": "message", "role": "assistant", "content": "the test.", "delta": True},
        {"type": "result", "status": "success", "stats": {}},
    ]
    assert read_answer("gemini", codex_lines(*events)) == Answer("Fixed the test.", None)
    events[-1] = {"type": "result", "status": "error", "error": {"message": "quota exceeded"}}
    assert read_answer("gemini", codex_lines(*events)).error == "gemini: quota exceeded"


AIDER = """Aider v0.86.1
Main model: anthropic/claude-sonnet-4-5 with diff edit format
Git repo: .git with 3 files

Here is my plan.

Tokens: 1.8k sent, 412 received. Cost: $0.0063 message, $0.0063 session.
Applied edit to foo.py
Commit 1a2b3c4 fix: foo
The fix is done;
lint passes.

Tokens: 2.3k sent, 1.2k cache write, 900 cache hit, 120 received.
Cost: $0.01 message, $0.02 session.
"""


def test_aider_last_reply_is_between_the_last_two_token_lines() -> None:
    assert read_answer("aider", AIDER) == Answer("The fix is done;\nlint passes.", None)
    first = AIDER.split("Applied", maxsplit=1)[0]
    assert read_answer("aider", first) == Answer("Here is my plan.", None)


def test_aider_refused_model_call_is_its_advice() -> None:
    text = AIDER.split("\n\n", maxsplit=1)[0] + (
        "\n\nlitellm.AuthenticationError: AnthropicException - invalid x-api-key\n"
        "The API provider is not able to authenticate you. Check your API key.\n"
    )
    assert read_answer("aider", text) == Answer(
        None,
        "aider: The API provider is not able to authenticate you. Check your API key."
        " (litellm.AuthenticationError)",
    )


# -- hostile logs ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [*AGENTS, "auto", "none"])
def test_hostile_logs_never_raise_and_never_give_json_as_the_error(fmt: str) -> None:
    result = captured("claude-not-logged-in")
    gemini = captured("gemini-no-auth")
    logs = [
        "",
        "\x00\x01\xff garbage \x1b[31mred\x1b[0m",
        result[: len(result) // 2],  # cut by a timeout mid-line
        gemini[: len(gemini) // 2],
        "[" * 100_000 + "]" * 100_000,  # nested past the recursion limit
        '{"type":"result","is_error":true,"result":NaN}',
        '{"type":"result","is_error":true,"result":["not", "text"]}',
        '{"type":"item.completed","item":"not an object"}\n{"type":"turn.failed","error":7}',
        '{\n  "response": 5,\n  "error": [1]\n}',
    ]
    for text in logs:
        said = read_answer(fmt, text, failed=True)
        assert said.text is None or isinstance(said.text, str)
        if said.error is not None:
            assert "\n" not in said.error
            assert not said.error.split(": ", 1)[-1].lstrip().startswith(("{", "[", '"'))


def test_interleaved_stderr_does_not_hide_the_result() -> None:
    text = (
        "(node:1) Warning: something\n"
        + captured("claude-not-logged-in")
        + "\nnpm notice a new version\n"
    )
    assert read_answer("claude", text, failed=True).error == NOT_LOGGED_IN


def test_a_huge_log_is_read_from_its_end(tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    with open(log, "wb") as out:
        out.write(b"\xff\xfe not utf-8 \x00 noise\n" * 600_000)  # ~14 MiB, past the window
        out.write(captured("claude-not-logged-in").encode())
    assert answer_from_log(log, "claude", failed=True).error == NOT_LOGGED_IN
    assert answer_from_log(tmp_path / "gone.log", "claude", failed=True) == Answer(None, None)


def test_a_huge_answer_is_capped_with_a_note() -> None:
    line = json.dumps({"type": "result", "is_error": False, "result": "x" * 1_000_000})
    said = read_answer("claude", line)
    assert said.text is not None
    assert len(said.text) == 1_000_000
    cut = capped(said.text)
    assert cut.startswith("x" * ANSWER_CHARS)
    assert cut.endswith(
        f"[answer cut: {1_000_000 - ANSWER_CHARS} more characters, the whole of it in the log]"
    )
    assert capped("short") == "short"


def test_headline_is_one_short_line() -> None:
    text = "bad\x1b[31m\r\nthing\t" + "y" * 1000
    line = headline(text)
    assert "\n" not in line
    assert "\x1b" not in line
    assert "\r" not in line
    assert len(line) == ERROR_CHARS
    assert line.endswith("…")
    assert headline("  a \n b  ") == "a b"
