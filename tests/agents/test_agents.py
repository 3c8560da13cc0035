"""Agent tasks end to end: spend, budget, the agent bound, repository safety and alerts.

Real `agentd run --once` processes run the fake CLIs in tests/bin/fake-agents, which take
the built-in presets' arguments and print the real CLIs' documented output formats (their
sources are named in the fakes and in tests/agents/test_usage.py). Repositories are real git
repositories; webhooks go to a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.builders import ask, cmd, proj, write_config
from tests.helpers import TEST_BIN, Workspace

FAKES = TEST_BIN / "fake-agents"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def trace_overlap(path: Path) -> int:
    """The most agent processes alive at once, from the fakes' start/end lines (appended
    in the order they happened)."""
    best = current = 0
    for line in path.read_text().splitlines():
        current += 1 if json.loads(line)["event"] == "start" else -1
        best = max(best, current)
    return best


def task(report: dict[str, Any], project: str, name: str) -> dict[str, Any]:
    found = next(p for p in report["projects"] if p["name"] == project)
    return next(t for t in found["tasks"] if t["name"] == name)


# -- spend ---------------------------------------------------------------------------------


def test_spend_of_each_cli_is_recorded_in_report_state_and_status(aws: Workspace) -> None:
    write_config(
        aws,
        {
            "c": ask("claude", "fix {project}"),
            "x": ask("codex", "fix {project}"),
            "g": ask("gemini", "fix {project}"),
            "a": ask("aider", "fix {project}"),
            "lint": cmd("true"),
        },
        [
            proj(
                "api",
                "lint",
                "c",
                env={"FAKE_COST": "0.25", "FAKE_INPUT_TOKENS": "1000", "FAKE_OUTPUT_TOKENS": "200"},
            ),
            proj("web", "x", "g", env={"FAKE_INPUT_TOKENS": "5000", "FAKE_OUTPUT_TOKENS": "300"}),
            proj(
                "docs",
                "a",
                env={"FAKE_COST": "0.5", "FAKE_INPUT_TOKENS": "800", "FAKE_OUTPUT_TOKENS": "42"},
            ),
        ],
        run={"project_parallelism": True},
    )
    code, report = aws.once_json()
    assert code == 0, report["failures"]
    assert task(report, "api", "lint")["usage"] is None  # not an agent task
    claude = task(report, "api", "c")["usage"]
    assert claude["known"]
    assert claude["cost_usd"] == 0.25
    assert claude["output_tokens"] == 200
    codex = task(report, "web", "x")["usage"]
    assert codex["known"]
    assert "cost_usd" not in codex
    assert codex["tokens"] == 5300
    gemini = task(report, "web", "g")["usage"]
    assert gemini["known"]
    assert gemini["input_tokens"] == 5000
    assert gemini["output_tokens"] == 300
    aider = task(report, "docs", "a")["usage"]
    assert aider["known"]
    assert aider["cost_usd"] == 0.5
    assert aider["tokens"] == 842

    spend = report["spend"]
    assert spend["sweep"]["runs"] == 4
    assert spend["sweep"]["unknown"] == 0
    assert spend["sweep"]["usd"] == pytest.approx(0.75)
    assert spend["today"]["by_agent"]["claude"]["usd"] == pytest.approx(0.25)
    assert spend["today"]["by_project"]["web"]["runs"] == 2
    assert spend["today"]["by_project"]["web"]["tokens"] == 5300 + gemini["tokens"]

    ledger = aws.state_doc()["spend"][report["date"]]
    assert sorted((e["project"], e["task"], e["agent"]) for e in ledger.values()) == [
        ("api", "c", "claude"),
        ("docs", "a", "aider"),
        ("web", "g", "gemini"),
        ("web", "x", "codex"),
    ]
    assert aws.state_doc()["projects"]["api"]["tasks"]["c"]["usage"]["cost_usd"] == 0.25

    status = json.loads(aws.run("status", "--json", "--config", str(aws.config)).stdout)
    assert status["spend"]["today"]["by_agent"]["aider"]["usd"] == pytest.approx(0.5)
    assert status["spend"]["week"]["total"]["runs"] == 4
    text = aws.run("status", "--config", str(aws.config)).stdout
    assert "spend:       today" in text
    assert "agent codex" in text
    assert "project docs" in text
    markdown = aws.run("report", "--config", str(aws.config)).stdout
    assert "## Spend" in markdown
    assert "claude: $0.2500" in markdown


@pytest.mark.parametrize("output", ["garbage", "truncated", "none", "weird"])
def test_unreadable_usage_is_unknown_never_a_failure(aws: Workspace, output: str) -> None:
    write_config(
        aws,
        {"c": ask("claude", "fix it")},
        [proj("api", "c", env={"FAKE_OUTPUT": output})],
    )
    code, report = aws.once_json()
    assert code == 0, report["failures"]
    usage = task(report, "api", "c")["usage"]
    assert usage["known"] is False
    assert usage["reason"]
    assert report["spend"]["sweep"] == {"usd": 0.0, "tokens": 0, "runs": 1, "unknown": 1}
    text = aws.run("status", "--config", str(aws.config)).stdout
    assert "1 with usage unknown, not counted" in text


# -- budget and the agent bound ------------------------------------------------------------


def test_budget_skips_new_agent_tasks_and_never_kills_running_ones(aws: Workspace) -> None:
    names = ["p1", "p2", "p3"]
    env = {"FAKE_COST": "0.6", "FAKE_SLEEP": "3", "FAKE_TRACE": str(aws.root / "trace")}
    write_config(
        aws,
        {"lint": cmd("true"), "c": ask("claude", "fix it")},
        [proj(n, "lint", "c", env=env) for n in names],
        run={"project_parallelism": True, "max_parallel_projects": 3},
        budget={"nightly_usd": 1.0},
    )
    code, report = aws.once_json()
    # The first agent run had no price yet: the others waited for it ($0.60). Then one more
    # fit under the limit ($0.60 spent, none in flight) and passed it mid-run, never
    # stopped; the last waited for that one and was skipped, the limit reached.
    assert code == 0, report["failures"]
    statuses = sorted(task(report, n, "c")["status"] for n in names)
    assert statuses == ["ok", "ok", "skipped"]
    [skipped] = [task(report, n, "c") for n in names if task(report, n, "c")["status"] != "ok"]
    assert skipped["reason"] == (
        "budget: nightly limit of $1.00 reached ($1.20 spent on " + report["date"] + ")"
    )
    assert trace_overlap(aws.root / "trace") == 1
    assert report["spend"]["today"]["total"]["usd"] == pytest.approx(1.2)
    assert report["budget"]["standing"][0]["reached"] is True

    # The dry run says so, and the next sweep the same day skips the agent tasks, while the
    # others still run.
    dry = aws.once("--dry-run", "--force").stdout
    assert dry.count("[budget reached: c would be skipped]") == 3
    assert "budget: nightly limit of $1.00 reached ($1.20 spent on" in dry
    code, again = aws.once_json("--force")
    assert code == 0, again["failures"]
    for n in names:
        assert task(again, n, "lint")["status"] == "ok"
        skipped = task(again, n, "c")
        assert skipped["status"] == "skipped"
        assert skipped["reason"] == (
            "budget: nightly limit of $1.00 reached ($1.20 spent on " + again["date"] + ")"
        )
    assert [(s["project"], s["task"]) for s in again["budget"]["skipped"]] == [
        (n, "c") for n in names
    ]
    assert again["counts"]["tasks_skipped"] == 3
    assert again["status"] == "ok"
    markdown = (aws.state / "runs" / again["run_id"] / "report.md").read_text()
    assert "Skipped for the budget (3):" in markdown
    # The budget never became a failure, and no third agent process ever started.
    assert sum('"start"' in line for line in (aws.root / "trace").read_text().splitlines()) == 2


def test_agent_limit_stops_that_agent_only_and_counts_tokens(aws: Workspace) -> None:
    write_config(
        aws,
        {
            "x1": ask("codex", "one"),
            "x2": ask("codex", "two"),
            "c": ask("claude", "three"),
        },
        [
            proj(
                "api",
                "x1",
                "x2",
                "c",
                env={"FAKE_INPUT_TOKENS": "900", "FAKE_OUTPUT_TOKENS": "150"},
            )
        ],
        budget={"agents": {"codex": {"nightly_tokens": 1000}}},
    )
    code, report = aws.once_json()
    assert code == 0, report["failures"]
    assert task(report, "api", "x1")["status"] == "ok"
    assert task(report, "api", "x2")["reason"].startswith(
        "budget: codex's nightly limit of 1,000 tokens reached (1,050 tokens spent"
    )
    assert task(report, "api", "c")["status"] == "ok"  # claude has no limit of its own


def test_max_parallel_agents_bounds_agent_tasks_across_projects(aws: Workspace) -> None:
    names = [f"p{i}" for i in range(4)]
    trace = aws.root / "trace"

    def configure(bound: int) -> None:
        write_config(
            aws,
            {"c": ask("claude", "fix it")},
            [proj(n, "c", env={"FAKE_SLEEP": "0.5", "FAKE_TRACE": str(trace)}) for n in names],
            run={
                "project_parallelism": True,
                "max_parallel_projects": 4,
                "max_parallel_agents": bound,
            },
        )

    configure(1)
    code, report = aws.once_json()
    assert code == 0, report["failures"]
    assert trace_overlap(trace) == 1
    assert report["max_parallel_agents"] == 1

    # The same sweep without the agent bound: the projects' bound alone lets them overlap
    # (each waits 0.5 s; four starting one after another would take 2 s).
    trace.unlink()
    configure(0)
    code, report = aws.once_json("--force")
    assert code == 0, report["failures"]
    assert trace_overlap(trace) > 1


# -- repository safety ---------------------------------------------------------------------


def git(repo: Path, *args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(path: Path, env: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main", env=env)
    (path / "README").write_text("hello\n")
    git(path, "add", "README", env=env)
    git(path, "commit", "-q", "-m", "first", env=env)
    return path


def test_require_clean_skips_dirty_or_off_branch_checkouts(aws: Workspace) -> None:
    env = aws.env
    make_repo(aws.root / "clean", env)
    make_repo(aws.root / "dirty", env)
    (aws.root / "dirty" / "README").write_text("edited by the user\n")
    make_repo(aws.root / "feature", env)
    git(aws.root / "feature", "switch", "-q", "-c", "wip", env=env)
    aws.project_dirs("plain")
    aws.write_config(
        """
        [defaults]
        tasks = ["mark"]
        require_clean = true
        [tasks.mark]
        command = ["record", "mark", "0"]
        [[projects]]
        name = "clean"
        path = "clean"
        [[projects]]
        name = "dirty"
        path = "dirty"
        [[projects]]
        name = "after-dirty"
        path = "clean"
        depends_on = ["dirty"]
        require_clean = false
        [[projects]]
        name = "feature"
        path = "feature"
        [[projects]]
        name = "plain"
        path = "plain"
        """
    )
    dry = aws.once("--dry-run")
    assert "would be skipped: working tree has uncommitted changes" in dry.stdout
    code, report = aws.once_json()
    by = {p["name"]: p for p in report["projects"]}
    assert by["clean"]["status"] == "ok"
    assert by["dirty"]["status"] == "skipped"
    assert by["dirty"]["reason"].startswith("require_clean: working tree has uncommitted changes")
    assert by["after-dirty"]["status"] == "skipped"
    assert by["after-dirty"]["reason"] == "dependency skipped: dirty"
    assert by["feature"]["reason"] == "require_clean: on branch wip, not the default branch main"
    # Not a repository at all: a mistake to fix, so a failure, not a quiet skip.
    assert by["plain"]["status"] == "failed"
    assert "not in a git repository" in by["plain"]["reason"]
    assert code == 1
    ran = {r["project"] for r in aws.read_records() if r["event"] == "start"}
    assert ran == {"clean"}
    # The user's edit is still there, untouched.
    assert (aws.root / "dirty" / "README").read_text() == "edited by the user\n"


def test_worktree_isolation_keeps_the_checkout_untouched(aws: Workspace) -> None:
    env = aws.env
    repo = make_repo(aws.root / "api", env)
    git(repo, "switch", "-q", "-c", "user-work", env=env)
    (repo / "notes.txt").write_text("uncommitted user work\n")
    trace = aws.root / "trace"
    write_config(
        aws,
        {
            "fix": ask("claude", "fix something"),
            "look": ask("claude", "only look"),
            "scratch": ask("claude", "leave a mess"),
        },
        [
            proj(
                "api",
                "fix",
                "look",
                "scratch",
                isolation="worktree",
                default_branch="main",
                env={"FAKE_TRACE": str(trace)},
            )
        ],
        dirs=False,
    )
    # Which fake does what is chosen per task through the prompt-free environment: the
    # fix task commits, the scratch task leaves an untracked file.
    wrapper = aws.root / "bin"
    wrapper.mkdir()
    (wrapper / "claude").write_text(
        "#!/bin/sh\n"
        'case "$AGENTD_TASK" in fix) export FAKE_COMMIT=1;; scratch) export FAKE_DIRTY=1;; esac\n'
        f'exec "{FAKES / "claude"}" "$@"\n'
    )
    (wrapper / "claude").chmod(0o755)
    aws.env["PATH"] = f"{wrapper}:{aws.env['PATH']}"
    head_before = git(repo, "rev-parse", "HEAD", env=env)
    status_before = git(repo, "status", "--porcelain", env=env)

    code, report = aws.once_json()
    assert code == 0, report["failures"]
    date = report["date"]
    fix, look, scratch = (task(report, "api", t)["worktree"] for t in ("fix", "look", "scratch"))
    assert fix["branch"] == f"agentd/{date}/fix"
    assert fix["kept"] == "branch"
    # The commit the agent left, and what it changed (the fake adds a one-line file).
    tip = git(repo, "rev-parse", fix["branch"], env=env)
    assert fix["commits"] == [{"sha": tip, "subject": "agent change"}]
    assert fix["commit_count"] == 1
    assert fix["diffstat"] == {"files": 1, "insertions": 1, "deletions": 0}
    assert (look["commits"], look["commit_count"]) == ([], 0)
    assert not Path(fix["path"]).exists()
    log = git(repo, "log", "--format=%s", f"main..{fix['branch']}", env=env)
    assert log == "agent change"
    assert look["kept"] == "nothing"
    assert not Path(look["path"]).exists()
    assert git(repo, "branch", "--list", look["branch"], env=env) == ""
    assert scratch["kept"] == "worktree"
    assert (Path(scratch["path"]) / "agent-scratch.txt").exists()

    # Each task ran in its own worktree, told so by AGENTD_PROJECT_DIR and AGENTD_BRANCH.
    starts = [json.loads(x) for x in trace.read_text().splitlines() if '"start"' in x]
    assert len({s["cwd"] for s in starts}) == 3
    for s in starts:
        assert s["cwd"] == s["project_dir"]
        assert not s["cwd"].startswith(str(repo))
        assert s["branch"].startswith(f"agentd/{date}/")
    # The user's checkout: same branch, same commit, same uncommitted file.
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD", env=env) == "user-work"
    assert git(repo, "rev-parse", "HEAD", env=env) == head_before
    assert git(repo, "status", "--porcelain", env=env) == status_before
    # The worktree started from main, not from the user's branch.
    assert git(repo, "merge-base", "main", fix["branch"], env=env) == head_before


# -- alerts --------------------------------------------------------------------------------


class Hook:
    """A local HTTP server recording every request; answers with ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = status
        self.arrived = threading.Event()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                )
                self.send_response(hook.status)
                self.end_headers()
                hook.arrived.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0KEN-SECRET"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


