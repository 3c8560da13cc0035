"""The built-in agents as config.toml knows them: a name and the argv of its CLI's
non-interactive mode.

This is the part of an agent that a configuration file means: ``agent = "claude"`` names
one of these (or an ``[agents.NAME]`` table, which overrides one of these or adds another),
and ``usage = "claude"`` names its usage format. Everything else agentd knows of an agent
(how its output reports usage, what it says when it reports none, whether it reports a
cost) is behaviour, and lives beside this in ``agentd.daemon.agents.registry``, which
cannot be imported from here (config is the bottom layer). Each template passes the
prompt as a single argv element; nothing here goes through a shell.
"""

from __future__ import annotations

# The order is the order in which usage = "auto" tries each agent's format.
AGENT_PRESETS: dict[str, tuple[str, ...]] = {
    # Claude Code: -p prints the result and exits; JSON carries cost and usage.
    "claude": ("claude", "-p", "{prompt}", "--output-format", "json"),
    # OpenAI Codex CLI: `exec` is its non-interactive subcommand; --json prints JSON lines
    # whose turn.completed event carries token counts.
    "codex": ("codex", "exec", "--json", "{prompt}"),
    # Gemini CLI: -p runs one prompt non-interactively; JSON output carries token counts.
    "gemini": ("gemini", "-p", "{prompt}", "--output-format", "json"),
    # aider: --message sends one message and exits; --yes-always answers its confirmations;
    # --no-pretty keeps colour codes out of the log. Its "Tokens: ... Cost: ..." lines
    # carry usage.
    "aider": ("aider", "--yes-always", "--no-pretty", "--message", "{prompt}"),
}

# What ``[agents.NAME] usage`` accepts: every built-in agent's format, "auto" (each tried
# in turn) and "none" (not read).
USAGE_FORMATS: tuple[str, ...] = ("auto", *AGENT_PRESETS, "none")
