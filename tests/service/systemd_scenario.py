"""Runs inside ../shared/tools/with-systemd (see test_systemd.py): the real unit file under
a real systemd, as root with the test's own state and configuration (drop-ins). Exits
non-zero with a message at the first broken promise.

argv: APP AGENTD WORKDIR. APP holds systemd/ and tests/bin/; all of it lives outside /tmp
and /var/tmp, which the service cannot see. The unit as shipped, for its own account, is
system_install_scenario.py.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from systemd_tools import gone, sh, show, wait_for

REPO, AGENTD, WORK = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
STATE = WORK / "state"
CONFIG = WORK / "config.toml"
UNIT = Path("/run/systemd/system/agentd.service")


def reports() -> list[dict[str, Any]]:
    out = []
    for path in sorted((STATE / "runs").glob("*/report.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return out


def write_config(cron: str, long_task: bool) -> None:
    long_project = (
        '[[projects]]\nname = "long"\npath = "long"\ntasks = ["stubborn"]\n' if long_task else ""
    )
    CONFIG.write_text(
        f"""
[schedule]
cron = "{cron}"
timezone = "UTC"
[run]
kill_grace = "2s"
[tasks.quick]
command = ["record", "{{project}}", "0"]
[tasks.stubborn]
command = ["stubborn", "{WORK / "stubborn.pid"}"]
[[projects]]
name = "quick"
path = "quick"
tasks = ["quick"]
{long_project}
"""
    )


def seed_missed_fire() -> None:
    """Pretend the daemon was down: the last fire handled was two hours ago."""
    path = STATE / "state.json"
    doc = json.loads(path.read_text())
    doc["fires"]["last_handled"] = (datetime.now(UTC) - timedelta(hours=2)).isoformat(
        timespec="seconds"
    )
    path.write_text(json.dumps(doc))


def main() -> None:
    sh("systemctl", "start", "systemd-journald.socket", "systemd-journald.service")
    for name in ("quick", "long"):
        (WORK / name).mkdir(parents=True, exist_ok=True)
    write_config("0 * * * *", long_task=False)
    unit = (REPO / "systemd" / "agentd.service").read_text()
    UNIT.write_text(unit.replace("/usr/local/bin/agentd", AGENTD))
    dropin = UNIT.parent / "agentd.service.d"
    dropin.mkdir(exist_ok=True)
    # What an operator's `systemctl edit agentd` would hold, pointed at the test's files.
    (dropin / "test.conf").write_text(
        f"""[Service]
User=root
Group=root
StateDirectory=
ConfigurationDirectory=
Environment=AGENTD_CONFIG={CONFIG}
Environment=AGENTD_STATE_DIR={STATE}
Environment=RECORD_FILE={WORK / "records.jsonl"}
Environment=PATH={REPO / "tests" / "bin"}:/usr/local/bin:/usr/bin:/bin
"""
    )
    sh("systemctl", "daemon-reload")

    # 1. `systemctl start` returns once READY=1 was sent: the unit is active at once, and
    #    its status line names the next fire time.
    sh("systemctl", "start", "agentd")
    assert show("ActiveState") == "active", show("ActiveState")
    status = show("StatusText")
    hour = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%d %H:00")
    assert status.startswith(f"next sweep {hour}"), status
    print("ok: start waits for READY=1; StatusText:", status)

    # 2. `systemctl reload` re-reads the file and reschedules.
    write_config("30 * * * *", long_task=False)
    sh("systemctl", "reload", "agentd")
    wait_for("the new schedule in StatusText", lambda: ":30 UTC" in show("StatusText"))
    assert show("ActiveState") == "active"
    print("ok: reload rescheduled:", show("StatusText"))

    # 3. After downtime, one catch-up sweep runs.
    sh("systemctl", "stop", "agentd")
    assert show("Result") == "success", show("Result")
    write_config("0 * * * *", long_task=False)
    seed_missed_fire()
    sh("systemctl", "start", "agentd")
    report = wait_for(
        "the catch-up report", lambda: [r for r in reports() if r["trigger"] == "catch-up"]
    )[0]
    assert report["status"] == "ok", report
    print("ok: catch-up sweep", report["run_id"])

    # 4. `systemctl stop` during a task: the task's whole group dies, the unit ends with
    #    Result=success, and the report says interrupted.
    sh("systemctl", "stop", "agentd")
    write_config("0 * * * *", long_task=True)
    seed_missed_fire()
    sh("systemctl", "start", "agentd")
    grandchild = WORK / "stubborn.pid.grandchild"
    wait_for("the long task to start", grandchild.exists)
    wait_for("the sweep progress in StatusText", lambda: "projects done" in show("StatusText"))
    pids = [int((WORK / "stubborn.pid").read_text()), int(grandchild.read_text())]
    started = time.monotonic()
    sh("systemctl", "stop", "agentd")
    took = time.monotonic() - started
    assert took < 2 + 5, f"stop took {took:.1f}s with kill_grace = 2s"
    assert show("Result") == "success", show("Result")
    assert show("ActiveState") == "inactive"
    for pid in pids:
        assert gone(pid), f"task process {pid} survived systemctl stop"
    last = reports()[-1]
    assert last["status"] == "interrupted", last
    assert last["projects"][1]["tasks"][0]["status"] == "interrupted"
    print(f"ok: stop during a task took {took:.1f}s; Result=success; nothing survived")

    # 5. agentd itself SIGKILLed (the OOM killer, say): it cannot stop its tasks, but
    #    KillMode=mixed makes systemd kill what is left of the unit before restarting it.
    (WORK / "stubborn.pid.grandchild").unlink()
    seed_missed_fire()
    sh("systemctl", "start", "agentd")
    wait_for("the long task to start again", grandchild.exists)
    pids = [int((WORK / "stubborn.pid").read_text()), int(grandchild.read_text())]
    killed = time.monotonic()
    sh("systemctl", "kill", "-s", "SIGKILL", "--kill-whom=main", "agentd")
    wait_for(
        "systemd to kill the orphaned task group", lambda: all(gone(p) for p in pids), timeout=30
    )
    cleaned = time.monotonic() - killed
    wait_for(
        "the unit to wait for its restart", lambda: show("SubState") == "auto-restart", timeout=30
    )
    assert show("Result") == "signal"
    sh("systemctl", "stop", "agentd")
    print(f"ok: after SIGKILL of agentd, KillMode=mixed left no task behind ({cleaned:.1f}s)")

    # 6. The journal holds agentd's own lines as JSON.
    entries = [
        json.loads(line)
        for line in sh("journalctl", "-u", "agentd", "-o", "json", "--no-pager").splitlines()
    ]
    ours = [
        e["MESSAGE"]
        for e in entries
        if e.get("SYSLOG_IDENTIFIER") == "agentd" and isinstance(e.get("MESSAGE"), str)
    ]
    events = [json.loads(message)["event"] for message in ours]
    for expected in (
        "daemon.ready",
        "config.reloaded",
        "catch_up.start",
        "sweep.finish",
        "daemon.stopped",
    ):
        assert expected in events, (expected, events)
    print(f"ok: {len(ours)} journal lines from agentd, all JSON")


if __name__ == "__main__":
    main()
