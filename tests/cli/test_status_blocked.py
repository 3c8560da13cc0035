"""`agentd status` for a project a failing dependency keeps from running, night after
night: it says blocked, by which dependency, and since the first night of the streak.

The sweeps run in the test process on a clock set to 02:30 of each night (their tasks are
real processes, their state the real file store); `agentd status` runs as a real process
reading that state."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from agentd.config import load_config
from agentd.daemon.model.report import Report
from agentd.daemon.output.report import ReportWriter
from agentd.daemon.sweep.engine import SweepRequest, run_sweep
from agentd.daemon.tasks.stop import StopToken
from agentd.state import JsonFileStore
from tests.builders import cmd, proj, write_config
from tests.fakeclock import OffsetClock
from tests.helpers import Workspace


def _night(day: int) -> datetime:
    return datetime(2026, 3, day, 2, 30, tzinfo=UTC)


def _configure(ws: Workspace, a_task: str) -> None:
    write_config(
        ws,
        {"fail": cmd("false"), "ok": cmd("true")},
        [
            proj("a", a_task),
            proj("b", "ok", depends_on=["a"]),
            proj("c", "ok", depends_on=["b"]),
            proj("d", "ok"),
        ],
        schedule={"timezone": "UTC"},
    )


def _sweep(ws: Workspace, clock: OffsetClock, day: int) -> Report:
    clock.set(_night(day))
    config = load_config(ws.config, {})
    store = JsonFileStore(ws.state)
    return run_sweep(
        config, store, ws.state, SweepRequest(), StopToken(), [ReportWriter()], ws.env, clock
    )


def _status(ws: Workspace) -> tuple[dict[str, dict[str, Any]], str]:
    shown = ws.run("status", "--json", "--config", str(ws.config), "--state-dir", str(ws.state))
    assert shown.returncode == 0, shown.stderr
    text = ws.run("status", "--config", str(ws.config), "--state-dir", str(ws.state))
    assert text.returncode == 0, text.stderr
    return {p["name"]: p for p in json.loads(shown.stdout)["projects"]}, text.stdout


def _row(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"  {name} "))


def test_a_project_blocked_night_after_night_says_by_which_and_since_when(ws: Workspace) -> None:
    _configure(ws, "fail")
    clock = OffsetClock()
    for day in (1, 2, 3):
        report = _sweep(ws, clock, day)
        assert [p.status for p in report.projects] == ["failed", "skipped", "skipped", "ok"]
    # A second sweep on the third night is still the third night.
    last = _sweep(ws, clock, 3)

    projects, text = _status(ws)
    b, c = projects["b"]["blocked"], projects["c"]["blocked"]
    assert (b["by"], b["reason"]) == ("a", "dependency failed: a")
    assert (b["since"], b["date"], b["nights"]) == ("2026-03-01", "2026-03-03", 3)
    assert b["run_id"] == last.run_id
    assert (c["by"], c["reason"], c["since"]) == ("b", "dependency skipped: b", "2026-03-01")
    assert projects["a"]["blocked"] is None
    assert projects["d"]["blocked"] is None
    row = _row(text, "b")
    assert re.search(r"\bnever +blocked +0/0 of 1\b", row), row
    assert "blocked by a since 2026-03-01 (3 nights" in row
    assert "dependency failed: a" in row
    assert "blocked" not in _row(text, "d")

    # Fixed: b runs, and is no longer blocked; broken again: a new streak starts.
    _configure(ws, "ok")
    _sweep(ws, clock, 4)
    projects, text = _status(ws)
    assert projects["b"]["blocked"] is None
    assert projects["b"]["last_status"] == "ok"
    assert "blocked" not in _row(text, "b")
    _configure(ws, "fail")
    _sweep(ws, clock, 6)
    projects, _ = _status(ws)
    assert projects["b"]["blocked"]["since"] == "2026-03-06"
    assert projects["b"]["blocked"]["nights"] == 1


def test_a_state_file_without_blocked_entries_loads_and_a_malformed_one_is_refused(
    ws: Workspace,
) -> None:
    _configure(ws, "ok")
    ws.state.mkdir(mode=0o700)
    # As an agentd before the blocked streak wrote it: no "blocked" anywhere.
    old = {
        "version": 2,
        "projects": {"b": {"tasks": {}, "last_run": {"status": "ok", "date": "2026-03-01"}}},
        "claims": {},
        "runs": [],
        "fires": {},
    }
    (ws.state / "state.json").write_text(json.dumps(old))
    projects, _ = _status(ws)
    assert projects["b"]["blocked"] is None
    assert projects["b"]["last_status"] == "ok"

    old["projects"]["b"]["blocked"] = {"by": "a", "since": "2026-03-01", "nights": "three"}
    (ws.state / "state.json").write_text(json.dumps(old))
    shown = ws.run("status", "--config", str(ws.config), "--state-dir", str(ws.state))
    assert shown.returncode == 2
    assert "state.json" in shown.stderr
    assert "project 'b'" in shown.stderr
    assert "Traceback" not in shown.stderr


def test_the_projects_table_lines_up_under_its_header_whatever_the_names(ws: Workspace) -> None:
    """Names shorter than the word "name" (a, b, c, d) still sit under their columns."""
    _configure(ws, "ok")
    assert ws.run("run", "--once", "--config", str(ws.config)).returncode == 0
    proc = ws.run("status", "--config", str(ws.config))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    table = lines[lines.index("projects:") + 1 :]
    header, rows = table[0], table[1:5]
    assert [row.split()[0] for row in rows] == ["a", "b", "c", "d"]
    for row in rows:
        assert row.index(row.split()[1]) == header.index("last run"), (header, row)
        assert row.index(row.split()[2], row.index(row.split()[1]) + 10) == header.index("status")
