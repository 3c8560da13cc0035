"""report.html from a hostile report.json: anyone may edit the file `agentd report --html`
renders a page from. Every field of a real sweep's report is given, in turn, values of the
wrong type, huge numbers, and the NaN and infinities Python's JSON reader accepts: the
page is made (what does not parse is left out), or the command says the file is not a
report of this agentd and exits 2. Never a traceback, never a page that runs out of memory.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentd.config import load_config
from agentd.daemon.output.html import render_document
from agentd.daemon.output.html.page import sweep_history
from agentd.daemon.output.report import read_document
from agentd.state import JsonFileStore
from tests.helpers import Workspace
from tests.output.test_html_report import Page, night  # noqa: F401 - a fixture

Path_ = tuple[str | int, ...]

# What `agentd report --html` turns into "not a report of this agentd" (exit 2).
REFUSED = (KeyError, TypeError, ValueError, AttributeError)
# Numbers a report holds nowhere, as report.json may still carry them (the reader refuses
# NaN and infinities, so a view meets them only when handed a document another way).
NUMBERS: list[Any] = [math.inf, -math.inf, math.nan, 10**400, 1e308, -1e308, -7]
TYPES: list[Any] = ["x<b>", [], {}, None, True, [1, {}], {"a": []}]


def _paths(value: Any, at: Path_ = ()) -> Iterator[Path_]:
    """Every place in a document (of a list, its first two items)."""
    if at:
        yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:2]):
            yield from _paths(item, (*at, i))


def _with(doc: dict[str, Any], at: Path_, value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(doc))
    parent: Any = copy
    for key in at[:-1]:
        parent = parent[key]
    parent[at[-1]] = value
    return copy


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_every_field_hostile_makes_a_page_or_a_refusal(night: Workspace) -> None:  # noqa: F811
    run_dir = sorted((night.state / "runs").glob("*/report.json"))[-1].parent
    doc = json.loads((run_dir / "report.json").read_text())
    config = load_config(night.config, night.env)
    history = sweep_history(JsonFileStore(night.state), config, doc["date"])
    pages = refused = 0
    wrong: list[str] = []
    for at in _paths(doc):
        numeric = _is_number(_value(doc, at))
        for value in NUMBERS + TYPES:
            try:
                text = render_document(_with(doc, at, value), history, config, run_dir)
            except REFUSED as exc:
                refused += 1
                if numeric and _is_number(value):  # a figure out of range: left out, not fatal
                    wrong.append(f"{at} = {value!r}: {exc!r}")
                continue
            except Exception as exc:
                wrong.append(f"{at} = {value!r}: {exc!r}")
                continue
            pages += 1
            assert "<html" in text
    assert not wrong, "\n".join(wrong[:40])
    assert pages > refused > 0  # most fields make a page still; the required ones refuse


def _value(doc: Any, at: Path_) -> Any:
    for key in at:
        doc = doc[key]
    return doc


# A field and the JSON text it is given (Infinity and NaN as Python's writer puts them).
HOSTILE_FILES: dict[str, tuple[str, str]] = {
    "infinite duration": ("duration_s", "Infinity"),
    "nan count": ("counts", '{"projects_ok": NaN}'),
    "projects not a list": ("projects", '"x"'),
    "huge bound": ("mode", '{"project_parallelism": true, "max_parallel_projects": 10000000}'),
    "huge numbers": ("duration_s", "1e308"),
    "a huge integer": ("speedup", "9" * 400),
    "failures of the wrong type": ("failures", '[{"project": [], "task": {}, "status": 1}]'),
    "a list": ("", "[1, 2]"),
}


def _hostile(saved: str, case: str) -> str:
    key, raw = HOSTILE_FILES[case]
    if not key:
        return raw
    doc = json.loads(saved)
    doc[key] = "__HOSTILE__"
    return json.dumps(doc).replace('"__HOSTILE__"', raw)


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_report_html_of_a_hostile_report_json_pages_or_exits_2(
    night: Workspace,  # noqa: F811
    case: str,
) -> None:
    run_dir = sorted((night.state / "runs").glob("*/report.json"))[-1].parent
    text = _hostile((run_dir / "report.json").read_text(), case)
    (run_dir / "report.json").write_text(text)
    (run_dir / "report.html").unlink()
    shown = night.run("report", run_dir.name, "--html")
    assert "Traceback" not in shown.stderr
    if shown.returncode == 0:
        Page((run_dir / "report.html").read_text())
        assert shown.stdout == f"{run_dir / 'report.html'}\n"
    else:
        assert shown.returncode == 2, shown.stderr
        assert "report" in shown.stderr
        assert not (run_dir / "report.html").exists()
    if "Infinity" in text or "NaN" in text:  # refused as it is read: no page from it
        assert shown.returncode == 2
        assert "is not a number JSON has" in shown.stderr
    if case == "huge bound":
        page = Page((run_dir / "report.html").read_text())
        lanes = [e for e in page.find("rect", class_="tl-lane") if e.within("g", class_="tl-lanes")]
        assert 1 <= len(lanes) <= 3  # the night's projects, not ten million slots
        assert "bound 1024" in page.text_of("ul", class_="tl-legend")


def test_read_document_refuses_what_no_report_holds(tmp_path: Path) -> None:
    for text in ("[NaN]", '{"a": -Infinity}', "[" * 100_000 + "]" * 100_000):
        (tmp_path / "report.json").write_text(text)
        with pytest.raises(ValueError, match=r"not a number JSON has|nested too deeply"):
            read_document(tmp_path / "report.json")
    (tmp_path / "report.json").write_text('{"duration_s": 1e308}')
    assert read_document(tmp_path / "report.json") == {"duration_s": 1e308}
