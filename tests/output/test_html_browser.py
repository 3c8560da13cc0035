"""report.html in a real browser: headless chromium loads the page each sweep wrote, runs
its scripts, and we read the DOM it built, watch what it tried to do and take screenshots
(tests/output/browser.py).

The pages come from real sweeps (tests/output/reportdata.py): the demo over a week, three
projects over a fortnight, a project named and talking like markup, and 300 projects of 3
tasks over 14 nights. Without chromium the tests are skipped, except in CI (``CI`` set),
where .ci/run installs it and a skip would hide a missing browser.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag

from agentd.daemon.model.report import Report
from agentd.daemon.output.html import render_document
from tests.output import browser, reportdata
from tests.output.reportdata import HOSTILE_NAME, HOSTILE_TEXT, Nights

END = date(2026, 3, 14)
PHONE = 390
DESKTOP = 1280
MAX_PAGE_BYTES = 1_000_000  # the budget for the 300-project page


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    try:
        browser.chromium()
    except browser.BrowserMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc}: .ci/run should have installed it")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Nights:
    return reportdata.demo_week(tmp_path_factory.mktemp("demo"), END)


@pytest.fixture(scope="module")
def fortnight(tmp_path_factory: pytest.TempPathFactory) -> Nights:
    return reportdata.fortnight(tmp_path_factory.mktemp("fortnight"), END)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Nights:
    return reportdata.fleet(tmp_path_factory.mktemp("fleet"), 300, 14, END)


def _page(nights: Nights) -> Path:
    page = nights.last_run / "report.html"
    assert page.is_file(), f"the sweep wrote no {page}"
    return page


def _text(node: Tag | None) -> str:
    assert node is not None
    return " ".join(node.get_text(" ").split())


def _ran(report: Report) -> int:
    """Tasks that started (a bar each on the timeline)."""
    return sum(1 for p in report.projects for t in p.tasks if t.started_at is not None)


def _check_timeline(dom: BeautifulSoup, report: Report) -> None:
    lanes = dom.select("#timeline .tl-lanes rect.tl-lane")
    assert len(lanes) == report.mode.max_parallel_projects, "one lane per slot of the bound"
    bars = dom.select("#timeline rect.tl-bar")
    assert len(bars) == _ran(report), "a bar per task that ran"
    for project in report.projects:
        for task in project.tasks:
            if task.started_at is not None:
                assert any(
                    project.name in _text(bar.title) and task.name in _text(bar.title)
                    for bar in bars
                ), f"no bar titled {project.name} / {task.name}"


def _grid(dom: BeautifulSoup) -> tuple[list[Tag], dict[str, list[Tag]]]:
    """The history grid's night headers, and each project's row of cells (those folded
    away too), by its name (without the "new" or "recovered" beside it)."""
    nights = dom.select("#history table.hist thead th.hn")
    rows = {
        _name(row.th): row.select("td.hc")
        for row in dom.select("#history table.hist tbody tr")
        if row.th is not None
    }
    return nights, rows


def _name(th: Tag) -> str:
    name = _text(th)
    return name.removesuffix(_text(th.small)).strip() if th.small else name


def _failures(dom: BeautifulSoup) -> list[str]:
    """Every failure the page lists, in its order: those in full, then the table's rows."""
    full = [_text(item.select_one("p > b")) for item in dom.select("#needs-you .failure")]
    rows = [
        " / ".join(_text(td) for td in row.select("td")[:2])
        for row in dom.select("#needs-you tr.failure-row")
    ]
    return full + rows


# Where things are once laid out: the history grid's box against its table (does it
# fit), the newest night's header against the pinned names (in sight as the page opens),
# the budget's line boxes, the timeline's place and its legend.
LAYOUT = """(() => {
  const box = e => {
    const r = e.getBoundingClientRect();
    return [r.left, r.right, r.top + scrollY];
  };
  const grid = document.querySelector('#history .hist-scroll');
  const newest = [...document.querySelectorAll('#history th.hn')].pop();
  const name = document.querySelector('#history table.hist thead th');
  const meter = document.querySelector('#verdict .meters span');
  return {
    view: innerWidth,
    grid: grid && [grid.scrollWidth, grid.clientWidth],
    newest: newest && box(newest),
    names: name && box(name),
    meterLines: meter ? meter.getClientRects().length : 0,
    timeline: box(document.querySelector('#timeline'))[2],
    legend: [...document.querySelectorAll('#timeline .tl-legend li')].map(li => li.textContent),
  };
})()"""


