"""What reports and status leave out when it would say nothing: a Spend section without
agents, a speedup of a sweep too small to measure one, and a manual sweep that ran nothing
standing in front of the night's report. The JSON forms keep their fields."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from agentd.daemon.output.report import SPEEDUP_MIN_TASK_S, shown_speedup
from tests.builders import cmd, proj, recording, write_config
from tests.helpers import Workspace


def _two_projects(ws: Workspace, **sections: Any) -> None:
    write_config(ws, {"t": cmd("true")}, [proj("a", "t"), proj("b", "t")], **sections)


def _report_dir(ws: Workspace, run_id: str) -> Path:
    return ws.state / "runs" / run_id


def _status(ws: Workspace, *args: str) -> str:
    shown = ws.run("status", *args, "--config", str(ws.config))
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def test_no_spend_section_without_agents_but_the_json_keeps_it(ws: Workspace) -> None:
    _two_projects(ws)
    done = ws.once()
    assert done.returncode == 0, done.stderr
    (run,) = (ws.state / "runs").iterdir()
    assert "## Spend" not in (run / "report.md").read_text()
    assert not re.search(r"(?m)^spend:", done.stdout)  # the summary
    assert json.loads((run / "report.json").read_text())["spend"]["week"]["total"]["runs"] == 0
    assert not re.search(r"(?m)^spend:", _status(ws))
    assert json.loads(_status(ws, "--json"))["spend"]["today"]["total"]["runs"] == 0


def test_a_budget_limit_keeps_the_spend_section(ws: Workspace) -> None:
    _two_projects(ws, budget={"nightly_usd": 1.5})
    assert ws.once().returncode == 0
    (run,) = (ws.state / "runs").iterdir()
    report_md = (run / "report.md").read_text()
    assert "## Spend" in report_md
    assert "- budget: " in report_md
    assert re.search(r"(?m)^spend: .*\n(.*\n)*budget: ", _status(ws))


def test_a_tiny_sweep_shows_no_speedup_but_report_json_keeps_it(ws: Workspace) -> None:
    _two_projects(ws)
    done = ws.once()
    assert done.returncode == 0, done.stderr
    (run,) = (ws.state / "runs").iterdir()
    assert "speedup" not in (run / "report.md").read_text()
    assert "speedup" not in done.stdout
    assert isinstance(json.loads((run / "report.json").read_text())["speedup"], float)


def test_a_sweep_long_enough_shows_its_speedup(ws: Workspace) -> None:
    # Two projects side by side, together past the threshold: about 2x.
    seconds = SPEEDUP_MIN_TASK_S / 2 + 0.2
    write_config(
        ws,
        {"t": recording("{project}", seconds)},
        [proj("a", "t"), proj("b", "t")],
        run={"project_parallelism": True, "max_parallel_projects": 2},
    )
    done = ws.once()
    assert done.returncode == 0, done.stderr
    (run,) = (ws.state / "runs").iterdir()
    assert re.search(
        r"; speedup \d+\.\dx \(task time / wall time\)", (run / "report.md").read_text()
    )
    assert re.search(r", speedup \d+\.\dx", done.stdout)


def _report(tasks: list[tuple[str, float | None]], speedup: float = 1.9) -> dict[str, Any]:
    projects = [{"tasks": [{"duration_s": took}]} for _, took in tasks]
    return {"projects": projects, "speedup": speedup}


def test_the_speedup_rule() -> None:
    enough = SPEEDUP_MIN_TASK_S / 2
    assert shown_speedup(_report([("a", enough), ("b", enough)])) == 1.9
    # One project: nothing ran beside it; too little task time: start-up dominates.
    assert shown_speedup(_report([("a", 2 * enough), ("b", None)])) is None
    assert shown_speedup(_report([("a", enough), ("b", enough - 0.1)])) is None


def test_report_and_status_look_past_sweeps_that_ran_nothing(ws: Workspace) -> None:
    _two_projects(ws)
    ids = [ws.once_json()[1]["run_id"] for _ in range(3)]  # then everything is done today
    night, noops = ids[0], ids[1:]

    shown = ws.run("report", "--config", str(ws.config))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"# agentd sweep {night}\n")
    assert (
        f"the latest sweep that ran something: {night}; 2 newer sweeps ran nothing "
        f"(the latest: agentd report {noops[-1]})" in shown.stderr
    )
    as_json = ws.run("report", "--json", "--config", str(ws.config))
    assert json.loads(as_json.stdout)["run_id"] == night
    # Asked for by its id, a no-op sweep's report is shown as it is, with no note.
    asked = ws.run("report", noops[-1], "--config", str(ws.config))
    assert asked.stdout.startswith(f"# agentd sweep {noops[-1]}\n")
    assert "ran nothing" not in asked.stderr

    text = _status(ws)
    assert f"last sweep:  {night} (manual) ok" in text
    assert f"2 newer sweeps ran nothing (the latest: {noops[-1]} (manual)" in text
    status = json.loads(_status(ws, "--json"))
    assert status["last_sweep"]["run_id"] == noops[-1]
    assert status["last_sweep_that_ran"]["run_id"] == night
    assert status["newer_sweeps_ran_nothing"] == 2


def test_a_sweep_that_ran_something_is_shown_as_the_latest(ws: Workspace) -> None:
    _two_projects(ws)
    first = ws.once_json()[1]["run_id"]
    forced = ws.once_json("--force")[1]["run_id"]
    shown = ws.run("report", "--config", str(ws.config))
    assert shown.stdout.startswith(f"# agentd sweep {forced}\n")
    assert "ran nothing" not in shown.stderr
    assert first != forced
    assert "ran nothing" not in _status(ws)
