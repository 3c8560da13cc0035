"""The node_exporter textfile ([metrics] textfile): written by real `agentd run --once`
processes and a real daemon, read back with prometheus_client's own parser and compared
with the reports."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentd.daemon.output.metrics import render
from agentd.state import JsonFileStore, Snapshot
from agentd.state.claims import this_host
from tests.builders import ask, cmd, one_project, proj, recording, sh, write_config
from tests.helpers import DEADLINE, ROOT, TEST_BIN, Workspace, wait_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _read(path: Path) -> Samples:
    return _read_text(path.read_text())


def _read_text(text: str) -> Samples:
    """Every sample as prometheus_client's parser reads it: (name, labels) -> value."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _get(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def _stamp(text: str) -> float:
    """A stored time as the file has it: Unix time to the millisecond."""
    return round(datetime.fromisoformat(text).timestamp(), 3)


def _reports(ws: Workspace) -> list[dict[str, Any]]:
    paths = sorted((ws.state / "runs").glob("*/report.json"))
    return [json.loads(p.read_text()) for p in paths]


def _project(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in report["projects"] if p["name"] == name)
    return found


def test_a_sweep_writes_metrics_that_match_its_report(ws: Workspace) -> None:
    ws.env["PATH"] = f"{TEST_BIN / 'fake-agents'}:{ws.env['PATH']}"
    spent = {"FAKE_COST": "0.25", "FAKE_INPUT_TOKENS": "1000", "FAKE_OUTPUT_TOKENS": "200"}
    write_config(
        ws,
        {"fix": ask("claude", "fix {project}"), "lint": cmd("true"), "bad": cmd("false")},
        [proj("api", "lint", "fix", env=spent), proj("web", "bad")],
        metrics={"textfile": "agentd.prom"},  # relative: to the configuration's directory
    )
    proc = ws.once()
    assert proc.returncode == 1, proc.stderr
    (report,) = _reports(ws)
    m = _read(ws.root / "agentd.prom")

    assert _get(m, "agentd_last_sweep_start_timestamp_seconds") == _stamp(report["started_at"])
    assert _get(m, "agentd_last_sweep_end_timestamp_seconds") == _stamp(report["finished_at"])
    assert _get(m, "agentd_last_sweep_duration_seconds") == report["duration_s"]
    for status in ("ok", "failed", "interrupted"):
        expected = float(status == report["status"] == "failed")
        assert _get(m, "agentd_last_sweep_status", status=status) == expected, status
    for outcome in ("ok", "failed", "interrupted", "skipped"):
        for kind in ("tasks", "projects"):
            value = _get(m, f"agentd_last_sweep_{kind}", status=outcome)
            assert value == report["counts"][f"{kind}_{outcome}"], (kind, outcome)
    assert _get(m, "agentd_last_sweep_tasks", status="ok") == 2  # the numbers mean something

    api, web = _project(report, "api"), _project(report, "web")
    assert _get(m, "agentd_project_last_success_timestamp_seconds", project="api") == _stamp(
        api["finished_at"]
    )
    # Never succeeded: 0, so that an age rule fires for it (absent, no rule would).
    assert _get(m, "agentd_project_last_success_timestamp_seconds", project="web") == 0
    took = _get(m, "agentd_project_last_duration_seconds", project="web")
    assert took == round(_stamp(web["finished_at"]) - _stamp(web["started_at"]), 3)

    today = report["spend"]["today"]["total"]
    assert today["usd"] == 0.25
    assert today["tokens"] == 1200
    assert _get(m, "agentd_spend_today_usd") == pytest.approx(today["usd"])
    assert _get(m, "agentd_spend_today_tokens") == today["tokens"]
    assert _get(m, "agentd_spend_week_usd") == pytest.approx(
        report["spend"]["week"]["total"]["usd"]
    )
    assert _get(m, "agentd_spend_week_tokens") == report["spend"]["week"]["total"]["tokens"]

    # No daemon has ever run on this state directory (cron only): no daemon series, so
    # that `agentd_daemon_up == 0` does not fire.
    assert not [key for key in m if key[0].startswith("agentd_daemon_")]