COPY_STDIN = "import sys, os; open(os.environ['OUT'], 'w').write(sys.stdin.read())"


def alert_config(ws: Workspace, url: str, when: str, fail: bool) -> None:
    write_config(
        ws,
        {"ok": cmd("true"), "bad": cmd("false" if fail else "true")},
        [proj("api", "ok", "bad"), proj("web", "ok")],
        notify={
            "when": when,
            "webhook": url,
            "headers": {"Authorization": "Bearer H3ADER-SECRET"},
            "command": ["python3", "-c", COPY_STDIN],
            "timeout": "20s",
        },
    )
    ws.env["OUT"] = str(ws.root / "command-got.json")


def test_alert_after_a_failed_sweep_reaches_webhook_and_command(aws: Workspace, hook: Hook) -> None:
    alert_config(aws, hook.url, "failure", fail=True)
    proc = aws.once("--json", "--log-level", "info")
    report = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert len(hook.requests) == 1
    got = hook.requests[0]
    assert got["path"] == "/hooks/T0KEN-SECRET"
    assert got["headers"]["Authorization"] == "Bearer H3ADER-SECRET"
    body = got["body"]
    assert body["run_id"] == report["run_id"]
    assert body["status"] == "failed"
    assert body["failures"] == [
        {"project": "api", "task": "bad", "status": "failed", "message": "exit status 1"}
    ]
    assert "api/bad" in body["text"]
    assert json.loads((aws.root / "command-got.json").read_text())["run_id"] == report["run_id"]
    saved = json.loads((aws.state / "runs" / report["run_id"] / "report.json").read_text())
    assert [(a["via"], a["ok"]) for a in saved["alerts"]] == [("command", True), ("webhook", True)]
    # The hook's secrets appear nowhere: not in logs, report or `config show`.
    shown = aws.run("config", "show", "--config", str(aws.config)).stdout
    for text in (proc.stderr, json.dumps(saved), shown):
        assert "T0KEN-SECRET" not in text
        assert "H3ADER-SECRET" not in text
    assert f'webhook = "http://127.0.0.1:{hook.server.server_address[1]}/********"' in shown


