"""report.html in a real browser: headless chromium loads the page each sweep wrote, runs
its scripts, and we read the DOM it built, watch what it tried to do and take screenshots
(tests/output/browser.py).

The pages come from real sweeps (tests/output/reportdata.py): the demo over a week, three
projects over a fortnight, a project named and talking like markup, and 300 projects of 3
tasks over 14 nights. Without chromium the tests are skipped, except in CI (``CI`` set),
where .ci/run installs it and a skip would hide a missing browser.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from bs4 import BeautifulSoup, Tag

from agentd.daemon.model.report import Report
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
    """The history grid's night headers, and each project's row of cells."""
    nights = dom.select("#history table.hist thead th.hn")
    rows = {
        _text(row.th): row.select("td.hc")
        for row in dom.select("#history table.hist tbody tr")
        if row.th is not None
    }
    return nights, rows


def _look(page: Path, out: Path, width: int) -> browser.Loaded:
    """The page at ``width``, its screenshot in ``out``: it fits the width, asked for
    nothing but itself, opened no dialog and threw no error."""
    seen = browser.load(page, width, screenshot=out)
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
    _look(page, tmp_path / "phone.png", PHONE)
    dom = _look(page, tmp_path / "desk.png", DESKTOP).soup()
    verdict = _text(dom.select_one("#verdict"))
    assert report.status.value in _text(dom.select_one("#verdict .st")), verdict
    assert report.run_id in verdict
    assert f"trigger {report.trigger}" in verdict
    failures = [_text(item) for item in dom.select("#needs-you .failure")]
    assert len(failures) == len(report.failures)
    for failure in report.failures:
        assert any(f"{failure.project} / {failure.task}" in f for f in failures), failure
    assert "worker" in _text(dom.select_one("#needs-you .newly-failing"))
    _check_timeline(dom, report)
    assert dom.select("#timeline .tl-agentrow"), "the agent-slot bound is set: it shows"

    nights, rows = _grid(dom)
    assert len(nights) == 14
    assert sorted(rows) == sorted(p.name for p in report.projects)
    assert all(len(cells) == 14 for cells in rows.values())


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
    dom = _look(page, tmp_path / "desk.png", DESKTOP).soup()
    _check_timeline(dom, report)  # 8 lanes for 880-odd bars: no row per project
    nights, rows = _grid(dom)
    assert len(nights) == 14
    assert len(rows) == 300
    failures = dom.select("#needs-you .failure")
    assert len(failures) == len(report.failures) == 30
