"""report.html as real sweeps leave it, read back with the standard library's HTML parser.

The page's structure is checked here (the verdict, every failure with its log, sections
collapsed, untrusted text escaped); tests/output/test_html_browser.py looks at it in a real
browser. "Escaped" means: no element, attribute or script came out of the text a task, a
project name or an agent wrote; the parser sees the text as text.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from agentd.config import ConfigError, load_config
from agentd.config.errors import Problem
from agentd.daemon.model.clock import SYSTEM_CLOCK
from agentd.daemon.model.history import History, Night, NightCell, ProjectHistory
from agentd.daemon.output import agentview
from agentd.daemon.output.figures import duration_text
from agentd.daemon.output.html import render_document
from agentd.daemon.output.html.needs import FAILURES_IN_FULL
from agentd.daemon.output.report import ReportWriter, finishing, render_markdown
from agentd.daemon.sweep.engine import SweepRequest, record_failed_start, run_sweep
from agentd.daemon.tasks import runner
from agentd.daemon.tasks.stop import StopToken
from agentd.state import JsonFileStore
from tests.builders import ask, cmd, proj, recording, sh, write_config
from tests.fakeclock import OffsetClock
from tests.helpers import AGENTD, DEADLINE, TEST_BIN, Workspace, wait_for

HOSTILE = "<img src=x onerror=alert(1)>"
MARKUP = '<b>bold</b> </script><script>alert("out")</script> <a href="javascript:x">x</a>'
SECRET = "hunter2-very-secret"
FAKES = TEST_BIN / "fake-agents"


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    parents: list[Element]
    text: list[str] = field(default_factory=list)  # its own and its descendants' text

    def within(self, tag: str, **attrs: str) -> bool:
        return any(_matches(p, tag, attrs) for p in self.parents)

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()


def _matches(element: Element, tag: str, attrs: dict[str, str]) -> bool:
    if element.tag != tag:
        return False
    for key, value in attrs.items():
        if key == "class_":
            if value not in element.classes:
                return False
        elif element.attrs.get(key) != value:
            return False
    return True


class Page(HTMLParser):
    """Every element of a page with its ancestors and text; the parser's view, which is
    what a browser's would be for these questions (what is an element, what is text)."""

    VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "wbr", "source"})

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.open: list[Element] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), list(self.open))
        self.elements.append(element)
        if tag not in self.VOID:
            self.open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, dict(attrs), list(self.open)))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i].tag == tag:
                del self.open[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[Element]:
        return [e for e in self.elements if _matches(e, tag, attrs)]

    def one(self, tag: str, **attrs: str) -> Element:
        [found] = self.find(tag, **attrs)
        return found

    def text_of(self, tag: str, **attrs: str) -> str:
        return " ".join("".join(self.one(tag, **attrs).text).split())


def _page(run_dir: Path) -> tuple[Page, str]:
    text = (run_dir / "report.html").read_text()
    return Page(text), text


def _latest(ws: Workspace) -> tuple[Path, dict[str, Any]]:
    run_dir = sorted((ws.state / "runs").glob("*/report.json"))[-1].parent
    return run_dir, json.loads((run_dir / "report.json").read_text())


def _no_element_from_input(page: Page) -> None:
    """Only the page's own script and no element, handler or javascript: link from text."""
    assert [e.tag for e in page.elements if e.tag in ("img", "iframe")] == []
    assert [e for e in page.find("b") if "".join(e.text) == "bold"] == []
    assert len(page.find("script")) == 1
    for element in page.elements:
        assert not [a for a in element.attrs if a.startswith("on")], element
        assert "javascript:" not in (element.attrs.get("href") or "")


@pytest.fixture
def night(ws: Workspace) -> Workspace:
    """A sweep with a failure full of markup and a secret, a project named like an
    injection, agents that answered, one whose usage is unknown, one kept by the budget."""
    ws.env["PATH"] = f"{FAKES}:{ws.env['PATH']}"
    ws.env["WEB_TOKEN"] = SECRET
    write_config(
        ws,
        {
            "lint": cmd("true"),
            "bad": sh(f"echo '{MARKUP}'; echo token=$WEB_TOKEN; exit 3"),
            "claude": ask("claude", f"review {MARKUP}"),
            "codex": ask("codex", "fix"),
            "claude2": ask("claude", "again"),
        },
        [
            proj("web", "lint", "bad", env={"WEB_TOKEN": SECRET}, path="web"),
            proj(HOSTILE, "lint", "codex", path="evil", env={"FAKE_OUTPUT": "garbage"}),
            proj("spend", "claude", "claude2", path="spend", env={"FAKE_COST": "0.25"}),
        ],
        budget={"nightly_usd": 0.1},
    )
    proc = ws.once()
    assert proc.returncode == 1, proc.stderr
    return ws


def test_the_page_of_a_real_sweep(night: Workspace) -> None:
    run_dir, report = _latest(night)
    page, text = _page(run_dir)
    verdict = page.text_of("header", id="verdict")
    assert report["run_id"] in verdict
    assert "failed" in page.text_of("span", class_="big")
    assert "1 task failed" in verdict
    assert report["date"] in verdict
    assert "nightly limit" in verdict  # spend against the budget
    # Every failure, its log's last lines (secret masked) and a link to a log that exists.
    needs = page.one("section", id="needs-you")
    failures = page.find("div", class_="failure")
    assert len(failures) == len(report["failures"]) >= 1
    by_place = sorted(report["failures"], key=lambda f: (f["project"] or "", f["task"] or ""))
    for failure, item in zip(by_place, failures, strict=True):
        assert failure["message"] in " ".join("".join(item.text).split())
    tails = page.find("pre", class_="tail")
    assert any(MARKUP in "".join(t.text) for t in tails)
    assert SECRET not in text
    links = page.find("a", class_="log")
    assert links
    assert all(a.within("section", id="needs-you") for a in links)
    for link in links:
        assert (run_dir / str(link.attrs["href"])).is_file()
    # Skipped for the budget, usage unknown: named under "Needs you".
    assert "spend / claude2" in " ".join(page.one("ul", class_="skipped").text)
    assert f"{HOSTILE} / codex" in "".join(page.one("ul", class_="usage-unknown").text)
    assert needs.tag == "section"
    # What the agents said: one collapsed <details> per run, cost in its summary.
    agents = page.find("details", class_="agent")
    assert len(agents) == 2  # claude2 never ran
    assert all("open" not in d.attrs for d in agents)
    assert any("$0.25" in "".join(d.text) for d in agents)
    # The whole table, collapsed, with every project and task.
    table = page.one("details", class_="all")
    assert "open" not in table.attrs
    rows = [e for e in page.find("tbody") if e.within("details", class_="all")]
    assert [e.attrs["data-name"] for e in rows] == [p["name"] for p in report["projects"]]
    assert len([e for e in page.find("td") if e.within("details", class_="all")]) == 5 * sum(
        len(p["tasks"]) for p in report["projects"]
    )
    # Untrusted text is text.
    assert HOSTILE in "".join(table.text)
    _no_element_from_input(page)


def test_nights_compared_newly_failing_recovered_and_the_median(ws: Workspace) -> None:
    """Three nights of real sweeps on a moved clock: the page of the third names what
    changed since the second, and sets its wall time against the two before."""
    clock = OffsetClock()

    def night(day: int, failing: str) -> Path:
        write_config(
            ws,
            {"ok": cmd("true"), "fail": cmd("false")},
            [proj(n, "fail" if n == failing else "ok") for n in ("a", "b")],
            schedule={"timezone": "UTC"},
        )
        clock.set(datetime(2026, 3, day, 2, 30, tzinfo=UTC))
        config = load_config(ws.config, ws.env)
        store = JsonFileStore(ws.state)
        ends = [ReportWriter(store, config)]
        report = run_sweep(
            config, store, ws.state, SweepRequest(), StopToken(), ends, ws.env, clock
        )
        return ws.state / "runs" / report.run_id

    night(1, "b")
    night(2, "b")
    page, _ = _page(night(3, "a"))
    assert "".join(page.one("ul", class_="newly-failing").text) == "a"
    assert "".join(page.one("ul", class_="recovered").text) == "b"
    assert "median of the last 2 nights" in page.text_of("header", id="verdict")


def test_a_failed_agent_run_leads_with_its_own_error(night: Workspace) -> None:
    """The agent's error is the failure's headline and its run's; the raw output (a JSON
    dump, for claude) is folded away below it."""
    run_dir, report = _latest(night)
    web = next(p for p in report["projects"] if p["name"] == "web")
    bad = next(t for t in web["tasks"] if t["name"] == "bad")
    bad.update(agent="claude", agent_error="claude: Not logged in · <b>Please</b> run /login")
    page = Page(render_document(report, None, None, run_dir))
    [failure] = [d for d in page.find("div", class_="failure") if "web / bad" in "".join(d.text)]
    [headline] = [
        p for p in page.find("p", class_="agent-error") if any(e is failure for e in p.parents)
    ]
    assert "".join(headline.text) == bad["agent_error"]
    [tail] = page.find("pre", class_="tail")
    assert tail.within("details")
    runs = [d for d in page.find("details", class_="agent") if "web / bad" in "".join(d.text)]
    assert bad["agent_error"] in "".join(runs[0].text)
    _no_element_from_input(page)


def test_report_md_and_the_page_show_the_same_agent_runs_and_spend(night: Workspace) -> None:
    """One rule for which agent runs there were (those that started), one text for what
    each spent, one way of saying a duration, in report.md and on the page alike."""
    run_dir, report = _latest(night)
    web = next(p for p in report["projects"] if p["name"] == "web")
    bad = next(t for t in web["tasks"] if t["name"] == "bad")
    bad.update(agent="claude", started_at=None, usage={"known": False, "reason": "no <b>log</b>"})
    page = Page(render_document(report, None, None, run_dir))
    markdown = render_markdown(report)
    agents = page.find("details", class_="agent")
    assert f"## Agents ({len(agents)})" in markdown
    assert not [d for d in agents if "web / bad" in "".join(d.text)]  # it never started
    rows = [_cells(page, r) for r in page.find("tr") if r.within("details", class_="all")]
    rows = [cells for cells in rows if len(cells) == 5]  # a task's (not its project's)
    assert len(rows) == sum(len(p["tasks"]) for p in report["projects"])
    tasks = [t for p in report["projects"] for t in p["tasks"]]
    for task, (_, _, _, took, note) in zip(tasks, rows, strict=True):
        spent = agentview.usage_note(task)
        assert spent in markdown
        assert spent in note
        if task.get("duration_s") is not None:
            assert took == duration_text(task["duration_s"])


def test_an_interrupted_sweep_has_its_page(ws: Workspace, reap: list) -> None:
    write_config(ws, {"slow": recording("{project}", 60)}, [proj("p", "slow")])
    proc = subprocess.Popen(
        [AGENTD, "run", "--once", "--config", str(ws.config)],
        cwd=ws.root,
        env=ws.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    reap.append(proc)
    wait_for(ws.read_records, what="the task to start")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 128 + signal.SIGTERM, err
    run_dir, report = _latest(ws)
    assert report["status"] == "interrupted"
    page, _ = _page(run_dir)
    assert "interrupted" in page.text_of("span", class_="big")
    [link] = page.find("a", class_="log")
    assert (run_dir / str(link.attrs["href"])).is_file()


def test_a_sweep_that_could_not_start_has_its_page(ws: Workspace) -> None:
    write_config(ws, {"t": cmd("true")}, [proj("p", "t")])
    config = load_config(ws.config, ws.env)
    store = JsonFileStore(ws.state)
    ends = finishing(config.settings.notify, os.environ, SYSTEM_CLOCK, store=store, config=config)
    error = ConfigError(str(ws.config), [Problem("run.max_parallel_projects", "<b>too</b> big")])
    report = record_failed_start(config, store, ws.state, "schedule", error, ends)
    page, _ = _page(ws.state / "runs" / report.run_id)
    assert "failed" in page.text_of("span", class_="big")
    assert "<b>too</b> big" in page.text_of("header", id="verdict")
    assert "<b>too</b> big" in page.text_of("section", id="needs-you")
    _no_element_from_input(page)


def test_a_page_that_cannot_be_written_costs_neither_report(ws: Workspace) -> None:
    """report.html a directory (so it cannot be replaced): the sweep's report.md and
    report.json are written all the same, and say what went wrong."""
    write_config(ws, {"t": cmd("true")}, [proj("p", "t")])
    config = load_config(ws.config, ws.env)
    store = JsonFileStore(ws.state)
    report = run_sweep(config, store, ws.state, SweepRequest(), StopToken(), [], ws.env)
    run_dir = ws.state / "runs" / report.run_id
    (run_dir / "report.html").mkdir()
    ReportWriter(store, config).sweep_finished(report, run_dir)
    saved = json.loads((run_dir / "report.json").read_text())
    assert saved["status"] == "failed"
    assert [f["message"] for f in saved["failures"]] == ["report.html not written: Is a directory"]
    assert "report.html not written" in (run_dir / "report.md").read_text()


def test_the_page_draws_the_nights_the_sweeps_end_built(ws: Workspace) -> None:
    """The sweep's end builds the nights once, with its changes (``Report.history``); the
    page draws those rather than reading the state and building them again."""
    write_config(ws, {"t": cmd("true")}, [proj("p", "t")])
    config = load_config(ws.config, ws.env)
    store = JsonFileStore(ws.state)
    report = run_sweep(config, store, ws.state, SweepRequest(), StopToken(), [], ws.env)
    assert report.history is not None
    assert [p.name for p in report.history.projects] == ["p"]
    built = History(report.history.nights, [ProjectHistory("built-at-the-end", [])])
    report.history = built
    run_dir = ws.state / "runs" / report.run_id
    ReportWriter(store, config).sweep_finished(report, run_dir)
    page, _ = _page(run_dir)
    assert "built-at-the-end" in page.text_of("section", id="history")
    # Without them (the run not recorded), the page reads the nights from the state.
    report.history = None
    ReportWriter(store, config).sweep_finished(report, run_dir)
    page, _ = _page(run_dir)
    assert "built-at-the-end" not in page.text_of("section", id="history")


def test_report_html_makes_the_page_of_an_older_run(night: Workspace) -> None:
    run_dir, report = _latest(night)
    (run_dir / "report.html").unlink()  # a run from before pages were written
    shown = night.run("report", "--html", "--config", str(night.config))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"{run_dir / 'report.html'}\n"
    page, _ = _page(run_dir)
    assert report["run_id"] in page.text_of("header", id="verdict")
    assert len(page.find("div", class_="failure")) == len(report["failures"])
    _no_element_from_input(page)
    # A page already there is only named, never made again.
    before = (run_dir / "report.html").stat().st_mtime_ns
    again = night.run("report", "--html")
    assert again.stdout == shown.stdout
    assert (run_dir / "report.html").stat().st_mtime_ns == before


def test_report_html_open_uses_the_desktop_opener_or_says_there_is_none(
    ws: Workspace, tmp_path: Path
) -> None:
    write_config(ws, {"t": cmd("true")}, [proj("p", "t")])
    assert ws.once().returncode == 0
    run_dir, _ = _latest(ws)
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {**ws.env, "PATH": str(bare)}
    proc = subprocess.run(
        [AGENTD, "report", "--html", "--open"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{run_dir / 'report.html'}\n"
    assert "no desktop opener" in proc.stderr
    opened = tmp_path / "opened"
    opener = bare / "xdg-open"
    opener.write_text(
        f'#!/bin/sh\nprintf %s "$1" > {opened}.tmp && /bin/mv {opened}.tmp {opened}\n'
    )
    opener.chmod(0o755)
    proc = subprocess.run([AGENTD, "report", "--open"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    wait_for(opened.exists, what="the opener to run")
    assert opened.read_text() == str(run_dir / "report.html")


def test_the_alert_names_the_page(ws: Workspace) -> None:
    payload = ws.root / "payload.json"
    write_config(
        ws,
        {"t": cmd("false")},
        [proj("p", "t")],
        notify={"command": ["sh", "-c", f"cat > {payload}"]},
    )
    assert ws.once().returncode == 1
    run_dir, _ = _latest(ws)
    sent = json.loads(payload.read_text())
    assert sent["html"] == str(run_dir.absolute() / "report.html")
    assert Path(sent["html"]).is_file()


def test_the_timeline_has_the_sweeps_bound_and_its_dependency_waits(ws: Workspace) -> None:
    """Real sweeps: one lane when projects run one at a time (whatever the limit the
    configuration would allow them in parallel), one per slot when they run in parallel,
    and the wait of a project for the one it depends on, from the configuration."""
    projects = [proj("a", "t"), proj("b", "t", depends_on=["a"]), proj("c", "t")]
    for parallel, lanes in ((False, 1), (True, 3)):
        run = {"project_parallelism": parallel, "max_parallel_projects": 3}
        write_config(ws, {"t": cmd("true")}, projects, run=run)
        assert ws.once("--force").returncode == 0
        page, _ = _page(_latest(ws)[0])
        slots = [e for e in page.find("rect", class_="tl-lane") if e.within("g", class_="tl-lanes")]
        assert len(slots) == lanes
        assert len(page.find("rect", class_="tl-bar")) == 3
        [wait] = [e for e in page.find("g") if e.within("g", class_="tl-waits")]
        assert "b waited for a" in "".join(wait.text)
    # A report that names a limit it did not run under (projects one at a time) is drawn
    # with one slot: the limit is not the bound (these projects overlapped: a lane over it).
    run_dir, report = _latest(ws)
    report["mode"] = {"project_parallelism": False, "max_parallel_projects": 3}
    page = Page(render_document(report, None, load_config(ws.config, ws.env), run_dir))
    lanes = [e for e in page.find("rect", class_="tl-lane") if e.within("g", class_="tl-lanes")]
    assert len([e for e in lanes if "tl-over" not in e.classes]) == 1


# The 300-project page over 14 nights at its heaviest: every project failing with the
# longest tail a report keeps, and a spend every night. The budget is 1 MB; the
# same projects on a calm night make about 480 KiB.
MAX_PAGE = 750 * 1024


def _fleet(report: dict[str, Any], run_dir: Path) -> tuple[dict[str, Any], History]:
    """``report`` grown to 300 projects of 3 tasks, 8 at a time, each failing its second
    task with the longest tail a report keeps; and 14 nights of them (one missed), each
    with a duration and a spend. Size is what this measures: the content is the most a
    report of that sweep can ask the page to show."""
    web = next(p for p in report["projects"] if p["name"] == "web")
    lint, bad = (next(t for t in web["tasks"] if t["name"] == n) for n in ("lint", "bad"))
    lines = (f"E   assert add(2, 2) == 5  # tests/test_app_{i}.py:{i * 7}" for i in range(99))
    tail = "\n".join(list(lines)[-runner.TAIL_LINES :])[-runner.TAIL_CHARS :]
    start = datetime.fromisoformat(report["started_at"])
    projects, failures = [], []
    for i in range(300):
        name, at = f"project-{i:03d}", start + timedelta(seconds=90 * (i // 8))
        tasks = []
        for k, (model, task) in enumerate(((lint, "lint"), (bad, "test"), (lint, "docs"))):
            begin, end = at + timedelta(seconds=30 * k), at + timedelta(seconds=30 * k + 29)
            tasks.append(
                {
                    **model,
                    "name": task,
                    "started_at": begin.isoformat(timespec="milliseconds"),
                    "finished_at": end.isoformat(timespec="milliseconds"),
                    "duration_s": 29.0,
                    "log": f"{name}/{task}.log",
                    "output_tail": tail if model is bad else "",
                    "argv": ["pytest", "-q"] if model is bad else ["ruff", "check"],
                }
            )
        span = {"started_at": tasks[0]["started_at"], "finished_at": tasks[-1]["finished_at"]}
        projects.append({**web, **span, "name": name, "status": "failed", "tasks": tasks})
        failures.append({"project": name, "task": "test", "status": "failed", "message": "x"})
    days = [f"2026-03-{d:02d}" for d in range(1, 15)]
    nights = [
        Night(d, 0 if n == 10 else 1, "failed", 2000.0 + n, 9.5, None) for n, d in enumerate(days)
    ]
    nights[10] = Night(days[10], 0, None, None, None, "missed")
    cells = [NightCell("failed" if n % 3 else "ok", 90.0 + n, 0.03 * n) for n in range(14)]
    cells[10] = NightCell(None, None, None)
    history = History(nights, [ProjectHistory(p["name"], cells) for p in projects])
    mode = {"project_parallelism": True, "max_parallel_projects": 8}
    big = {**report, "projects": projects, "failures": failures, "status": "failed", "mode": mode}
    return big, history


def test_300_projects_of_3_tasks_all_failing_over_14_nights_stay_under_750_kib(
    night: Workspace,
) -> None:
    run_dir, report = _latest(night)
    big, history = _fleet(report, run_dir)
    config = load_config(night.config, night.env)
    started = time.perf_counter()
    text = render_document(big, history, config, run_dir)
    took = time.perf_counter() - started
    size = len(text.encode())
    print(
        f"\n300 projects x 3 tasks failing, 14 nights: {size / 1024:.0f} KiB, {took * 1000:.0f} ms"
    )
    assert size < MAX_PAGE, f"{size / 1024:.0f} KiB"
    page = Page(text)
    assert len([e for e in page.find("tbody") if e.within("details", class_="all")]) == 300
    # Every failure, by project: the first few in full (their tails whole), the others as
    # a table's rows with their last line of output; each links its log.
    full = page.find("div", class_="failure")
    rows = page.find("tr", class_="failure-row")
    assert len(full) == FAILURES_IN_FULL
    assert len(full) + len(rows) == 300
    places = [_words(d.text).split(": ")[0] for d in full]
    places += [" / ".join(_cells(page, r)[:2]) for r in rows]
    assert places == [f"failed project-{i:03d} / test" for i in range(FAILURES_IN_FULL)] + [
        f"project-{i:03d} / test" for i in range(FAILURES_IN_FULL, 300)
    ]
    tails = ["".join(t.text) for t in page.find("pre", class_="tail")]
    assert len(tails) == FAILURES_IN_FULL
    # Eight share the characters 300 shared: each tail whole, as the sweep kept it.
    assert all(t.endswith("tests/test_app_98.py:686") for t in tails)
    assert all(len(t.splitlines()) == runner.TAIL_LINES and "…" not in t for t in tails)
    assert all("tests/test_app_98.py:686" in _words(r.text) for r in rows)
    assert len(page.find("a", class_="log")) == 300
    assert len(page.find("rect", class_="tl-bar")) == 900
    rows = [e for e in page.find("tr") if e.within("table", class_="hist") and e.within("tbody")]
    assert len(rows) == 300
    assert len(page.find("td", class_="hc")) == 300 * 14
    assert len(page.find("td", class_="gap-missed")) == 300


def _words(text: list[str]) -> str:
    return " ".join("".join(text).split())


def _cells(page: Page, row: Element) -> list[str]:
    return [_words(e.text) for e in page.elements if e.tag == "td" and row in e.parents]


def test_warm_compiles_every_template_the_page_may_include() -> None:
    """The daemon compiles them as it starts: a night's page then costs only its rendering,
    and an upgrade under a running daemon cannot pair a new partial with the old code."""
    from agentd.daemon.output.html import page

    env = page.environment()
    assert env.cache is not None
    env.cache.clear()
    page.warm()
    compiled = {key[1] for key in env.cache}  # (loader ref, name)
    assert compiled == {path.name for path in page.TEMPLATES.glob("*.j2")}
    assert "_timeline.svg.j2" in compiled
