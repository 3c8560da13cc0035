"""The report made from the real agent CLIs' output, not the fakes': Claude Code, Codex
and Gemini CLI as pinned below, installed from npm by .ci/run (into AGENTD_AGENT_CLIS,
default ~/.cache/agentd/agent-clis), run by a real sweep with their built-in presets,
no account (a fresh HOME) and, where a network namespace can be had, no network.

Without an account each fails its own way, and the report must say so in its words:
claude prints a result object with ``is_error`` ("Not logged in · Please run /login"),
gemini an error document (exit 41), codex ``error`` events until the timeout kills it,
and outside a git repository codex refuses in plain text on stderr. Skipped when the
CLIs are not installed, unless AGENTD_AGENT_CLIS is set (as .ci/run sets it): there they
must be.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.agents.test_agents import GIT_ENV, make_repo, task
from tests.builders import ask, proj, write_config
from tests.helpers import AGENTD, Workspace

PINNED = {"claude": "2.1.197", "codex": "0.171.0", "gemini": "0.61.0"}
CLIS = Path(os.environ.get("AGENTD_AGENT_CLIS") or Path.home() / ".cache/agentd/agent-clis")
BIN = CLIS / "node_modules" / ".bin"
MISSING = [name for name in PINNED if not os.access(BIN / name, os.X_OK)]
INSTALL = "npm install --prefix DIR " + " ".join(
    f"{pkg}@{PINNED[name]}"
    for name, pkg in (
        ("claude", "@anthropic-ai/claude-code"),
        ("codex", "@openai/codex"),
        ("gemini", "@google/gemini-cli"),
    )
)

if MISSING and os.environ.get("AGENTD_AGENT_CLIS"):
    # In CI a skip would hide that the report was never tried on the real output.
    pytest.fail(f"AGENTD_AGENT_CLIS is set but {', '.join(MISSING)} not in {BIN}", pytrace=False)
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"the real agent CLIs are not installed in {CLIS} ({INSTALL})"
)


def no_network() -> list[str]:
    """A prefix that runs a command without a network (a new, empty network namespace):
    as root, or as a user with user namespaces; [] when neither is allowed here."""
    unshare = shutil.which("unshare")
    for flags in (["-n"], ["-r", "-n"]):
        if unshare and subprocess.run([unshare, *flags, "true"], check=False).returncode == 0:
            return [unshare, *flags]
    return []


def test_installed_versions_are_the_pinned_ones(tmp_path: Path) -> None:
    for name, version in PINNED.items():
        out = subprocess.run(
            [str(BIN / name), "--version"],
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert version in out.stdout, (name, out.stdout)


def test_the_report_shows_each_cli_own_error(ws: Workspace) -> None:
    ws.env["PATH"] = f"{BIN}:{ws.env['PATH']}"
    (ws.root / "home").mkdir()
    ws.env.update(GIT_ENV)
    repo = make_repo(ws.root / "api", ws.env)
    write_config(
        ws,
        {
            "c": ask("claude", "say hi"),
            "g": ask("gemini", "say hi"),
            "x": ask("codex", "say hi", timeout="30s"),
        },
        [proj("api", "c", "g", "x", path=str(repo)), proj("plain", "x")],
        run={"max_parallel_projects": 2},
    )
    done = subprocess.run(
        [*no_network(), AGENTD, "run", "--once", "--json", "--config", str(ws.config)],
        cwd=ws.root,
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    claude, gemini, codex = (task(report, "api", t) for t in ("c", "g", "x"))

    assert claude["agent_error"] == "claude: Not logged in · Please run /login"
    assert (claude["status"], claude["exit_code"]) == ("failed", 1)
    assert claude["reason"] == "claude: Not logged in · Please run /login; exit status 1"
    assert claude["answer"] is None

    assert gemini["exit_code"] == 41
    assert gemini["agent_error"].startswith("gemini: Please set an Auth method in your ")
    assert gemini["reason"].startswith(gemini["agent_error"] + "; exit status 41")

    # Codex retries until killed: its error is the last error event it printed (the first
    # comes some 15 s in, after three failed WebSocket connections).
    assert codex["status"] == "timeout"
    events = [
        json.loads(line)
        for line in Path(codex["log_path"]).read_text().splitlines()
        if line.startswith('{"type":"error"')
    ]
    assert events, Path(codex["log_path"]).read_text()
    assert codex["agent_error"] == f"codex: {events[-1]['message']}"
    assert codex["reason"].startswith(codex["agent_error"] + "; timed out after 30s")

    untrusted = task(report, "plain", "x")
    assert untrusted["agent_error"] == (
        "codex: Not inside a trusted directory and --skip-git-repo-check was not specified."
    )

    # report.json on disk (what the page and `agentd report` read) has the same headlines.
    saved = json.loads((Path(report["run_dir"]) / "report.json").read_text())
    for project, name, said in (
        ("api", "c", claude),
        ("api", "g", gemini),
        ("api", "x", codex),
        ("plain", "x", untrusted),
    ):
        on_disk = task(saved, project, name)
        assert (on_disk["agent_error"], on_disk["reason"]) == (said["agent_error"], said["reason"])
    assert task(saved, "api", "c")["agent_error"] == "claude: Not logged in · Please run /login"

    # report.md leads each failure with the agent's words, and lists them under Agents.
    md = (Path(report["run_dir"]) / "report.md").read_text()
    assert "**api / c**: failed: claude: Not logged in · Please run /login; exit status 1" in md
    agents = md.split("## Agents (4)", 1)[1]
    assert "  - error: **claude: Not logged in · Please run /login**" in agents
    assert '"is_error"' not in agents