def test_failing_alert_never_fails_the_sweep(aws: Workspace, hook: Hook) -> None:
    hook.status = 404
    alert_config(aws, hook.url, "always", fail=False)
    aws.env["OUT"] = str(aws.root / "no-such-dir" / "x")  # the command fails too
    code, report = aws.once_json()
    assert code == 0
    assert report["status"] == "ok"
    saved = json.loads((aws.state / "runs" / report["run_id"] / "report.json").read_text())
    assert saved["status"] == "ok"
    assert saved["failures"] == []
    assert [(a["via"], a["ok"]) for a in saved["alerts"]] == [
        ("command", False),
        ("webhook", False),
    ]
    assert "HTTP 404" in saved["alerts"][1]["detail"]
    markdown = (aws.state / "runs" / report["run_id"] / "report.md").read_text()
    assert "- webhook: FAILED: HTTP 404" in markdown


def test_no_alert_for_an_ok_sweep_unless_always(aws: Workspace, hook: Hook) -> None:
    alert_config(aws, hook.url, "failure", fail=False)
    code, report = aws.once_json()
    assert code == 0
    assert "alerts" not in report
    assert hook.requests == []
    assert not (aws.root / "command-got.json").exists()
    alert_config(aws, hook.url, "always", fail=False)
    code, report = aws.once_json("--force")
    assert code == 0
    assert len(hook.requests) == 1
    assert hook.requests[0]["body"]["status"] == "ok"