def _look(page: Path, out: Path, width: int) -> browser.Loaded:
    """The page at ``width``, its screenshot in ``out``: it fits the width, asked for
    nothing but itself, opened no dialog and threw no error. Its layout (LAYOUT) in
    ``probed``."""
    seen = browser.load(page, width, screenshot=out, probe=LAYOUT)
    assert browser.png_size(out) == (width, seen.height)
    assert seen.width <= width, f"at {width} px the page is {seen.width} px wide"
    assert seen.requests == [page.resolve().as_uri()], seen.requests
    assert not seen.dialogs
    assert not seen.errors
    return seen


# -- the demo ------------------------------------------------------------------------------


def test_the_demo_page_says_the_night_and_reads_on_a_desk_and_a_phone(
    demo: Nights, tmp_path: Path
) -> None:
    report, page = demo.reports[-1], _page(demo)
    _newest_in_sight(_look(page, tmp_path / "phone.png", PHONE).probed)
    desk = _look(page, tmp_path / "desk.png", DESKTOP)
    _grid_fits(desk.probed)
    assert desk.probed["meterLines"] == 1, "the budget's line wraps in its box"
    assert desk.probed["legend"][:2] == ["task ok", "task failed"]
    assert "agent-slot bound" in desk.probed["legend"]
    dom = desk.soup()
    verdict = _text(dom.select_one("#verdict"))
    assert report.status.value in _text(dom.select_one("#verdict .st")), verdict
    assert report.run_id in verdict
    assert f"trigger {report.trigger}" in verdict
    assert _failures(dom) == sorted(f"{f.project} / {f.task}" for f in report.failures)
    assert "worker" in _text(dom.select_one("#needs-you .newly-failing"))
    _check_timeline(dom, report)
    assert dom.select("#timeline .tl-agentrow"), "the agent-slot bound is set: it shows"

    nights, rows = _grid(dom)
    assert len(nights) == 14
    assert sorted(rows) == sorted(p.name for p in report.projects)
    assert all(len(cells) == 14 for cells in rows.values())
    assert next(iter(rows)) == "worker", "the newly failing project's row comes first"


def _grid_fits(layout: dict[str, Any]) -> None:
    scroll_width, width = layout["grid"]
    assert scroll_width <= width, f"the history grid is {scroll_width} px in a {width} px card"


def _newest_in_sight(layout: dict[str, Any]) -> None:
    """The newest night's column is on screen as the page opens, clear of the names."""
    left, right, _ = layout["newest"]
    assert layout["names"][1] <= left + 1, layout
    assert right <= layout["view"], layout


# Whether a line of the first failure's tail is inside its box as the page opens.
TAIL_LINE_SHOWN = """(text) => {
  const pre = document.querySelector('#needs-you pre.tail');
  const node = pre.querySelector('span').firstChild;
  const at = node.data.indexOf(text);
  const range = document.createRange();
  range.setStart(node, at);
  range.setEnd(node, at + text.length);
  const line = range.getBoundingClientRect(), box = pre.getBoundingClientRect();
  return line.top >= box.top && line.bottom <= box.bottom;
}"""


def test_a_long_tail_opens_at_its_end(demo: Nights, tmp_path: Path) -> None:
    """A failure's tail is a box of 16 lines at most that shows its last line first."""
    run_dir = demo.last_run
    doc = json.loads((run_dir / "report.json").read_text())
    first = min(doc["failures"], key=lambda f: (f["project"], f["task"]))
    project = next(p for p in doc["projects"] if p["name"] == first["project"])
    task = next(t for t in project["tasks"] if t["name"] == first["task"])
    task["output_tail"] = "\n".join(f"line {n:02d}" for n in range(1, 31))
    page = run_dir / "long-tail.html"  # beside report.html: its log links resolve
    page.write_text(render_document(doc, None, None, run_dir))
    probe = f"""(() => {{ const shown = {TAIL_LINE_SHOWN};
      const pre = document.querySelector('#needs-you pre.tail');
      return [pre.scrollHeight > pre.clientHeight, shown('line 30'), shown('line 01')]; }})()"""
    assert browser.load(page, DESKTOP, probe=probe).probed == [True, True, False]


# -- nights compared -----------------------------------------------------------------------


