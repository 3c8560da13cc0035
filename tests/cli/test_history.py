"""`agentd history` and the report's changes over 14 nights of real sweeps.

The sweeps run in the test process, each on a clock set to 03:30 of its night in Berlin
(their tasks are real processes, their state the real file store, their reports written by
the real writer); one night has no sweep at all, another's fire was turned away by the
daemon's own bookkeeping (FireBook, delivered late). The nights end on a fixed date, and
`agentd history`, run as a real process, is asked for the nights up to it (``--until``):
no midnight passing during the run can move the grid.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
import re
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agentd.config import load_config
from agentd.daemon.model.report import Report
from agentd.daemon.output.report import ReportWriter
from agentd.daemon.service.fires import FireBook
from agentd.daemon.sweep.engine import SweepRequest, run_sweep
from agentd.daemon.tasks.stop import StopToken
from agentd.state import JsonFileStore
from tests.builders import cmd, proj, write_config
from tests.fakeclock import OffsetClock
from tests.helpers import AGENTD, DEADLINE, Workspace, read_pty, workspace_env

BERLIN = ZoneInfo("Europe/Berlin")
SCHEDULE = {"cron": "30 3 * * *", "timezone": "Europe/Berlin"}
NIGHTS = 14
NO_SWEEP = 7  # nights counted from the oldest, 0..13
FIRE_SKIPPED = 9
TWO_SWEEPS = 11
FLAKY_FAILS = {2, 3, 4}  # then it recovers on night 5
BREAKS_ON = 13  # the last night
LAST_NIGHT = dt.date(2026, 2, 20)  # in the past, and no clock change among the nights
UNTIL = ("--until", LAST_NIGHT.isoformat())

# The workspace, the nights' dates (oldest first) and each night's reports.
Nights = tuple[Workspace, list[str], dict[int, list[Report]]]


def _configure(ws: Workspace, night: int) -> None:
    write_config(
        ws,
        {"ok": cmd("true"), "fail": cmd("false")},
        [
            proj("steady", "ok"),
            proj("flaky", "fail" if night in FLAKY_FAILS else "ok"),
            proj("breaks", "fail" if night == BREAKS_ON else "ok"),
        ],
        schedule=SCHEDULE,
    )


def _at(date: str) -> datetime:
    return datetime.combine(dt.date.fromisoformat(date), dt.time(3, 30), tzinfo=BERLIN)


def _sweep(ws: Workspace, clock: OffsetClock, trigger: str = "schedule") -> Report:
    config = load_config(ws.config, {})
    store = JsonFileStore(ws.state)
    return run_sweep(
        config, store, ws.state, SweepRequest(trigger), StopToken(), [ReportWriter()], ws.env, clock
    )


@pytest.fixture(scope="module")
def nights(
    tmp_path_factory: pytest.TempPathFactory,
) -> Nights:
    root = tmp_path_factory.mktemp("nights")
    ws = Workspace(root, workspace_env(root))
    dates = [(LAST_NIGHT - dt.timedelta(days=n)).isoformat() for n in range(NIGHTS - 1, -1, -1)]
    clock = OffsetClock()
    reports: dict[int, list[Report]] = {}
    for night, date in enumerate(dates):
        if night == NO_SWEEP:
            continue
        if night == FIRE_SKIPPED:
            # The daemon got the fire two hours late (the machine slept) and dropped it.
            clock.set(_at(date) + dt.timedelta(hours=2))
            FireBook(JsonFileStore(ws.state), clock, StopToken()).missed(_at(date), 600)
            continue
        _configure(ws, night)
        clock.set(_at(date))
        reports[night] = [_sweep(ws, clock)]
        if night == TWO_SWEEPS:
            # A manual sweep later that night finds everything done: it runs nothing.
            clock.set(_at(date) + dt.timedelta(hours=5))
            reports[night].append(_sweep(ws, clock, "manual"))
    return ws, dates, reports


def _history(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return ws.run("history", "--config", str(ws.config), *UNTIL, *args)


def _changes(report: Report) -> tuple[list[str], list[str]]:
    assert report.changes is not None
    return report.changes.newly_failing, report.changes.recovered


def test_each_report_names_what_changed_since_the_previous_night(
    nights: Nights,
) -> None:
    _, _, reports = nights
    expected = {2: (["flaky"], []), 5: ([], ["flaky"]), BREAKS_ON: (["breaks"], [])}
    for night, night_reports in reports.items():
        for report in night_reports:
            assert _changes(report) == expected.get(night, ([], [])), night
    last = reports[BREAKS_ON][0]
    doc = json.loads((Path(last.run_dir or "") / "report.json").read_text())
    assert doc["changes"] == {"newly_failing": ["breaks"], "recovered": []}
    head = (Path(last.run_dir or "") / "report.md").read_text().splitlines()[:4]
    assert "- Newly failing: **breaks**" in head
    recovered = Path(reports[5][0].run_dir or "") / "report.md"
    assert "- Recovered: **flaky**" in recovered.read_text().splitlines()[:4]
    assert "Newly failing" not in (Path(reports[6][0].run_dir or "") / "report.md").read_text()


def test_history_json_is_aligned_with_the_nights_and_tells_the_gaps(
    nights: Nights,
) -> None:
    ws, dates, _ = nights
    shown = _history(ws, "--json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["nights"] == dates
    rows = {p["name"]: dict(zip(doc["nights"], p["nights"], strict=True)) for p in doc["projects"]}
    assert list(rows) == ["steady", "flaky", "breaks"]
    sweeps = dict(zip(doc["nights"], doc["sweeps"], strict=True))
    for night, date in enumerate(dates):
        ran = night not in (NO_SWEEP, FIRE_SKIPPED)
        assert rows["steady"][date] == ("ok" if ran else None), date
        flaky = "failed" if night in FLAKY_FAILS else "ok"
        assert rows["flaky"][date] == (flaky if ran else None), date
        assert rows["breaks"][date] == ("failed" if night == BREAKS_ON else "ok" if ran else None)
        assert sweeps[date]["count"] == (2 if night == TWO_SWEEPS else 1 if ran else 0), date
    assert sweeps[dates[NO_SWEEP]]["gap"] == "missed"
    skipped = sweeps[dates[FIRE_SKIPPED]]["gap"]
    assert skipped.startswith("skipped: delivered 7200s late"), skipped
    # The manual no-op does not hide the night's sweep, nor count as one that ran.
    assert sweeps[dates[TWO_SWEEPS]]["status"] == "ok"
    assert sweeps[dates[3]]["status"] == "failed"
    assert all(isinstance(w, float) and w > 0 for w in rows_of(doc, "duration_s", "steady", dates))
    assert doc["changes"] == {"newly_failing": ["breaks"], "recovered": []}
    assert doc["timezone"] == "Europe/Berlin"


def rows_of(doc: dict[str, Any], key: str, name: str, dates: list[str]) -> list[Any]:
    """A project's ``key`` values on the nights a sweep ran it."""
    project = next(p for p in doc["projects"] if p["name"] == name)
    values = dict(zip(doc["nights"], project[key], strict=True))
    ran = [d for i, d in enumerate(dates) if i not in (NO_SWEEP, FIRE_SKIPPED)]
    return [values[d] for d in ran]