# -- configuration -------------------------------------------------------------------------


def test_agent_settings_are_validated(aws: Workspace) -> None:
    write_config(
        aws,
        {"c": ask("claude", "x")},
        [proj("api", "c", isolation="container")],
        run={"max_parallel_agents": -1},
        budget={
            "nightly_usd": -5,
            "weekly_dollars": 3,
            "agents": {"claud": {"nightly_usd": 1}, "codex": {"nightly_usd": 1, "monthly_usd": 9}},
        },
        notify={"when": "sometimes", "webhook": "ftp://example.com/x"},
        agents={"mine": {"command": ["mine", "{prompt}"], "usage": "cursor"}},
    )
    proc = aws.run("config", "check", "--config", str(aws.config))
    assert proc.returncode == 2
    for place in (
        "run.max_parallel_agents",
        "budget.nightly_usd",
        "budget.weekly_dollars",
        "budget.agents.claud: unknown agent 'claud'; did you mean 'claude'?",
        "budget.agents.codex.monthly_usd",
        "notify.when",
        "notify.webhook",
        "agents.mine.usage",
        "projects[api].isolation",
    ):
        assert place in proc.stderr, (place, proc.stderr)


def test_budget_can_be_set_from_the_environment(aws: Workspace) -> None:
    write_config(aws, {"c": ask("claude", "x")}, [proj("api", "c")])
    aws.env["AGENTD_BUDGET__NIGHTLY_USD"] = "0"
    code, report = aws.once_json()
    assert code == 0
    assert task(report, "api", "c")["reason"].startswith("budget: nightly limit of $0.00 reached")
    # Nothing of the project ran: it is skipped, with the reason, not "ok".
    api = report["projects"][0]
    assert api["status"] == "skipped"
    assert api["reason"] == task(report, "api", "c")["reason"]


