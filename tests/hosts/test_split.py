"""Three hosts on one PostgreSQL database split one sweep: every task once, each host
within its own bound, work on every host, and each host's report honest about the rest."""

from __future__ import annotations

from collections import Counter

from tests.builders import cmd, proj, write_config
from tests.helpers import DEADLINE, Workspace, max_overlap
from tests.hosts.conftest import Boot
from tests.hosts.harness import events, intervals_by_host, once, read_trace, shared_state

PROJECTS = [f"p{i:02d}" for i in range(60)]
TASKS = ("one", "two")
NAMES = ("build-1", "build-2", "build-3")
BOUND = 2


def test_three_hosts_split_one_sweep(ws: Workspace, hosts: Boot, pg_url: str) -> None:
    write_config(
        ws,
        {"one": cmd("hosttrace", 0.1), "two": cmd("hosttrace", 0.05)},
        [proj(p, *TASKS) for p in PROJECTS],
        run={"project_parallelism": True, "max_parallel_projects": BOUND},
        state=shared_state(pg_url),
    )
    trio = hosts(*NAMES)
    runs = [host.start(*once(ws.config)) for host in trio]
    codes = [run.wait(timeout=3 * DEADLINE) for run in runs]
    assert codes == [0, 0, 0], [run.stderr[-3000:] for run in runs]

    trace = read_trace(ws.root / "trace.jsonl")
    every = Counter({(p, t): 1 for p in PROJECTS for t in TASKS})
    assert Counter(events(trace, "start")) == every
    assert Counter(events(trace, "end")) == every
    by_host = intervals_by_host(trace)
    assert set(by_host) == set(NAMES), "every host ran some tasks"
    for name, spans in by_host.items():
        assert max_overlap(spans) <= BOUND, f"{name} ran more than {BOUND} tasks at once"

    ran: Counter[str] = Counter()
    for host, run in zip(trio, runs, strict=True):
        report = run.report()
        assert report["host"] == host.name
        assert report["status"] == "ok", report["failures"]
        assert {p["name"] for p in report["projects"]} == set(PROJECTS)
        mine = {e["project"] for e in trace if e["host"] == host.name}
        for project in report["projects"]:
            if project["status"] == "ok":
                ran[project["name"]] += 1
                assert project["name"] in mine, f"{host.name} reports a project it did not run"
                continue
            # Another host's project is no failure here: the report says whose it was.
            assert project["status"] == "skipped", project
            reason = project["reason"]
            # A claim met is waited for: released, it was done by the host that held it.
            assert reason.startswith(("done by host", "done today")), project
            assert not reason.startswith(f"done by host {host.name} "), project
            assert project["name"] not in mine
    assert ran == Counter(dict.fromkeys(PROJECTS, 1)), "every project ran on exactly one host"
