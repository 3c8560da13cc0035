"""What agent runs said and left, end to end: real `agentd run --once` sweeps of the fake
CLIs (their FAKE_OUTPUT=error is what the pinned real CLIs print without an account), into
report.json's ``answer``, ``agent_error``, ``reason`` and a kept branch's ``commits`` and
``diffstat``, and report.md's Agents section."""

from __future__ import annotations

import json
from pathlib import Path

from tests.agents.test_agents import git, make_repo, task
from tests.builders import ask, proj, write_config
from tests.helpers import Workspace

SECRET = "sk-live-0123456789abcdef"


def test_answers_errors_and_reasons_in_report(aws: Workspace) -> None:
    write_config(
        aws,
        {
            # The prompt holds the secret, so the fake's answer ("Done: <prompt>") does too.
            "fix": ask("claude", f"fix it with {SECRET}"),
            "review": ask("claude", "review", timeout="30s"),
            "port": ask("codex", "port it", timeout="2s"),
            "chat": ask("aider", "chat"),
            "look": ask("gemini", "look"),
        },
        [
            proj("good", "fix", "look", env={"OPENAI_API_KEY": SECRET}),
            proj("bad", "review", "port", "chat", "look", env={"FAKE_OUTPUT": "error"}),
        ],
    )
    code, report = aws.once_json()
    assert code == 1

    fix, look = task(report, "good", "fix"), task(report, "good", "look")
    assert fix["answer"] == "Done: fix it with ********"
    assert (fix["agent_error"], fix["reason"]) == (None, "")
    assert look["answer"] == "Done: look"

    review = task(report, "bad", "review")
    assert review["answer"] is None
    assert review["agent_error"] == "claude: Not logged in · Please run /login"
    assert review["reason"] == "claude: Not logged in · Please run /login; exit status 1"
    port = task(report, "bad", "port")
    assert port["status"] == "timeout"
    waiting = "Reconnecting... waiting for network (Connection failed: error sending request)"
    assert port["agent_error"] == f"codex: {waiting}"
    assert port["reason"].startswith(f"codex: {waiting}; timed out after 2s")
    # aider exits 0 after a refused model call: its error is shown, the task is not failed.
    chat = task(report, "bad", "chat")
    assert (chat["status"], chat["reason"]) == ("ok", "")
    assert chat["agent_error"].startswith("aider: The API provider is not able to authenticate")
    bad_look = task(report, "bad", "look")
    assert bad_look["exit_code"] == 41
    assert bad_look["agent_error"].startswith("gemini: Please set an Auth method in your ")

    messages = {(f["project"], f["task"]): f["message"] for f in report["failures"]}
    assert messages["bad", "review"] == review["reason"]

    md = (Path(report["run_dir"]) / "report.md").read_text()
    agents = md.split("## Agents (6)\n", 1)[1]
    assert "- **good / fix**: claude, ok (" in agents
    assert "\n  ```\n  Done: fix it with ********\n  ```\n" in agents
    assert "  - error: **claude: Not logged in · Please run /login**" in agents
    assert f"  - error: **codex: {waiting}**" in agents
    assert SECRET not in md
    assert '"is_error"' not in agents


def test_kept_branch_lists_the_commits_newest_first_with_diffstat(aws: Workspace) -> None:
    repo = make_repo(aws.root / "api", aws.env)
    (repo / "big.txt").write_text("".join(f"line {i}\n" for i in range(10)))
    git(repo, "add", "big.txt", env=aws.env)
    git(repo, "commit", "-q", "-m", "base", env=aws.env)
    # 22 commits: 21 numbered ones (the last rewrites big.txt: 3 lines out, 1 in) and one
    # whose subject is not UTF-8 and too long to show whole.
    script = (
        'for i in $(seq 1 21); do echo "$i" > "n$i.txt"; git add "n$i.txt";'
        ' git commit -q -m "step $i"; done;'
        " sed -i '1,3d' big.txt; echo new >> big.txt; git commit -q -am \"$(printf 'caf\\351 ')"
        "$(printf 'x%.0s' $(seq 1 300))\""
    )
    # An agent of its own that is this script: what it left shows under Agents too.
    write_config(
        aws,
        {"work": ask("scripted", "go")},
        [proj("api", "work", isolation="worktree", default_branch="main")],
        dirs=False,
        agents={"scripted": {"command": ["sh", "-c", script, "sh", "{prompt}"], "usage": "none"}},
    )
    code, report = aws.once_json()
    assert code == 0, report["failures"]
    tree = task(report, "api", "work")["worktree"]
    assert (tree["kept"], tree["commit_count"]) == ("branch", 22)
    shas = git(repo, "log", "--format=%H", "-n", "20", tree["branch"], env=aws.env).split()
    assert [c["sha"] for c in tree["commits"]] == shas  # newest first, capped at 20
    newest = tree["commits"][0]["subject"]
    assert newest.startswith("caf")  # git shows the stray byte as it sees fit; text all the same
    assert len(newest) == 200
    assert newest.endswith("…")
    assert [c["subject"] for c in tree["commits"][1:3]] == ["step 21", "step 20"]
    assert tree["diffstat"] == {"files": 22, "insertions": 22, "deletions": 3}

    md = (Path(report["run_dir"]) / "report.md").read_text()
    assert f"branch {tree['branch']} kept: 22 commits, 22 files changed, +22 -3" in md
    assert f"  - `{shas[1][:10]}` step 21" in md
    assert "  - … and 17 more (git log shows them)" in md
    assert "  - no answer found in its output" in md


def test_commit_subjects_are_masked_and_answers_shown_as_text(aws: Workspace) -> None:
    """An agent's commit subject is its text as its answer is: a secret in it is masked
    (whole, before the subject is cut), and report.md shows an answer's Markdown and HTML
    as the text it is, in a fence no backtick run in it can close."""
    repo = make_repo(aws.root / "api", aws.env)
    make_repo(aws.root / "web", aws.env)
    pad = "x" * 185  # the secret straddles the 200 characters a subject is cut to
    script = (
        'echo 1 > a.txt; git add a.txt; git commit -q -m "token $OPENAI_API_KEY";'
        f' echo 2 > b.txt; git add b.txt; git commit -q -m "{pad}$OPENAI_API_KEY!"'
    )
    loud = "see ```` this ```` and `x` <h1>shout</h1> [link](http://example.com)"
    key = {"OPENAI_API_KEY": SECRET}
    write_config(
        aws,
        {"work": ask("scripted", "go"), "say": ask("claude", loud)},
        [
            proj("api", "work", isolation="worktree", default_branch="main", env=key),
            proj("web", "say", env=key),
        ],
        dirs=False,
        agents={"scripted": {"command": ["sh", "-c", script, "sh", "{prompt}"], "usage": "none"}},
    )
    code, report = aws.once_json()
    assert code == 0, report["failures"]
    subjects = [c["subject"] for c in task(report, "api", "work")["worktree"]["commits"]]
    assert subjects == [pad + "********!", "token ********"]
    tip = task(report, "api", "work")["worktree"]["commits"][0]["sha"]
    assert SECRET in git(repo, "log", "-1", "--format=%s", tip, env=aws.env)  # git keeps it
    md = (Path(report["run_dir"]) / "report.md").read_text()
    assert SECRET[:8] not in md
    assert SECRET[:8] not in json.dumps(report)
    agents = md.split("## Agents (2)\n", 1)[1]
    assert f"\n  `````\n  Done: {loud}\n  `````\n" in agents