def test_credentials_in_a_webhook_url_are_refused(aws: Workspace) -> None:
    write_config(
        aws,
        {"t": cmd("true")},
        [proj("api", "t")],
        notify={"webhook": "https://alice:PW4xyz@hooks.example.com/x"},
    )
    proc = aws.run("config", "check", "--config", str(aws.config))
    assert proc.returncode == 2
    assert "notify.webhook" in proc.stderr
    assert "credentials in the URL are not supported" in proc.stderr
    assert "PW4xyz" not in proc.stderr


@pytest.mark.parametrize("kind", ["config", "crash"])
def test_a_sweep_that_cannot_run_still_alerts(aws: Workspace, hook: Hook, kind: str) -> None:
    """The daemon records a nightly sweep that could not start (an invalid configuration
    after an edit, an unreadable state) as failed, and alerts: nobody watches at night."""
    import os

    from agentd.config import ConfigError, load_config
    from agentd.config.errors import Problem
    from agentd.daemon.model.clock import SYSTEM_CLOCK
    from agentd.daemon.output.report import finishing
    from agentd.daemon.sweep.engine import record_crash, record_failed_start
    from agentd.state import JsonFileStore, StateCorrupt

    alert_config(aws, hook.url, "failure", fail=False)
    config = load_config(aws.config, aws.env)
    store = JsonFileStore(aws.state)
    ends = finishing(config.settings.notify, os.environ, SYSTEM_CLOCK, store=store)
    if kind == "config":
        error = ConfigError(str(aws.config), [Problem("run.max_parallel_projects", "too big")])
        report = record_failed_start(config, store, aws.state, "schedule", error, ends).to_dict()
    else:
        crash = StateCorrupt("state.json is corrupt")
        report = record_crash(config, store, aws.state, "schedule", crash, ends).to_dict()
    assert len(hook.requests) == 1
    body = hook.requests[0]["body"]
    assert body["run_id"] == report["run_id"]
    assert body["status"] == "failed"
    message = body["failures"][0]["message"]
    assert ("too big" in message) if kind == "config" else (message == "state.json is corrupt")
    saved = json.loads((aws.state / "runs" / report["run_id"] / "report.json").read_text())
    assert saved["alerts"][1] == {
        "via": "webhook",
        "ok": True,
        "detail": saved["alerts"][1]["detail"],
    }


def test_config_check_summarises_budget_and_alerts(aws: Workspace) -> None:
    write_config(
        aws,
        {"t": cmd("true"), "x": ask("codex", "x")},
        [proj("api", "t", "x")],
        budget={
            "nightly_usd": 5,
            "weekly_tokens": 2000000,
            "agents": {"codex": {"nightly_tokens": 1000}},
        },
        notify={"webhook": "https://hooks.example.com/T/SECRET"},
    )
    out = aws.run("config", "check", "--config", str(aws.config)).stdout
    assert "note: codex reports tokens but no cost: USD limits do not count them" in out
    assert "budget: nightly $5.00, weekly 2,000,000 tokens; codex: nightly 1,000 tokens" in out
    assert "alerts: webhook, on failure" in out
    assert "SECRET" not in out


def test_the_summary_shows_spend_and_budget(aws: Workspace) -> None:
    write_config(
        aws,
        {"c": ask("claude", "x")},
        [proj("api", "c", env={"FAKE_COST": "1.5"})],
        budget={"weekly_usd": 10},
    )
    out = aws.once().stdout
    assert "spend: $1.50, " in out
    assert "in 1 agent run (this sweep)" in out
    assert "budget: weekly limit of $10.00 not reached ($1.50 spent since " in out