def test_a_project_keeps_its_last_success_through_failed_sweeps(ws: Workspace) -> None:
    one_project(ws, sh("test ! -e FAIL"), metrics={"textfile": str(ws.root / "agentd.prom")})
    assert ws.once().returncode == 0
    (ws.root / "p" / "FAIL").touch()
    assert ws.once("--force").returncode == 1
    good, bad = _reports(ws)
    m = _read(ws.root / "agentd.prom")
    assert _get(m, "agentd_last_sweep_status", status="failed") == 1
    assert _get(m, "agentd_last_sweep_end_timestamp_seconds") == _stamp(bad["finished_at"])
    success = _get(m, "agentd_project_last_success_timestamp_seconds", project="p")
    assert success == _stamp(_project(good, "p")["finished_at"])
    failed_run = _project(bad, "p")
    took = _get(m, "agentd_project_last_duration_seconds", project="p")
    assert took == round(_stamp(failed_run["finished_at"]) - _stamp(failed_run["started_at"]), 3)


def test_a_sweep_that_ran_nothing_leaves_the_last_sweep_that_ran_in_the_file(
    ws: Workspace,
) -> None:
    """A manual sweep after a failed night finds api done today and runs nothing: the
    file still says the night failed (as `agentd status` does), until a sweep that runs
    something says otherwise."""
    write_config(
        ws,
        {"good": cmd("true"), "fixed": sh("test -e FIXED")},
        [proj("api", "good"), proj("web", "fixed")],
        metrics={"textfile": "agentd.prom"},
    )
    assert ws.once().returncode == 1
    assert ws.once("--project", "api").returncode == 0
    night, noop = _reports(ws)
    assert noop["counts"]["tasks_ok"] == noop["counts"]["tasks_failed"] == 0
    m = _read(ws.root / "agentd.prom")
    assert _get(m, "agentd_last_sweep_status", status="ok") == 0
    assert _get(m, "agentd_last_sweep_status", status="failed") == 1
    assert _get(m, "agentd_last_sweep_end_timestamp_seconds") == _stamp(night["finished_at"])
    assert _get(m, "agentd_last_sweep_tasks", status="failed") == 1
    assert _get(m, "agentd_last_sweep_tasks", status="ok") == 1
    status = json.loads(ws.run("status", "--json", "--config", str(ws.config)).stdout)
    assert status["last_sweep_that_ran"]["run_id"] == night["run_id"]

    (ws.root / "web" / "FIXED").touch()
    assert ws.once("--project", "web").returncode == 0
    fixed = _reports(ws)[-1]
    m = _read(ws.root / "agentd.prom")
    assert _get(m, "agentd_last_sweep_status", status="ok") == 1
    assert _get(m, "agentd_last_sweep_end_timestamp_seconds") == _stamp(fixed["finished_at"])
    assert ws.once().returncode == 0  # everything done: the fixing sweep stays the last
    m = _read(ws.root / "agentd.prom")
    assert _get(m, "agentd_last_sweep_end_timestamp_seconds") == _stamp(fixed["finished_at"])
    assert _get(m, "agentd_last_sweep_tasks", status="ok") == 1


SELECTOR = r"(\w+)(?:\{(\w+)=\"(\w+)\"\})?"
EXPRS = {  # the forms the README's rules take; another form must be taught here first
    rf"^{SELECTOR} == 0$": lambda value, now, _: value == 0,
    rf"^time\(\) - {SELECTOR} > (\d+) \* (\d+)$": lambda value, now, n: now - value > n,
}


def _readme_rules() -> dict[str, str]:
    """The alert rules of README.md's "Being watched", as written there."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Being watched", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    return dict(re.findall(r"- alert: (\w+)\n\s+expr: (.+)", block))


def _firing(rules: dict[str, str], m: Samples, now: float) -> dict[str, list[str]]:
    """Each rule's firing series (their project label, "" for none), as Prometheus would
    evaluate these simple expressions on the file's samples at ``now``."""
    out: dict[str, list[str]] = {}
    for alert, expr in rules.items():
        form = next((f for f in EXPRS if re.match(f, expr)), None)
        assert form is not None, f"{alert}: no evaluator for {expr!r}"
        name, label, wanted, *factors = re.match(form, expr).groups()  # type: ignore[union-attr]
        bound = int(factors[0]) * int(factors[1]) if factors else 0
        out[alert] = [
            dict(labels).get("project", "")
            for (series, labels), value in m.items()
            if series == name
            and (label is None or dict(labels).get(label) == wanted)
            and EXPRS[form](value, now, bound)
        ]
    return out


