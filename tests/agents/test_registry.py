"""The agent registry, entry by entry: each entry's argv, parser, missing-report line and
cost flag checked against its CLI's real output format, printed by the fake CLIs in
tests/bin/fake-agents run with exactly the entry's argv (they exit 2 on any other flag,
as the real CLIs do). A new entry is checked by every test here without a line added."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agentd.config import load_config
from agentd.config.fields import PLACEHOLDER_RE
from agentd.config.presets import AGENT_PRESETS, USAGE_FORMATS
from agentd.daemon.agents.registry import AGENTS, AgentCLI, from_log, parse, reports_cost
from agentd.daemon.agents.replies import Answer
from agentd.daemon.agents.usage import Usage
from tests.helpers import TEST_BIN

FAKES = TEST_BIN / "fake-agents"
ENTRIES = [pytest.param(cli, id=name) for name, cli in AGENTS.items()]
PROMPT = "fix it; $(rm -rf /) 'quoted'"


def run_entry(cli: AgentCLI, **env: str) -> str:
    """The fake CLI started as agentd starts the real one: the entry's argv with the prompt
    substituted, stdout and stderr in one log."""
    argv = [PROMPT if part == "{prompt}" else part for part in cli.argv]
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_", "AGENTD_"))}
    proc = subprocess.run(
        [str(FAKES / argv[0]), *argv[1:]],
        env={**keep, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout  # 2: the fake rejected the entry's argv
    return proc.stdout


def test_every_preset_has_an_entry_and_every_entry_a_preset() -> None:
    # Same order too: it is the order usage = "auto" tries them in.
    assert list(AGENTS) == list(AGENT_PRESETS)
    assert all(name == cli.name for name, cli in AGENTS.items())


def test_config_accepts_each_entry_as_a_usage_format() -> None:
    assert [*AGENTS] == [f for f in USAGE_FORMATS if f not in ("auto", "none")]


@pytest.mark.parametrize("cli", ENTRIES)
def test_argv_passes_the_prompt_as_exactly_one_whole_element(cli: AgentCLI) -> None:
    assert cli.argv.count("{prompt}") == 1
    # No other placeholder: the prompt is the only thing agentd puts in an agent's argv.
    assert [p for p in cli.argv if PLACEHOLDER_RE.search(p)] == ["{prompt}"]
    assert cli.argv[0] == cli.name  # the program; the fakes are found by this name


@pytest.mark.parametrize("cli", ENTRIES)
def test_parser_reads_its_cli_real_output(cli: AgentCLI) -> None:
    output = run_entry(cli, FAKE_INPUT_TOKENS="5000", FAKE_OUTPUT_TOKENS="700", FAKE_COST="0.25")
    assert PROMPT in output  # the prompt reached the CLI as one argument
    found = parse(output, cli.name)
    assert found.known, found.reason
    assert (found.input_tokens, found.output_tokens, found.tokens) == (5000, 700, 5700)
    assert parse(output, "auto") == found  # no other entry claims this CLI's output first


@pytest.mark.parametrize("cli", ENTRIES)
def test_reports_cost_says_whether_its_output_carries_one(cli: AgentCLI) -> None:
    found = parse(run_entry(cli, FAKE_COST="0.25"), cli.name)
    assert found.known, found.reason
    assert cli.reports_cost is (found.cost_usd is not None)
    if cli.reports_cost:
        assert found.cost_usd == 0.25
    assert reports_cost(cli.name) is cli.reports_cost


def test_reports_cost_of_auto_and_none_is_not_known() -> None:
    assert reports_cost("auto") is None
    assert reports_cost("none") is None


@pytest.mark.parametrize("cli", ENTRIES)
@pytest.mark.parametrize("mode", ["none", "garbage"])
def test_output_without_a_usage_report_gets_the_entry_missing_line(
    cli: AgentCLI, mode: str
) -> None:
    assert cli.missing
    found = parse(run_entry(cli, FAKE_OUTPUT=mode), cli.name)
    assert found == Usage(known=False, reason=cli.missing)


@pytest.mark.parametrize("cli", ENTRIES)
def test_other_entries_do_not_read_this_cli_output(cli: AgentCLI) -> None:
    output = run_entry(cli)
    for other in AGENTS.values():
        if other is not cli:
            assert other.read(output) == Usage(known=False, reason=other.missing), other.name


def test_a_parser_that_raises_is_unknown_not_a_crash() -> None:
    def broken(text: str) -> Usage | None:
        raise KeyError(text)

    def broken_reader(text: str) -> Answer | None:
        raise KeyError(text)

    cli = AgentCLI("broken", broken, "never shown", reports_cost=True, answer=broken_reader)
    assert cli.read("x") == Usage(known=False, reason="unreadable usage report (KeyError)")
    assert cli.said("x") is None


def test_auto_names_every_entry_when_nothing_is_found(tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    log.write_text("plain text\n")
    names = ", ".join(AGENTS)
    expected = Usage(False, reason=f"no usage report of a known agent ({names}) found")
    assert from_log(log, "auto") == expected


def test_config_check_notes_exactly_the_entries_without_cost(tmp_path: Path) -> None:
    from agentd.daemon.cli.cmd_config import _uncosted_agents

    tasks = "".join(f'[tasks.t{i}]\nagent = "{n}"\nprompt = "p"\n' for i, n in enumerate(AGENTS))
    path = tmp_path / "config.toml"
    path.write_text(f'[budget]\nnightly_usd = 5\n{tasks}[defaults]\ntasks = ["t0"]\n')
    config = load_config(path, {})
    assert _uncosted_agents(config) == sorted(n for n, c in AGENTS.items() if not c.reports_cost)
