"""`agentd doctor` on a host of a shared store checks each project as this host's sweep
treats it: pinned to other hosts, not checked here; a directory missing here, another
host's to run (a warning, not a problem) unless the project is pinned to this host alone;
on one host (the JSON file) a missing directory stays a problem."""

from __future__ import annotations

import json
from typing import Any

from tests.builders import proj, recording, write_config
from tests.helpers import Workspace


def _doctor(ws: Workspace) -> tuple[int, dict[str, dict[str, str]]]:
    proc = ws.run("doctor", "--json", "--config", str(ws.config))
    assert proc.returncode in (0, 1), proc.stderr
    checks = json.loads(proc.stdout)
    projects = {c["subject"]: c for c in checks if c["check"] == "project"}
    others = [c for c in checks if c["level"] == "problem" and c["check"] != "project"]
    assert others == [], others  # the database reached, the programs found
    return proc.returncode, projects


def _configure(ws: Workspace, url: str | None, *projects: dict[str, Any]) -> None:
    state = {"backend": "postgres", "url": url, "host": "build-1"} if url else {}
    write_config(ws, {"t": recording()}, [proj("here", "t"), *projects], dirs=False, state=state)
    (ws.root / "here").mkdir()


def test_a_missing_project_on_a_shared_store_is_left_to_other_hosts(
    ws: Workspace, pg_url: str
) -> None:
    _configure(
        ws,
        pg_url,
        proj("epsilon", "t"),
        proj("builds", "t", hosts=["build-*"]),
        proj("gpu", "t", hosts=["gpu-*"]),
    )
    code, projects = _doctor(ws)
    assert code == 0, projects
    assert projects["here"]["level"] == "ok"
    for name in ("epsilon", "builds"):
        check = projects[name]
        assert check["level"] == "warning", check
        assert f"{ws.root / name} does not exist on build-1" in check["message"]
        assert "left for another host" in check["message"]
    assert projects["gpu"] == {
        "check": "project",
        "subject": "gpu",
        "level": "ok",
        "message": "pinned to hosts: gpu-*: not run on build-1, not checked here",
    }


def test_a_project_pinned_to_this_host_alone_must_be_here(ws: Workspace, pg_url: str) -> None:
    _configure(ws, pg_url, proj("mine", "t", hosts=["BUILD-1"]))
    code, projects = _doctor(ws)
    assert code == 1
    assert projects["mine"]["level"] == "problem"
    assert projects["mine"]["message"] == f"project directory {ws.root / 'mine'} does not exist"


def test_a_missing_project_on_one_host_is_still_a_problem(ws: Workspace) -> None:
    _configure(ws, None, proj("epsilon", "t"))
    code, projects = _doctor(ws)
    assert code == 1
    assert projects["epsilon"]["level"] == "problem"
