"""The daemon as a real process: fires, overlap, reload, catch-up, shutdown, the lock."""

from __future__ import annotations

import itertools
import json
import signal
import socket
import subprocess
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.builders import cmd, proj, recording, write_config
from tests.helpers import AGENTD, Workspace, max_overlap, process_gone, wait_for
from tests.service.fastfires import EVERY_2S


def _reports(ws: Workspace) -> list[dict[str, Any]]:
    out = []
    for path in sorted((ws.state / "runs").glob("*/report.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # being replaced right now
    return out


def _daemon(
    ws: Workspace, reap: list, extra_env: dict[str, str] | None = None, fast: bool = True
) -> subprocess.Popen[str]:
    env = dict(ws.env, **(extra_env or {}))
    proc = subprocess.Popen(
        [*(EVERY_2S if fast else [AGENTD]), "run", "--config", str(ws.config)],
        cwd=ws.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reap.append(proc)
    return proc


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[str, str]:
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR2)  # the daemon dumps its threads' stacks
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the daemon did not stop; its stderr:\n{err[-5000:]}") from None
    return out, err


def _events(stderr: str) -> list[dict[str, Any]]:
    out = []
    for line in stderr.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _write(
    ws: Workspace, bound: int, names: list[str], seconds: float = 1.0, code: int = 1
) -> None:
    write_config(
        ws,
        # fails on purpose, so the skip guard lets every sweep run it again
        {"work": recording("{project}", seconds, code)},
        [proj(n, "work") for n in names],
        schedule={"cron": "* * * * *"},
        run={"project_parallelism": True, "max_parallel_projects": bound, "kill_grace": "2s"},
    )


def _overlap_by_run(ws: Workspace) -> dict[str, int]:
    spans: dict[str, dict[str, list[float]]] = defaultdict(dict)
    for rec in ws.read_records():
        spans[rec["run_id"]].setdefault(rec["label"], []).append(rec["t"])
    return {
        run: max_overlap([(t[0], t[1]) for t in labels.values() if len(t) == 2])
        for run, labels in spans.items()
    }


def test_scheduled_sweep_runs_and_overlapping_fires_are_skipped(ws: Workspace, reap: list) -> None:
    _write(ws, 1, ["a", "b", "c"], seconds=1.0)  # one sweep takes 3 s; fires come every 2 s
    proc = _daemon(ws, reap)
    wait_for(
        lambda: [r for r in _reports(ws) if r["trigger"] == "schedule"], what="a scheduled report"
    )
    wait_for(lambda: ws.state_doc().get("fires", {}).get("skipped"), what="a skipped fire")
    status = ws.run("status", "--config", str(ws.config)).stdout
    assert "skipped fire: " in status
    assert "a sweep was still running (run 2" in status  # names the run that was going
    _, err = _stop(proc)
    assert proc.returncode == 0, err
    report = next(r for r in _reports(ws) if r["trigger"] == "schedule")
    assert [p["name"] for p in report["projects"]] == ["a", "b", "c"]
    skipped = ws.state_doc()["fires"]["skipped"][0]
    assert skipped["reason"].startswith("a sweep was still running (run 2")
    events = _events(err)
    assert any(e["event"] == "fire.skipped" and e["level"] == "warning" for e in events)
    # Never two sweeps at once: the tasks of one run all end before the next run's start.
    starts = sorted(
        (min(r["t"] for r in ws.read_records() if r["run_id"] == run), run)
        for run in {r["run_id"] for r in ws.read_records()}
    )
    ends = {run: max(r["t"] for r in ws.read_records() if r["run_id"] == run) for _, run in starts}
    for (_, earlier), (start, _) in itertools.pairwise(starts):
        assert ends[earlier] <= start


def test_a_fire_skipped_during_a_sweep_is_not_caught_up_after_a_restart(
    ws: Workspace, reap: list
) -> None:
    _write(ws, 1, ["a", "b"], seconds=1.5)  # 3 s sweeps, fires every 2 s
    proc = _daemon(ws, reap)
    wait_for(lambda: ws.state_doc().get("fires", {}).get("skipped"), what="a skipped fire")
    # Let the sweep that caused the skip end, then stop between sweeps.
    skipped_at = datetime.fromisoformat(ws.state_doc()["fires"]["skipped"][0]["fire"])
    wait_for(
        lambda: datetime.fromisoformat(ws.state_doc()["fires"]["last_handled"]) >= skipped_at,
        what="the skipped fire to count as dealt with once its sweep ended",
    )
    _stop(proc)
    # Restart with a schedule that will not fire soon: only a catch-up could run now.
    ws.config.write_text(ws.config.read_text().replace('cron = "* * * * *"', 'cron = "0 0 1 1 *"'))
    before = len(_reports(ws))
    again = _daemon(ws, reap, fast=False)
    wait_for(lambda: ws.state_doc().get("daemon"), what="the daemon to be ready")
    _, err = _stop(again)
    assert not any(e["event"] == "catch_up.start" for e in _events(err))
    assert len([r for r in _reports(ws) if r["trigger"] == "catch-up"]) == 0
    assert len(_reports(ws)) >= before


def test_sighup_reschedules_at_once(ws: Workspace, reap: list) -> None:
    _write(ws, 1, ["a"], seconds=0.1)
    ws.config.write_text(ws.config.read_text().replace('cron = "* * * * *"', 'cron = "0 0 1 1 *"'))
    proc = _daemon(ws, reap)  # a yearly schedule: nothing fires during this test...
    first = wait_for(lambda: ws.state_doc().get("daemon"), what="the daemon to be ready")
    assert datetime.fromisoformat(first["next_fire"]).month == 1
    ws.config.write_text(ws.config.read_text().replace('cron = "0 0 1 1 *"', 'cron = "* * * * *"'))
    proc.send_signal(signal.SIGHUP)
    # ... until the reload rescheduled it (no sweep runs in between to re-read the file).
    report = wait_for(lambda: _reports(ws), what="a sweep on the new schedule")[0]
    assert report["trigger"] == "schedule"
    _, err = _stop(proc)
    reloaded = next(e for e in _events(err) if e["event"] == "config.reloaded")
    assert reloaded["schedule_changed"] is True


def test_sighup_with_a_new_bound_changes_the_next_sweep(ws: Workspace, reap: list) -> None:
    names = ["a", "b", "c"]
    _write(ws, 1, names, seconds=0.6)
    proc = _daemon(ws, reap)
    wait_for(lambda: any(v == 1 for v in _overlap_by_run(ws).values()), what="a sweep at bound 1")
    _write(ws, 3, names, seconds=0.6)
    proc.send_signal(signal.SIGHUP)
    wait_for(
        lambda: any(r["mode"]["max_parallel_projects"] == 3 for r in _reports(ws)),
        what="a sweep with the new bound",
    )
    wait_for(lambda: any(v == 3 for v in _overlap_by_run(ws).values()), what="3 projects at once")
    _, err = _stop(proc)
    assert proc.returncode == 0
    assert any(e["event"] == "config.reloaded" for e in _events(err))


def test_sighup_with_a_broken_file_keeps_the_schedule(ws: Workspace, reap: list) -> None:
    _write(ws, 2, ["a"], seconds=0.1)
    proc = _daemon(ws, reap)
    wait_for(lambda: _reports(ws), what="a first report")
    good = ws.config.read_text()
    ws.config.write_text(good.replace("max_parallel_projects = 2", "max_parallel_projects = 0"))
    proc.send_signal(signal.SIGHUP)
    # Still firing: the next sweep loads the broken file, runs nothing, and says why.
    failed = wait_for(
        lambda: [r for r in _reports(ws) if r.get("config_errors")],
        what="a failed run with the errors",
    )
    assert failed[0]["status"] == "failed"
    assert "run.max_parallel_projects" in failed[0]["config_errors"][0]
    assert failed[0]["projects"] == []
    assert (
        "run.max_parallel_projects"
        in (ws.state / "runs" / failed[0]["run_id"] / "report.md").read_text()
    )
    ws.config.write_text(good)
    proc.send_signal(signal.SIGHUP)
    count = len(_reports(ws))
    wait_for(lambda: [r for r in _reports(ws)[count:] if r["projects"]], what="a good sweep again")
    _, err = _stop(proc)
    assert proc.returncode == 0
    events = _events(err)
    assert any(e["event"] == "config.reload_failed" for e in events)
    assert any(e["event"] == "sweep.config_invalid" for e in events)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_during_a_task_kills_its_group_records_interrupted_and_exits_0(
    ws: Workspace, reap: list, sig: int
) -> None:
    ws.project_dirs("p")
    pidfile = ws.root / "stubborn.pid"
    write_config(
        ws,
        {"stubborn": cmd("stubborn", pidfile)},
        [proj("p", "stubborn")],
        schedule={"cron": "* * * * *"},
        run={"kill_grace": "1s"},
    )
    proc = _daemon(ws, reap)
    wait_for(lambda: Path(f"{pidfile}.grandchild").exists(), what="the task to start")
    started = datetime.now(UTC)
    _, err = _stop(proc, sig)
    took = (datetime.now(UTC) - started).total_seconds()
    assert proc.returncode == 0, err
    assert took < 1 + 5  # kill_grace plus a few seconds
    report = _reports(ws)[-1]
    assert report["status"] == "interrupted"
    assert report["projects"][0]["tasks"][0]["status"] == "interrupted"
    for path in (pidfile, Path(f"{pidfile}.grandchild")):
        assert process_gone(int(path.read_text()))
    doc = ws.state_doc()
    assert doc["claims"] == {}
    assert doc["daemon"]["stopped_by"] == signal.Signals(sig).name  # a clean stop, recorded
    # The interrupted fire stays unhandled, so the next start catches it up.
    handled = datetime.fromisoformat(doc["fires"]["last_handled"])
    assert handled < datetime.fromisoformat(report["started_at"])


def test_a_second_daemon_exits_3_naming_the_holder(ws: Workspace, reap: list) -> None:
    _write(ws, 1, ["a"], seconds=0.1)
    first = _daemon(ws, reap)
    wait_for(
        lambda: (ws.state / "daemon.lock").exists() and ws.state_doc().get("daemon"),
        what="the daemon",
    )
    second = ws.run("run", "--config", str(ws.config))
    assert second.returncode == 3
    assert f"pid {first.pid}" in second.stderr
    assert "daemon.lock" in second.stderr
    _stop(first)
    assert first.returncode == 0


def _seed_last_fire(ws: Workspace, when: datetime) -> None:
    ws.state.mkdir(mode=0o700, exist_ok=True)
    doc = {
        "version": 1,
        "projects": {},
        "claims": {},
        "runs": [],
        "fires": {"last_handled": when.isoformat(timespec="seconds")},
    }
    (ws.state / "state.json").write_text(json.dumps(doc))


def _hourly(ws: Workspace, catch_up: str) -> None:
    ws.project_dirs("a")
    write_config(
        ws,
        {"work": recording()},
        [proj("a", "work")],
        schedule={
            "cron": "0 * * * *",
            "timezone": "UTC",
            "catch_up": catch_up,
            "catch_up_window": "3h",
        },
    )


def test_catch_up_runs_one_sweep_for_missed_fires(ws: Workspace, reap: list) -> None:
    _hourly(ws, "once")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    _seed_last_fire(ws, hour - timedelta(hours=1, minutes=59))  # missed: hour - 1h, hour
    proc = _daemon(ws, reap, fast=False)
    report = wait_for(lambda: _reports(ws), what="the catch-up report")[0]
    assert report["trigger"] == "catch-up"
    assert report["projects"][0]["status"] == "ok"
    wait_for(
        lambda: (
            ws.state_doc()["fires"]["last_handled"]
            > (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        ),
        what="the fire to be handled",
    )
    _, err = _stop(proc)
    start = next(e for e in _events(err) if e["event"] == "catch_up.start")
    assert start["missed"] == 2
    assert len(_reports(ws)) == 1  # one sweep, however many were missed


def test_catch_up_none_skips_and_says_so(ws: Workspace, reap: list) -> None:
    _hourly(ws, "none")
    _seed_last_fire(ws, datetime.now(UTC) - timedelta(hours=2, minutes=30))
    proc = _daemon(ws, reap, fast=False)
    wait_for(
        lambda: ws.state_doc().get("fires", {}).get("skipped"), what="the skipped fires recorded"
    )
    status = ws.run("status", "--config", str(ws.config))
    assert "catch_up = none" in status.stdout
    _, err = _stop(proc)
    assert any(e["event"] == "catch_up.skipped" for e in _events(err))
    assert not _reports(ws)


def test_status_and_schedule_while_the_daemon_runs_and_after(ws: Workspace, reap: list) -> None:
    _write(ws, 1, ["a", "b"], seconds=6.0)  # long enough to be running when status looks
    proc = _daemon(ws, reap)
    wait_for(ws.read_records, what="a task to start")
    asked = datetime.now(UTC)
    status = ws.run("status", "--json", "--config", str(ws.config))
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["daemon"]["running"] is True
    assert data["daemon"]["pid"] == proc.pid
    # Mid-sweep, the next fire time is still ahead, not the fire that started this sweep.
    assert datetime.fromisoformat(data["schedule"]["next_fire"]) > asked
    assert data["running"][0]["project"] == "a"
    assert data["running"][0]["pid"] == proc.pid
    assert data["running"][0]["stale"] is None
    text = ws.run("status", "--config", str(ws.config)).stdout
    assert f"running, pid {proc.pid}" in text
    assert "a: run " in text
    _stop(proc)
    wait_for(lambda: _reports(ws), what="the report")
    after = json.loads(ws.run("status", "--json", "--config", str(ws.config)).stdout)
    assert after["daemon"]["running"] is False
    assert after["running"] == []
    assert after["last_sweep"]["status"] == "interrupted"
    rows = {p["name"]: p for p in after["projects"]}
    assert rows["a"]["last_status"] in ("failed", "interrupted")
    schedule = ws.run("schedule", "-n", "3", "--json", "--config", str(ws.config))
    fires = json.loads(schedule.stdout)["fires"]
    assert len(fires) == 3
    assert all(datetime.fromisoformat(f).second == 0 for f in fires)


def test_invalid_config_at_start_exits_2(ws: Workspace) -> None:
    ws.write_config("[run]\nmax_parallel_projects = -1\n")
    proc = ws.run("run", "--config", str(ws.config))
    assert proc.returncode == 2
    assert "run.max_parallel_projects" in proc.stderr
    assert not ws.state.exists()


def test_systemd_notifications(ws: Workspace, reap: list, tmp_path: Path) -> None:
    write_config(
        ws, {"show": cmd("argv-json")}, [proj("p", "show")], schedule={"cron": "* * * * *"}
    )
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(60)
    proc = _daemon(ws, reap, {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"})
    seen: list[dict[str, str]] = []

    def receive_until(key: str) -> dict[str, str]:
        while True:
            message = dict(line.split("=", 1) for line in sock.recv(4096).decode().splitlines())
            seen.append(message)
            if key in message:
                return message

    ready = receive_until("READY")
    assert ready["READY"] == "1"
    assert ready["STATUS"].startswith("next sweep ")
    receive_until("WATCHDOG")
    progress = receive_until("STATUS")
    while "projects done" not in progress.get("STATUS", ""):
        progress = receive_until("STATUS")
    wait_for(lambda: _reports(ws), what="a report")
    good = ws.config.read_text()
    ws.config.write_text(good.replace('cron = "* * * * *"', 'cron = "* * * *"'))
    proc.send_signal(signal.SIGHUP)
    invalid = receive_until("STATUS")
    while "configuration invalid" not in invalid["STATUS"]:
        invalid = receive_until("STATUS")
    assert "kept the running schedule: schedule.cron:" in invalid["STATUS"]
    ws.config.write_text(good)
    proc.send_signal(signal.SIGTERM)
    stopping = receive_until("STOPPING")
    assert stopping["STOPPING"] == "1"
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    # The task saw none of it.
    report = _reports(ws)[0]
    shown = json.loads((ws.state / "runs" / report["run_id"] / "p" / "show.log").read_text())
    assert shown["notify_socket"] is None
    assert shown["watchdog"] == [None, None]
    sock.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_idle_daemon_stops_at_once_on_sigint_and_sigterm(
    ws: Workspace, reap: list, sig: int
) -> None:
    _hourly(ws, "once")
    proc = _daemon(ws, reap, fast=False)
    wait_for(
        lambda: (ws.state / "state.json").exists() and ws.state_doc().get("daemon"), what="ready"
    )
    _, err = _stop(proc, sig)
    assert proc.returncode == 0, err
    assert "daemon.stopped" in err


def test_a_state_error_during_reload_does_not_bring_the_daemon_down(
    ws: Workspace, reap: list
) -> None:
    _hourly(ws, "once")
    log = ws.root / "daemon.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [AGENTD, "run", "--config", str(ws.config)], cwd=ws.root, env=ws.env, stderr=stderr
        )
    reap.append(proc)
    wait_for(lambda: ws.state_doc().get("daemon"), what="the daemon to be ready")
    (ws.state / "state.json").write_text("{ not json")  # every state write now fails
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config.reloaded" in log.read_text(), what="the reload")
    # The reload logs first and then publishes the daemon's status, which is the write
    # that fails: wait for it rather than race it.
    wait_for(lambda: "state.write_failed" in log.read_text(), what="the failed state write")
    assert proc.poll() is None, "the daemon died on a state error"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()
    assert "daemon.stopped" in log.read_text()


def _status(ws: Workspace) -> dict[str, Any]:
    proc = ws.run("status", "--json", "--config", str(ws.config))
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


@pytest.mark.parametrize(
    "saved",
    ["", "[run]\nkeep_runs = 3\n", "[schedule]\ncron = "],
    ids=["empty", "no projects", "cut short"],
)
def test_a_file_caught_mid_save_is_refused_and_the_armed_schedule_kept(
    ws: Workspace, reap: list, saved: str
) -> None:
    """An editor saving in place truncates, then writes: a reload in between must not
    re-arm the daemon on the default schedule, and status shows what is really armed."""
    _hourly(ws, "once")
    good = ws.config.read_text()
    proc = _daemon(ws, reap, fast=False)
    first = wait_for(lambda: ws.state_doc().get("daemon"), what="the daemon to be ready")
    ws.config.write_text(saved)
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: ws.state_doc().get("daemon", {}).get("reload_error"), what="the refusal")
    status = _status(ws)
    assert status["schedule"]["cron"] == "0 * * * *"  # the armed one, not "30 2 * * *"
    assert status["schedule"]["next_fire"] == first["next_fire"]
    text = ws.run("status", "--config", str(ws.config)).stdout
    assert "configuration reload refused: " in text
    ws.config.write_text(good.replace('cron = "0 * * * *"', 'cron = "0 0 1 1 *"'))
    proc.send_signal(signal.SIGHUP)
    wait_for(
        lambda: ws.state_doc().get("daemon", {}).get("schedule") == "0 0 1 1 *",
        what="the good file armed",
    )
    assert "reload_error" not in ws.state_doc()["daemon"]
    _, err = _stop(proc)
    assert proc.returncode == 0
    refused = next(e for e in _events(err) if e["event"] == "config.reload_failed")
    if saved == "[schedule]\ncron = ":
        assert "TOML syntax error" in refused["problems"][0]
    else:
        assert (
            "has no [[projects]] while the running configuration has 1" in (refused["problems"][0])
        )


def test_status_tells_a_file_not_yet_armed_from_the_schedule_that_fires(
    ws: Workspace, reap: list
) -> None:
    _hourly(ws, "once")
    proc = _daemon(ws, reap, fast=False)
    wait_for(lambda: ws.state_doc().get("daemon"), what="the daemon to be ready")
    ws.config.write_text(ws.config.read_text().replace('cron = "0 * * * *"', 'cron = "5 4 * * *"'))
    status = _status(ws)
    assert status["schedule"]["cron"] == "0 * * * *"
    assert status["schedule"]["in_file"]["cron"] == "5 4 * * *"
    assert datetime.fromisoformat(status["schedule"]["next_fire"]).minute == 0
    text = ws.run("status", "--config", str(ws.config)).stdout
    assert "the file says '5 4 * * *' in UTC: armed at the next reload" in text
    _stop(proc)


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 600 + "]" * 600 + "\n",
        "[run]\nmax_parallel_projects = " + "9" * 5000 + "\n",
        "[run]\nmax_parallel_projects = " + "9" * 4000 + "\n",
        '[run]\n"' + "k" * 20000 + '" = 1\n',
        "\x00\xff garbage",
    ],
    ids=["deep nesting", "5000 digits", "4000 digits", "a huge key", "binary"],
)
def test_the_daemon_survives_any_file_on_reload(ws: Workspace, reap: list, text: str) -> None:
    _hourly(ws, "once")
    proc = _daemon(ws, reap, fast=False)
    wait_for(lambda: ws.state_doc().get("daemon"), what="the daemon to be ready")
    ws.config.write_bytes(text.encode("latin-1", "replace"))
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: ws.state_doc().get("daemon", {}).get("reload_error"), what="the refusal")
    assert proc.poll() is None, "the daemon died on a bad file"
    assert ws.state_doc()["daemon"]["schedule"] == "0 * * * *"
    _, err = _stop(proc)
    assert proc.returncode == 0
    assert "Traceback" not in err
    refused = next(e for e in _events(err) if e["event"] == "config.reload_failed")
    assert all(len(p) < 1000 for p in refused["problems"])  # long values are cut