def test_history_of_one_project_and_of_fewer_nights(
    nights: Nights,
) -> None:
    ws, _, _ = nights
    shown = _history(ws, "--json", "--project", "flaky", "--nights", "5")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert [p["name"] for p in doc["projects"]] == ["flaky"]
    assert len(doc["nights"]) == 5
    missing = _history(ws, "--project", "nosuch")
    assert missing.returncode == 2
    assert "no project 'nosuch'" in missing.stderr
    assert "Traceback" not in missing.stderr
    zero = _history(ws, "--nights", "0")
    assert zero.returncode == 2
    assert "--nights must be between 1 and" in zero.stderr


def test_history_off_a_terminal_is_an_aligned_grid_with_words_for_the_gaps(
    nights: Nights,
) -> None:
    ws, dates, _ = nights
    shown = _history(ws)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "\x1b" not in text  # no colour into a pipe
    lines = text.splitlines()
    head = next(line for line in lines if line.startswith("project "))
    days = [(m.start(), m.group()) for m in re.finditer(r"\d\d", head)]
    assert [day for _, day in days] == [d[8:] for d in dates]
    rows = {line.split()[0]: line for line in lines[lines.index(head) + 1 :] if line.strip()}
    assert list(rows)[:4] == ["steady", "flaky", "breaks", "(sweeps)"]
    # Each mark sits under its night's day: a grid a mail reader can read, no colour needed.
    for name in ("steady", "flaky", "breaks", "(sweeps)"):
        spots = [m.start() for m in re.finditer(r"\S", rows[name][len(name) :])]
        assert len(spots) == len(days), name
        for mark, (day, _) in zip(spots, days, strict=True):
            assert day <= mark + len(name) <= day + 1, name
    marks = {
        name: dict(zip([day for _, day in days], rows[name][len(name) :].split(), strict=True))
        for name in rows
        if name in ("steady", "flaky", "breaks", "(sweeps)")
    }
    assert marks["(sweeps)"][dates[NO_SWEEP][8:]] == "M"
    assert marks["steady"][dates[FIRE_SKIPPED][8:]] == "S"
    assert marks["flaky"][dates[3][8:]] == "✗"
    assert (marks["breaks"][dates[-1][8:]], marks["steady"][dates[-1][8:]]) == ("✗", "✓")
    assert "Newly failing: breaks" in lines
    assert f"{dates[NO_SWEEP]}: missed" in lines
    assert any(line.startswith(f"{dates[FIRE_SKIPPED]}: skipped: delivered") for line in lines)
    assert any(line.startswith("legend: ✓ ok") for line in lines)