def test_the_readme_alert_rules_fire_for_a_project_failing_since_its_first_night(
    ws: Workspace,
) -> None:
    """api has failed since its first night, web depends on it and has never run, old is
    disabled, and a manual sweep of lib (done today) ran nothing since; no daemon (cron)."""
    write_config(
        ws,
        {"good": cmd("true"), "bad": cmd("false")},
        [
            proj("lib", "good"),
            proj("api", "bad"),
            proj("web", "good", depends_on=["api"]),
            proj("old", "good", enabled=False),
        ],
        metrics={"textfile": "agentd.prom"},
    )
    assert ws.once().returncode == 1
    assert ws.once("--project", "lib").returncode == 0
    m = _read(ws.root / "agentd.prom")
    assert _get(m, "agentd_project_last_success_timestamp_seconds", project="api") == 0
    assert _get(m, "agentd_project_last_success_timestamp_seconds", project="web") == 0
    assert _get(m, "agentd_project_last_duration_seconds", project="api") is not None
    assert _get(m, "agentd_project_last_duration_seconds", project="web") is None  # never ran
    assert not [key for key in m if ("project", "old") in key[1]]  # disabled: not expected

    rules = _readme_rules()
    assert set(rules) == {
        "AgentdSweepFailed",
        "AgentdNoRecentSweep",
        "AgentdProjectNotOkFor2Days",
        "AgentdDaemonDown",
    }
    now = time.time()
    assert _firing(rules, m, now) == {
        "AgentdSweepFailed": [""],
        "AgentdNoRecentSweep": [],
        "AgentdProjectNotOkFor2Days": ["api", "web"],
        "AgentdDaemonDown": [],
    }
    later = _firing(rules, m, now + 3 * 86400)
    assert later["AgentdNoRecentSweep"] == [""]
    assert sorted(later["AgentdProjectNotOkFor2Days"]) == ["api", "lib", "web"]


def test_times_are_milliseconds_without_float_noise(tmp_path: Path) -> None:
    """The state keeps milliseconds; a difference of two of them is rounded back to that."""
    run = {
        "started_at": "2026-01-01T02:30:00.100+00:00",
        "finished_at": "2026-01-01T02:30:00.116+00:00",
    }
    snapshot = Snapshot({"projects": {"p": {"last_run": run, "last_ok": run}}})
    sweep = {**run, "status": "ok", "counts": {}}  # the history's form: no duration_s
    from prometheus_client import generate_latest

    text = generate_latest(render(snapshot, sweep, ["p"], "2026-01-01", tmp_path)).decode()
    assert 'agentd_project_last_duration_seconds{project="p"} 0.016\n' in text
    assert "agentd_last_sweep_duration_seconds 0.016\n" in text
    samples = _read_text(text)
    ended = _get(samples, "agentd_last_sweep_end_timestamp_seconds")
    assert ended == _get(samples, "agentd_project_last_success_timestamp_seconds", project="p")
    assert ended == 1767234600.116


def test_the_daemon_is_up_while_it_runs_and_a_manual_sweep_does_not_say_otherwise(
    ws: Workspace, reap: list
) -> None:
    prom = ws.root / "agentd.prom"
    one_project(ws, recording(), schedule={"cron": "* * * * *"}, metrics={"textfile": str(prom)})
    proc = ws.fast_daemon()
    reap.append(proc)
    m = wait_for(
        lambda: prom.exists() and _get(_read(prom), "agentd_daemon_up") == 1 and _read(prom),
        what="the daemon's metrics",
    )
    fire = _get(m, "agentd_daemon_next_fire_timestamp_seconds")
    assert fire is not None
    assert time.time() - 5 < fire < time.time() + 60
    published = ws.state_doc()["daemon"]
    assert _get(m, "agentd_daemon_start_timestamp_seconds") == _stamp(published["started_at"])

    manual = ws.once("--force")  # while the daemon runs: it is still up, and still fires
    assert manual.returncode == 0, manual.stderr
    m = _read(prom)
    assert _get(m, "agentd_daemon_up") == 1
    assert _get(m, "agentd_daemon_next_fire_timestamp_seconds") is not None

    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, err
    m = _read(prom)
    assert _get(m, "agentd_daemon_up") == 0
    assert _get(m, "agentd_daemon_next_fire_timestamp_seconds") is None
    # The daemon's last word keeps the last sweep (from the history) in the file.
    assert _get(m, "agentd_last_sweep_end_timestamp_seconds") is not None

    after = ws.once("--force")  # a manual sweep after the stop does not bring it back up
    assert after.returncode == 0, after.stderr
    assert _get(_read(prom), "agentd_daemon_up") == 0