def test_a_clean_stop_is_not_reported_as_a_crash(ws: Workspace, reap: list) -> None:
    _hourly(ws, "once")
    proc = _daemon(ws, reap, fast=False)
    wait_for(lambda: ws.state_doc().get("daemon"), what="the daemon to be ready")
    _stop(proc)
    daemon = _status(ws)["daemon"]
    assert daemon["running"] is False
    assert daemon["stopped_at"]
    text = ws.run("status", "--config", str(ws.config)).stdout
    assert f"not running (pid {proc.pid} stopped at " in text
    assert "on SIGTERM" in text
    # A daemon killed outright did not stop: that is said differently.
    killed = _daemon(ws, reap, fast=False)
    wait_for(lambda: ws.state_doc().get("daemon", {}).get("pid") == killed.pid, what="ready again")
    killed.kill()
    killed.wait(timeout=60)
    text = ws.run("status", "--config", str(ws.config)).stdout
    assert "exited without a clean stop: killed or crashed" in text


def test_the_next_fire_shown_during_a_long_sweep_is_never_in_the_past(
    ws: Workspace, reap: list
) -> None:
    """Fires every 2 s; the sweep takes 6 s: status computes the next fire when asked."""
    _write(ws, 1, ["a", "b", "c"], seconds=2.0)
    proc = _daemon(ws, reap)
    for records in (3, 5, 7):  # seconds 2, 4 and 6 of a sweep started at a fire
        wait_for(lambda n=records: len(ws.read_records()) >= n, what="the sweep to go on")
        fire = _status(ws)["schedule"]["next_fire"]
        assert datetime.fromisoformat(fire) > datetime.now(UTC) - timedelta(seconds=1)
    _stop(proc)