def _on_terminal(ws: Workspace, *args: str) -> str:
    """What `agentd history` draws on a terminal (a pty), until it exits."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [AGENTD, "history", "--config", str(ws.config), *UNTIL, *args],
        env={**ws.env, "COLUMNS": "140", "TERM": "xterm-256color"},
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    try:
        out = read_pty(master, proc)
    finally:
        os.close(master)
    assert proc.wait(timeout=DEADLINE) == 0, proc.stderr.read() if proc.stderr else ""
    return out.decode(errors="replace")


def test_history_on_a_terminal_is_a_coloured_grid_with_a_legend(
    nights: Nights,
) -> None:
    ws, dates, _ = nights
    screen = _on_terminal(ws)
    assert "\x1b[" in screen  # drawn in colour
    plain = _strip_ansi(screen)
    assert "agentd history: 14 night(s)" in plain
    assert "Europe/Berlin" in plain
    month = datetime.fromisoformat(dates[0]).strftime("%b")
    for name in ("steady", "flaky", "breaks", "(sweeps)", month, "legend:", "gaps:", "missed"):
        assert name in plain, name
    assert f"{dates[NO_SWEEP]}: missed" in plain
    assert "✗" in plain
    assert "✓" in plain


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r\n", "\n")


def test_with_a_broken_configuration_the_nights_come_from_the_state(
    nights: Nights,
) -> None:
    ws, dates, _ = nights
    broken = ws.root / "broken.toml"
    # [schedule] still reads on its own: the gaps are still told apart.
    broken.write_text(ws.config.read_text() + "\n[run]\nno_such_setting = 1\n")
    shown = ws.run("history", "--json", "--config", str(broken), *UNTIL)
    assert shown.returncode == 0, shown.stderr
    assert "warning:" in shown.stderr
    doc = json.loads(shown.stdout)
    # Without the configuration's order, the names' own.
    assert [p["name"] for p in doc["projects"]] == ["breaks", "flaky", "steady"]
    sweeps = dict(zip(doc["nights"], doc["sweeps"], strict=True))
    assert sweeps[dates[NO_SWEEP]]["gap"] == "missed"
    # Nothing readable of the file: the state's nights still show, their gaps unknown.
    broken.write_text("[schedule\n")
    shown = ws.run("history", "--json", "--config", str(broken), *UNTIL)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert [p["name"] for p in doc["projects"]] == ["breaks", "flaky", "steady"]
    assert doc["timezone"] is None
    gaps = {s["gap"] for s in doc["sweeps"] if s["count"] == 0}
    assert "missed" not in gaps


def _old_run(date: str) -> dict[str, Any]:
    """A run summary as agentd wrote it before the history of nights."""
    return {
        "run_id": f"{date.replace('-', '')}T023000Z-abcd",
        "trigger": "schedule",
        "date": date,
        "started_at": f"{date}T02:30:00.000+00:00",
        "finished_at": f"{date}T02:30:02.500+00:00",
        "status": "failed",
        "counts": {"projects_ok": 0, "projects_failed": 1, "tasks_failed": 1},
        "mode": {"project_parallelism": True, "max_parallel_projects": 4},
    }


def _old_state(ws: Workspace, runs: list[dict[str, Any]]) -> None:
    ws.state.mkdir(mode=0o700)
    doc = {"version": 2, "projects": {}, "claims": {}, "runs": runs, "fires": {}}
    (ws.state / "state.json").write_text(json.dumps(doc))


def test_a_state_from_before_the_history_loads_and_a_malformed_one_is_refused(
    ws: Workspace,
) -> None:
    write_config(ws, {"ok": cmd("true")}, [proj("p", "ok")], schedule={"timezone": "UTC"})
    date = (datetime.now(dt.UTC).date() - dt.timedelta(days=30)).isoformat()
    old_run = _old_run(date)
    _old_state(ws, [old_run])
    shown = ws.run("history", "--json", "--nights", "400000", "--config", str(ws.config))
    assert shown.returncode == 2  # more nights than asked for is a usage error, not a hang
    shown = ws.run("history", "--json", "--nights", "366", "--config", str(ws.config))
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    old = dict(zip(doc["nights"], doc["sweeps"], strict=True))[date]
    assert (old["count"], old["status"], old["wall_s"]) == (1, "failed", 2.5)
    assert doc["projects"] == [
        {"name": "p", "nights": [None] * 366, "duration_s": [None] * 366, "spend_usd": [None] * 366}
    ]
    # A sweep over it keeps the old summary and adds its own, with the new keys.
    assert ws.once().returncode == 0
    runs = JsonFileStore(ws.state).read().runs()
    assert runs[0] == old_run
    assert runs[-1]["projects"]["p"]["status"] == "ok"
    assert runs[-1]["projects"]["p"]["duration_s"] > 0

    bad_keys: tuple[dict[str, Any], ...] = (
        {"projects": "p"},
        {"projects": {"p": {"status": 1}}},
        {"duration_s": "long"},
    )
    for n, bad in enumerate(bad_keys):
        other = Workspace(ws.root / f"bad{n}", ws.env)
        other.root.mkdir()
        _old_state(other, [{**old_run, **bad}])
        shown = other.run("history", "--state-dir", str(other.state), "--config", str(ws.config))
        assert shown.returncode == 2, bad
        assert "an entry of 'runs' has the wrong shape" in shown.stderr
        assert "Traceback" not in shown.stderr


def test_before_a_nights_sweep_the_changes_are_the_last_swept_nights(
    nights: Nights,
) -> None:
    """The morning after (no sweep yet that day): what changed on the last night that had
    one, not nothing until tonight's fire."""
    ws, dates, _ = nights
    after = (LAST_NIGHT + dt.timedelta(days=1)).isoformat()
    shown = ws.run("history", "--json", "--config", str(ws.config), "--until", after)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["nights"][-2:] == [dates[-1], after]
    assert doc["sweeps"][-1]["count"] == 0
    assert doc["changes"] == {"newly_failing": ["breaks"], "recovered": []}
    plain = ws.run("history", "--config", str(ws.config), "--until", after)
    assert "Newly failing: breaks" in plain.stdout.splitlines()


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _hostile_state(ws: Workspace, runs: list[dict[str, Any]], skipped: list[Any]) -> None:
    ws.state.mkdir(mode=0o700)
    doc = {"version": 2, "projects": {}, "claims": {}, "runs": runs, "fires": {"skipped": skipped}}
    (ws.state / "state.json").write_text(json.dumps(doc))  # NaN, Infinity as Python writes them


