"""The shape checks after a journal line: the entry the line touched is checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentd.state import StateCorrupt
from agentd.state.document import check_touched

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
