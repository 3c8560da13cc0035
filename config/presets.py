"""Built-in agent presets: argv templates of each CLI's non-interactive mode.

``[agents.NAME]`` in config.toml overrides one of these or adds another. Each template
passes the prompt as a single argv element; nothing here goes through a shell.
"""

from __future__ import annotations

AGENT_PRESETS: dict[str, tuple[str, ...]] = {
    # Claude Code: -p prints the result and exits; JSON carries cost and usage.
    "claude": ("claude", "-p", "{prompt}", "--output-format", "json"),
    # OpenAI Codex CLI: `exec` is its non-interactive subcommand; --json prints JSON lines
    # whose turn.completed event carries token counts.
    "codex": ("codex", "exec", "--json", "{prompt}"),
    # aider: --message sends one message and exits; --yes-always answers its confirmations;
    # --no-pretty keeps colour codes out of the log. Its "Tokens: ... Cost: ..." lines
    # carry usage.
    "aider": ("aider", "--yes-always", "--no-pretty", "--message", "{prompt}"),
    # Gemini CLI: -p runs one prompt non-interactively; JSON output carries token counts.
    "gemini": ("gemini", "-p", "{prompt}", "--output-format", "json"),
}