def test_hostile_state_is_refused_or_passed_over_never_a_traceback(ws: Workspace) -> None:
    write_config(ws, {"ok": cmd("true")}, [proj("p", "ok")], schedule=SCHEDULE)
    good = {**_old_run("2026-02-10"), "projects": {"p": {"status": "ok", "duration_s": 2.0}}}
    skipped = [
        {"fire": "0001-01-01T00:30:00+14:00", "at": "x", "reason": "before the calendar in UTC"},
        {"fire": "not a stamp", "at": "x", "reason": "no"},
        "a fire",
        {"fire": "2026-02-12T03:30:00+01:00", "at": "x", "reason": "a sweep was running"},
    ]
    undated = {**good, "run_id": "20260211T023000Z-abcd", "date": "Tuesday"}
    _hostile_state(ws, [good, undated], skipped)
    until = ("--until", "2026-02-12")
    shown = ws.run("history", "--json", "--nights", "3", "--config", str(ws.config), *until)
    assert shown.returncode == 0, shown.stderr
    doc = _strict_json(shown.stdout)
    # The entries the daemon could not have written are passed over, the rest still counts.
    assert [s["count"] for s in doc["sweeps"]] == [1, 0, 0]
    assert [s["gap"] for s in doc["sweeps"]] == [None, "missed", "skipped: a sweep was running"]
    status = ws.run("status", "--json", "--config", str(ws.config))
    assert status.returncode == 0, status.stderr
    assert [f["fire"] for f in json.loads(status.stdout)["skipped_fires"]] == [skipped[-1]["fire"]]

    for n, bad in enumerate(
        (
            {"duration_s": float("nan")},
            {"spend_usd": float("inf")},
            {"projects": {"p": {"status": "ok", "duration_s": float("-inf")}}},
        )
    ):
        other = Workspace(ws.root / f"bad{n}", ws.env)
        other.root.mkdir()
        _hostile_state(other, [{**good, **bad}], [])
        shown = other.run("history", "--json", "--state-dir", str(other.state), *until)
        assert shown.returncode == 2, bad
        assert "an entry of 'runs' has the wrong shape" in shown.stderr, bad
        assert "Traceback" not in shown.stderr

    for until_date in ("Tuesday", "2026-2-1", "0001-01-03"):
        shown = ws.run("history", "--config", str(ws.config), "--until", until_date)
        assert shown.returncode == 2, until_date
        assert shown.stderr.startswith("agentd: --until"), shown.stderr
        assert "Traceback" not in shown.stderr