def test_an_unwritable_metrics_file_is_a_warning_not_a_failed_sweep(ws: Workspace) -> None:
    path = ws.root / "no-such-dir" / "agentd.prom"
    one_project(ws, metrics={"textfile": str(path)})
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    (warned,) = [e for e in events if e["event"] == "metrics.not_written"]
    assert warned["level"] == "warning"
    assert warned["path"] == str(path)
    assert "No such file or directory" in warned["error"]
    (report,) = _reports(ws)
    assert report["status"] == "ok"
    assert report["failures"] == []
    assert not path.exists()


def test_damaged_state_values_leave_their_series_out(tmp_path: Path) -> None:
    """What the state holds is parsed, not trusted: a damaged stamp or pid is no series
    (and no crash), the rest of the file is still written."""
    snapshot = Snapshot(
        {
            "projects": {
                "p": {"last_ok": "yesterday", "last_run": {"started_at": 5, "finished_at": "x"}}
            },
            "daemon": {"pid": "1", "host": None, "next_fire": "never"},
        }
    )
    sweep = {"started_at": "garbage", "status": "ok", "counts": {"tasks_ok": "2"}}
    registry = render(snapshot, sweep, ["p"], "2026-01-01", tmp_path)
    from prometheus_client import generate_latest

    samples = _read_text(generate_latest(registry).decode())
    assert _get(samples, "agentd_last_sweep_status", status="ok") == 1
    assert _get(samples, "agentd_last_sweep_start_timestamp_seconds") is None
    assert _get(samples, "agentd_last_sweep_tasks", status="ok") is None
    assert _get(samples, "agentd_project_last_success_timestamp_seconds", project="p") is None
    assert _get(samples, "agentd_daemon_up") == 0  # no pid that names a process
    assert _get(samples, "agentd_spend_week_usd") == 0


HOLD_THE_LOCK = """
import sys
from pathlib import Path
from agentd.state.daemonlock import DaemonLock
lock = DaemonLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
sys.stdin.read()
lock.release()
"""


@pytest.mark.parametrize("published", ["nothing", "an earlier daemon's stop"])
def test_status_and_metrics_agree_on_a_daemon_that_holds_the_lock_unpublished(
    ws: Workspace, published: str
) -> None:
    """A daemon whose write to the state failed still holds daemon.lock: `agentd status`
    and the metrics file both call it up, and both call it down once the lock is free."""
    prom = ws.root / "agentd.prom"
    one_project(ws, metrics={"textfile": str(prom)})
    assert ws.once().returncode == 0
    if published != "nothing":
        earlier = subprocess.Popen(["true"])
        earlier.wait(timeout=DEADLINE)
        JsonFileStore(ws.state).set_daemon(
            {
                "pid": earlier.pid,
                "pid_start": None,
                "host": this_host(),
                "started_at": "2026-01-01T00:00:00+00:00",
                "next_fire": "2026-01-02T02:30:00+00:00",
                "stopped_at": "2026-01-01T01:00:00+00:00",
            }
        )
    # The daemon: a process that takes the lock as `agentd run` does, and keeps it until
    # its stdin closes, as a daemon keeps it until it exits.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(ws.state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        swept = ws.once("--force")
        assert swept.returncode == 0, swept.stderr
        assert _get(_read(prom), "agentd_daemon_up") == 1
        status = json.loads(ws.run("status", "--json", "--config", str(ws.config)).stdout)
        assert status["daemon"]["running"] is True
        assert status["daemon"]["pid"] == holder.pid
    finally:
        holder.communicate(timeout=DEADLINE)
    assert holder.returncode == 0
    swept = ws.once("--force")
    assert swept.returncode == 0, swept.stderr
    assert _get(_read(prom), "agentd_daemon_up") == 0
    status = json.loads(ws.run("status", "--json", "--config", str(ws.config)).stdout)
    assert status["daemon"]["running"] is False
