"""One nightly limit held by three hosts at once: checking the budget and starting an agent
task is one step across hosts, so they cannot all pass the limit together."""

from __future__ import annotations

import json
from collections import Counter

from tests.builders import ask, proj, write_config
from tests.helpers import DEADLINE, TEST_BIN, Workspace
from tests.hosts.conftest import Boot
from tests.hosts.harness import once, shared_state

PROJECTS = [f"a{i}" for i in range(6)]
NAMES = ("build-1", "build-2", "build-3")
LIMIT = "budget: nightly limit of $1.00 reached ($1.20 spent on "


def test_three_hosts_start_only_what_the_global_limit_allows(
    ws: Workspace, hosts: Boot, pg_url: str
) -> None:
    trace = ws.root / "agents.jsonl"
    ws.env["PATH"] = f"{TEST_BIN / 'fake-agents'}:{ws.env['PATH']}"
    env = {"FAKE_COST": "0.6", "FAKE_SLEEP": "0.5", "FAKE_TRACE": str(trace)}
    write_config(
        ws,
        {"c": ask("claude", "fix {project}")},
        [proj(p, "c", env=env) for p in PROJECTS],
        run={"project_parallelism": True, "max_parallel_projects": 2, "max_parallel_agents": 1},
        budget={"nightly_usd": 1.0},
        state=shared_state(pg_url),
    )
    runs = [host.start(*once(ws.config)) for host in hosts(*NAMES)]
    assert [run.wait(timeout=3 * DEADLINE) for run in runs] == [0, 0, 0], [
        run.stderr[-3000:] for run in runs
    ]

    # The reservation rule: claude's first run has no known cost, so it counts as the rest
    # of the limit and every other host waits for it ($0.60 settled); the second then
    # counts $0.60 (the largest known run): 0.60 + 0.60 in flight is not under $1.00, so
    # a third waits, and once the second settles ($1.20) the rest are skipped.
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [e["event"] for e in lines] == ["start", "end", "start", "end"]
    started = sum(e["event"] == "start" for e in lines)
    assert started == 2
    assert started < len(NAMES), "the hosts did not all pass the limit at once"

    ok: Counter[str] = Counter()
    for_budget: set[str] = set()
    for run in runs:
        report = run.report()
        assert report["status"] == "ok", report["failures"]
        for project in report["projects"]:
            [task] = project["tasks"] or [{"status": project["status"], "reason": ""}]
            if task["status"] == "ok":
                ok[project["name"]] += 1
            elif task["status"] == "skipped" and task["reason"].startswith(LIMIT):
                for_budget.add(project["name"])
            else:
                assert project["status"] == "skipped", project
                # a claim met is waited for until its host releases the project
                done = ("done by host", "done today", "done in this night's sweep by host")
                assert project["reason"].startswith(done), project
        skipped = {s["project"] for s in report["budget"]["skipped"]}
        assert skipped == {
            p["name"]
            for p in report["projects"]
            for t in p["tasks"]
            if t["reason"].startswith("budget:")
        }
    assert sum(ok.values()) == 2
    assert set(ok.values()) == {1}
    assert for_budget == set(PROJECTS) - set(ok)
