"""Every agent CLI agentd knows, one entry each: its argv, the parser of its usage report,
the line it gives when there is none, whether it reports a cost, and the reader of what
it said (its final answer, or its own error).

Design. The layers put ``config`` at the bottom, so config cannot import this module, yet
config must know two things about the built-in agents to validate a file and to resolve
a task: their names (``agent = "claude"``, ``usage = "claude"``, the did-you-mean hints)
and the argv each stands for (the default of ``[agents.NAME] command``). Those two are
what a configuration file *means*, and they stay in ``config.presets`` as data. Everything
else an agent is - code that reads its output, what it says when that output has no usage
report, whether its figures include money - is behaviour, and lives here only. An entry
takes its argv from the preset of the same name, so no fact is written twice, and
``tests/agents/test_registry.py`` fails when a preset has no entry here or an entry no
preset. Adding a fifth agent: its argv line in ``config.presets``, its parsers in
``agents.usage`` and ``agents.replies``, its entry below.

Two alternatives were weighed. Handing config the agents at load time (``load_config(...,
agents=REGISTRY)``) would put everything in the entry, but every caller of
``load_config`` would have to pass it, config's pydantic schema could no longer state
the usage formats as a ``Literal`` (its validation message would have to be imitated),
and a config loaded without it would reject ``agent = "claude"``. Copying names and argv
into the entries, with a test that they match config's, would write each fact twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agentd.config.presets import AGENT_PRESETS
from agentd.daemon.agents.replies import (
    Answer,
    answer_aider,
    answer_claude,
    answer_codex,
    answer_gemini,
)
from agentd.daemon.agents.usage import (
    Usage,
    parse_aider,
    parse_claude,
    parse_codex,
    parse_gemini,
    read_tail,
    unknown,
)

AUTO = "auto"  # usage format: each agent's parser in turn, in registry order
NONE = "none"  # usage format: the log is not read


@dataclass(frozen=True)
class AgentCLI:
    name: str  # as in config.toml: agent = "<name>", usage = "<name>"
    parse: Callable[[str], Usage | None]  # None: no usage report in this output at all
    missing: str  # why usage is unknown when its output has none (a flag to check, if any)
    reports_cost: bool  # False: tokens only, so USD limits cannot count its runs
    answer: Callable[[str], Answer | None]  # None: nothing of its format in this output

    @property
    def argv(self) -> tuple[str, ...]:
        """The preset's argv template; ``{prompt}`` is one element's placeholder."""
        return AGENT_PRESETS[self.name]

    def read(self, text: str) -> Usage:
        """Never raises: the output is foreign and must not crash a sweep."""
        try:
            found = self.parse(text)
        except Exception as exc:  # noqa: BLE001 - foreign output must never crash a sweep
            return unknown(f"unreadable usage report ({type(exc).__name__})")
        return found if found is not None else unknown(self.missing)

    def said(self, text: str) -> Answer | None:
        """What the run said, None when its output holds nothing of this CLI's format; a
        reader's bug reads as nothing found, never as a crashed sweep."""
        try:
            return self.answer(text)
        except Exception:  # noqa: BLE001 - foreign output must never crash a sweep
            return None


AGENTS: Mapping[str, AgentCLI] = {
    cli.name: cli
    for cli in (
        AgentCLI(
            "claude",
            parse_claude,
            missing='no result object ({"type": "result", ...}) in the output',
            reports_cost=True,
            answer=answer_claude,
        ),
        AgentCLI(
            "codex",
            parse_codex,
            missing="no turn.completed event with usage in the output (is --json set?)",
            reports_cost=False,
            answer=answer_codex,
        ),
        AgentCLI(
            "gemini",
            parse_gemini,
            missing="no stats in a JSON result (is --output-format json set?)",
            reports_cost=False,
            answer=answer_gemini,
        ),
        AgentCLI(
            "aider",
            parse_aider,
            missing='no "Tokens: ... sent, ... received." line in the output',
            reports_cost=True,
            answer=answer_aider,
        ),
    )
}


def reports_cost(fmt: str) -> bool | None:
    """Whether output read in usage format ``fmt`` carries a cost; None when that depends
    on which agent's report is found (``auto``) or nothing is read (``none``)."""
    cli = AGENTS.get(fmt)
    return cli.reports_cost if cli is not None else None


def parse(text: str, fmt: str) -> Usage:
    """The usage an agent's output reports, read as usage format ``fmt``."""
    if fmt == AUTO:
        for cli in AGENTS.values():
            found = cli.read(text)
            if found.known:
                return found
        return unknown("no usage report of a known agent (" + ", ".join(AGENTS) + ") found")
    if fmt not in AGENTS:
        return unknown(f"unknown usage format {fmt!r}")
    return AGENTS[fmt].read(text)


def from_log(path: Path, fmt: str) -> Usage:
    """The usage an agent reported in its log (stdout and stderr together)."""
    if fmt == NONE:
        return unknown(f'this agent\'s usage is not read (usage = "{NONE}")')
    try:
        text = read_tail(path)
    except OSError as exc:
        return unknown(f"cannot read the log: {exc.strerror or exc}")
    return parse(text, fmt)