def test_report_html_over_hostile_state_makes_its_page(ws: Workspace) -> None:
    """The page of a night whose state holds a fire stamp no night can be told from, and
    of a report.json whose date is none: made, with a message, never a traceback."""
    write_config(ws, {"ok": cmd("true")}, [proj("p", "ok")], schedule=SCHEDULE)
    code, report = ws.once_json()
    assert code == 0, report["failures"]
    doc = ws.state_doc()
    doc["fires"]["skipped"] = [{"fire": "0001-01-01T00:30:00+14:00", "at": "x", "reason": "?"}]
    (ws.state / "state.json").write_text(json.dumps(doc))
    run_dir = Path(report["run_dir"])
    (run_dir / "report.html").unlink()
    shown = ws.run("report", "--html", "--config", str(ws.config))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"{run_dir / 'report.html'}\n"
    assert "no history" not in shown.stderr  # its nights, the bad entry passed over

    saved = json.loads((run_dir / "report.json").read_text())
    (run_dir / "report.json").write_text(json.dumps({**saved, "date": "the 3rd"}))
    (run_dir / "report.html").unlink()
    shown = ws.run("report", "--html", "--config", str(ws.config))
    assert "Traceback" not in shown.stderr
    assert "the page shows no history: 'the 3rd' is not a date" in shown.stderr
    assert shown.returncode == 0, shown.stderr  # the page without its nights
    assert (run_dir / "report.html").is_file()