def test_a_fortnight_shows_who_slipped_who_mended_and_the_nights_without_a_sweep(
    fortnight: Nights,
) -> None:
    dom = browser.load(_page(fortnight)).soup()
    nights, rows = _grid(dom)
    assert len(nights) == 14
    assert set(rows) == {"steady", "slipping", "mending"}
    swept = [n for n in range(14) if n not in (4, 8)]
    for name, cells in rows.items():
        assert "gap-missed" in cells[4]["class"], cells[4]
        assert "gap-skipped" in cells[8]["class"], cells[8]
        assert "late" in cells[8].get("title", "")
        statuses = [cells[n]["class"] for n in swept]
        if name == "steady":
            assert all("st-ok" in c for c in statuses)
        elif name == "slipping":
            assert all("st-ok" in c for c in statuses[:-1])
            assert "st-failed" in statuses[-1]
        else:
            assert all("st-failed" in c for c in statuses[:-1])
            assert "st-ok" in statuses[-1]
    assert _text(dom.select_one("#needs-you .newly-failing")) == "slipping"
    assert _text(dom.select_one("#needs-you .recovered")) == "mending"


# -- untrusted text ------------------------------------------------------------------------


def test_markup_in_names_output_and_prompts_shows_as_text_and_never_runs(
    tmp_path: Path,
) -> None:
    nights = reportdata.hostile(tmp_path, END)
    page = _page(nights)
    source = BeautifulSoup(page.read_text(), "html.parser")
    seen = browser.load(page)
    assert seen.requests == [page.resolve().as_uri()], "it loaded something (an img src=x?)"
    assert not seen.dialogs, "a script of the text ran (alert)"
    assert not seen.errors
    assert seen.title == _text(source.title), "a script of the text changed the title"
    dom = seen.soup()

    assert not dom.find_all("img"), "an <img> from the project's name or its output"
    assert not dom.find_all(attrs={"onerror": True})
    assert len(dom.find_all("script")) == len(source.find_all("script")) == 1
    assert _text(dom.title) == _text(source.title)
    assert "pwned" not in _text(dom.title)
    assert _text(dom.title).startswith("agentd failed")

    text = _text(dom.body)
    assert f"{HOSTILE_NAME} / noisy" in text
    tail = _text(dom.select_one("#needs-you .failure pre.tail"))
    assert " ".join(HOSTILE_TEXT.split()) in tail
    assert any(HOSTILE_NAME in _text(b.title) for b in dom.select("#timeline rect.tl-bar"))
    assert HOSTILE_NAME in _grid(dom)[1]


# -- 300 projects --------------------------------------------------------------------------


@pytest.mark.timeout(900)
def test_300_projects_over_14_nights_fit_in_lanes_and_a_megabyte(
    fleet: Nights, tmp_path: Path
) -> None:
    report, page = fleet.reports[-1], _page(fleet)
    assert len(report.projects) == 300
    assert page.stat().st_size < MAX_PAGE_BYTES, f"{page.stat().st_size} bytes"
    desk = _look(page, tmp_path / "desk.png", DESKTOP)
    _grid_fits(desk.probed)
    # 30 failures, a few in full and the rest as a table's rows: the timeline within three
    # screens (a block each put it seven screens down).
    assert desk.probed["timeline"] < 3 * 900, desk.probed
    dom = desk.soup()
    _check_timeline(dom, report)  # 8 lanes for 880-odd bars: no row per project
    nights, rows = _grid(dom)
    assert len(nights) == 14
    assert len(rows) == 300
    assert _failures(dom) == sorted(f"{f.project} / {f.task}" for f in report.failures)
    assert len(report.failures) == 30
    # Open: the projects failing last night or changed since the night before. The rest,
    # folded away, are counted in their summaries.
    open_rows = dom.select("#history > div.hist-scroll > table.hist > tbody > tr")
    changes = report.changes
    assert changes is not None
    changed = {*changes.newly_failing, *changes.recovered}
    failing = {p.name for p in report.projects if p.status.value != "ok"}
    assert {_name(row.th) for row in open_rows} == changed | failing
    folds = dom.select("#history details.hist-fold")
    assert folds
    assert not any(fold.has_attr("open") for fold in folds)
    folded = sum(int(_text(fold.summary).split()[0]) for fold in folds)
    assert len(open_rows) + folded == 300
    _newest_in_sight(_look(page, tmp_path / "phone.png", PHONE).probed)
