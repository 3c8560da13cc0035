"""The shape checks after a journal line: the entry the line touched is checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentd.state import StateCorrupt
from agentd.state.document import check_touched, parse_document

PATH = Path("state.json")
GOOD = {"status": "ok", "date": "2026-11-22"}


def _doc(project: Any) -> dict[str, Any]:
    return {"version": 2, "projects": {"a": project}, "claims": {}, "runs": [], "fires": {}}


@pytest.mark.parametrize(
    ("project", "ok"),
    [
        ({"tasks": {"t": GOOD}}, True),
        ({"tasks": {"t": {"status": 5, "date": "2026-11-22"}}}, False),  # the record itself
        ({"tasks": {"t": "ok"}}, False),  # not a table
        ({"tasks": ["t"]}, False),  # the project's tasks not a table
        ("a", False),  # the project entry not a table
    ],
)
def test_a_task_record_line_checks_that_record_and_its_project(project: Any, ok: bool) -> None:
    doc = _doc(project)
    ops = [["set", ["projects", "a", "tasks", "t"], GOOD]]
    if ok:
        check_touched(doc, ops, PATH)
    else:
        with pytest.raises(StateCorrupt, match="project 'a' has the wrong shape"):
            check_touched(doc, ops, PATH)


def _state(**sections: Any) -> bytes:
    doc = {"version": 2, "projects": {}, "claims": {}, "runs": [], "fires": {}, **sections}
    return json.dumps(doc).encode()  # NaN and Infinity as Python writes them


RUN = {"run_id": "r1", "status": "ok", "date": "2026-03-01", "projects": {}}


@pytest.mark.parametrize(
    "run",
    [
        {**RUN, "duration_s": float("nan")},
        {**RUN, "spend_usd": float("inf")},
        {**RUN, "projects": {"p": {"status": "ok", "duration_s": float("-inf")}}},
        {**RUN, "projects": {"p": {"status": "ok", "spend_usd": float("nan")}}},
    ],
)
def test_figures_that_are_no_numbers_are_refused(run: dict[str, Any]) -> None:
    with pytest.raises(StateCorrupt, match="an entry of 'runs' has the wrong shape"):
        parse_document(_state(runs=[run]), PATH)
    parse_document(_state(runs=[{**RUN, "duration_s": 1.5, "spend_usd": 0}]), PATH)


def test_skipped_fires_the_daemon_could_not_have_written_are_passed_over() -> None:
    good = {
        "fire": "2026-03-01T02:30:00+01:00",
        "at": "2026-03-01T04:30:00+01:00",
        "reason": "late",
    }
    skipped = [
        {"fire": "0001-01-01T00:30:00+14:00", "at": "x", "reason": "before the calendar in UTC"},
        {"fire": "2026-03-01T02:30:00", "at": "x", "reason": "no offset"},
        {"fire": "2026-03-01T02:30:00+01:00", "at": "x", "reason": 3},
        {"reason": "no stamp"},
        "a fire",
        good,
    ]
    doc = parse_document(_state(fires={"skipped": skipped}), PATH)
    assert doc["fires"]["skipped"] == [good]
    # The list itself, and the stamp that decides what is caught up, are still checked.
    with pytest.raises(StateCorrupt, match="'fires' has the wrong shape"):
        parse_document(_state(fires={"skipped": {"fire": good}}), PATH)
    year_one = "0001-01-01T00:30:00+14:00"
    with pytest.raises(StateCorrupt, match="'fires' has the wrong shape"):
        parse_document(_state(fires={"last_handled": year_one}), PATH)
