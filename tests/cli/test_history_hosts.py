"""`agentd history` when several hosts share a store: a host column in the grid, and one
host's grid as it always was. Built from run summaries as a shared store gives them back
(with "host"); the real command on a real PostgreSQL store is in test_shared_reads.py."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agentd.config.cron import parse_cron
from agentd.daemon.cli.cmd_history import _rich_grid, plain_grid
from agentd.daemon.model.history import History, build_history, changes
from agentd.state import Snapshot

DAILY = (parse_cron("30 2 * * *"), ZoneInfo("Europe/Berlin"))


def summary(date: str, seq: int, host: str | None, projects: dict[str, str]) -> dict[str, Any]:
    run: dict[str, Any] = {
        "run_id": f"{date.replace('-', '')}T0{seq}3000Z-abcd",
        "trigger": "schedule",
        "date": date,
        "started_at": f"{date}T02:30:00+01:00",
        "finished_at": f"{date}T02:3{seq}:00+01:00",
        "status": "failed" if "failed" in projects.values() else "ok",
        "counts": {"tasks_ok": 1, "tasks_failed": 0, "tasks_interrupted": 0},
        "mode": {"project_parallelism": True, "max_parallel_projects": 4},
        "duration_s": 60.0,
        "projects": {name: {"status": status} for name, status in projects.items()},
    }
    if host is not None:
        run["host"] = host
    return run


def grid(runs: list[dict[str, Any]], here: str = "build-1") -> tuple[History, str]:
    history = build_history(
        Snapshot({"runs": runs}), None, "2026-03-02", nights=2, schedule=DAILY, here=here
    )
    return history, plain_grid(history, changes(history), "Europe/Berlin", ascii=True)


SPLIT = [
    summary("2026-03-01", 1, "build-1", {"api": "ok", "web": "skipped"}),
    summary("2026-03-01", 2, "gpu-2.example.net", {"api": "skipped", "web": "failed"}),
    summary("2026-03-02", 1, "build-1", {"api": "ok", "web": "skipped"}),
    summary("2026-03-02", 2, "a-very-long-host-name", {"api": "skipped", "web": "ok"}),
]


def test_a_night_split_over_hosts_shows_each_projects_result_and_its_host() -> None:
    _, text = grid(SPLIT)
    lines = text.splitlines()
    assert lines[3].split() == ["project", "host", "01", "02"]
    assert lines[4].split() == ["api", "build-1", "+", "+"]
    # web failed on gpu-2 and then ran ok on the long-named host: its latest, cut short.
    assert lines[5].split() == ["web", "a-very-long~", "x", "+"]
    assert lines[6].split() == ["(sweeps)", "x", "+"]
    assert (
        "hosts: a-very-long-host-name, build-1, gpu-2.example.net "
        "(host: where the project ran last; --json: each night's)"
    ) in lines
    assert "Recovered: web" in lines


def test_one_hosts_grid_is_as_it_was_whether_its_summaries_name_it_or_not() -> None:
    unnamed = [{k: v for k, v in run.items() if k != "host"} for run in SPLIT]
    _, before = grid(unnamed)
    named = [{**run, "host": "build-1"} for run in SPLIT]
    _, after = grid(named)
    assert after == before
    assert "host" not in after
    # Summaries of before hosts were named are this host's: one host with a named one.
    mixed = [unnamed[0], named[1], unnamed[2], named[3]]
    assert grid(mixed)[1] == before


def test_the_terminal_grid_has_the_host_column_too(capsys: pytest.CaptureFixture[str]) -> None:
    history, _ = grid(SPLIT)
    _rich_grid(history, changes(history), "Europe/Berlin")
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.strip().startswith("web"))
    assert "a-very-long~" in row
    assert "hosts: a-very-long-host-name, build-1, gpu-2.example.net" in out
    history, _ = grid([{**run, "host": "build-1"} for run in SPLIT])
    _rich_grid(history, changes(history), "Europe/Berlin")
    assert "host" not in capsys.readouterr().out


def test_hostile_host_names_are_shown_harmless() -> None:
    runs = [dict(SPLIT[0]), {**SPLIT[1], "host": "evil\x1b]0;owned\x07"}]
    _, text = grid(runs)
    assert "\x1b" not in text
    assert "evil\\x1b]0;owned\\x07" in text
