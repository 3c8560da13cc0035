"""The command line on the configured store: a PostgreSQL server that cannot be reached is
exit 2 naming host, port and database (never the password) before anything runs; `agentd
state migrate` and `agentd state import DIR`; `agentd doctor`'s database check; a reload
that keeps the running store.

The unreachable servers need no PostgreSQL: a loopback port nobody listens on, a socket
directory that does not exist. The rest runs on the tests' throwaway cluster (``pg_url``).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from typing import Any

import pytest

from tests.builders import proj, recording, write_config
from tests.helpers import Workspace, wait_for

PASSWORD = "Pw-9f2c7e"


def _closed_port() -> int:
    """A loopback port with nobody listening: bound, then given back."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _unreachable(kind: str) -> tuple[str, list[str]]:
    """A url of a server that is not there, and what its message must name."""
    if kind == "tcp":
        port = _closed_port()
        url = f"postgresql://agentd:{PASSWORD}@127.0.0.1:{port}/nightly"
        return url, ["127.0.0.1", str(port), "nightly"]
    url = f"host=/nonexistent/pg-sock port=6543 dbname=nightly user=agentd password={PASSWORD}"
    return url, ["/nonexistent/pg-sock", "6543", "nightly"]


def _use(ws: Workspace, url: str) -> None:
    ws.env |= {"AGENTD_STATE__BACKEND": "postgres", "AGENTD_STATE__URL": url}


def _clean(proc: subprocess.CompletedProcess[str]) -> str:
    out = proc.stdout + proc.stderr
    assert PASSWORD not in out
    assert "Traceback" not in out
    return out


@pytest.mark.parametrize("kind", ["tcp", "socket"])
def test_an_unreachable_server_is_exit_2_naming_it_and_nothing_runs(
    ws: Workspace, kind: str
) -> None:
    one_sweep(ws)
    url, named = _unreachable(kind)
    _use(ws, url)
    for args in (
        ("run", "--once"),
        ("run",),  # the daemon: refused at start, before it is up
        ("status",),
        ("history",),
        ("state", "import", str(ws.state)),
    ):
        proc = ws.run(*args, "--config", str(ws.config), timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        out = _clean(proc)
        assert "cannot reach PostgreSQL" in out, (args, out)
        for word in named:
            assert word in proc.stderr, (args, word, proc.stderr)
    assert len(ws.read_records()) == 2, "nothing ran after the first, JSON-backed sweep"


def one_sweep(ws: Workspace) -> dict[str, Any]:
    """One project ``p`` swept once on the JSON store: its history, its log."""
    write_config(ws, {"t": recording()}, [proj("p", "t")])
    code, report = ws.once_json()
    assert code == 0
    return report


def test_reading_logs_and_reports_needs_no_server(ws: Workspace) -> None:
    """The log and the report are files on this host: an unreachable database costs the
    log command only the tasks' recorded outcomes (a warning), the report nothing."""
    one_sweep(ws)
    url, named = _unreachable("tcp")
    _use(ws, url)
    log = ws.run("log", "p", "--config", str(ws.config))
    assert log.returncode == 0, log.stderr
    assert "warning: cannot reach PostgreSQL" in _clean(log)
    assert named[1] in log.stderr
    report = ws.run("report", "--config", str(ws.config))
    assert report.returncode == 0, report.stderr
    assert "# agentd sweep" in _clean(report).splitlines()[0]


def test_a_broken_configuration_still_reads_the_database_of_its_state_table(
    ws: Workspace,
) -> None:
    """A typo elsewhere does not send the read commands to the state directory's file
    when the [state] table is valid on its own: status goes to the database it names."""
    url, named = _unreachable("tcp")
    ws.write_config(
        f"""
        [run]
        max_parallel_projects = 0
        [state]
        backend = "postgres"
        url = "{url}"
        """
    )
    proc = ws.run("status", "--config", str(ws.config))
    assert proc.returncode == 2, proc.stderr
    out = _clean(proc)
    assert "run.max_parallel_projects" in out  # the warning about the file
    assert f"cannot reach PostgreSQL at 127.0.0.1:{named[1]}" in out


def test_state_commands_on_the_json_backend(ws: Workspace) -> None:
    one_sweep(ws)
    migrate = ws.run("state", "migrate", "--config", str(ws.config))
    assert migrate.returncode == 0, migrate.stderr
    assert "nothing to migrate" in migrate.stdout
    imported = ws.run("state", "import", str(ws.state), "--config", str(ws.config))
    assert imported.returncode == 2
    assert "configured backend is json" in imported.stderr


def test_state_migrate_on_an_unreachable_server_is_exit_2(ws: Workspace) -> None:
    write_config(ws, {"t": recording()}, [proj("p", "t")])
    url, named = _unreachable("socket")
    _use(ws, url)
    proc = ws.run("state", "migrate", "--config", str(ws.config))
    assert proc.returncode == 2
    assert f"cannot reach PostgreSQL at {named[0]}:{named[1]}, database nightly" in _clean(proc)


def _doctor_database(ws: Workspace) -> dict[str, str]:
    proc = ws.run("doctor", "--json", "--config", str(ws.config))
    _clean(proc)
    checks = [c for c in json.loads(proc.stdout) if c["check"] == "state: database"]
    assert len(checks) == 1, proc.stdout
    return dict(checks[0])


def test_doctor_names_an_unreachable_database_as_a_problem(ws: Workspace) -> None:
    write_config(ws, {"t": recording()}, [proj("p", "t")])
    url, named = _unreachable("tcp")
    _use(ws, url)
    check = _doctor_database(ws)
    assert check["level"] == "problem"
    assert f"127.0.0.1:{named[1]}, database nightly" in check["message"]
    assert check["subject"].startswith("host=127.0.0.1 ")


def _with_password(pg_url: str) -> str:
    """The throwaway cluster trusts local connections: a password given is not checked,
    and it must show nowhere."""
    return f"{pg_url} password={PASSWORD}"


def test_state_migrate_creates_the_schema_once_and_doctor_follows(
    ws: Workspace, pg_url: str
) -> None:
    write_config(ws, {"t": recording()}, [proj("p", "t")])
    _use(ws, _with_password(pg_url))
    before = _doctor_database(ws)
    assert (before["level"], "no agentd schema yet" in before["message"]) == ("ok", True)
    first = ws.run("state", "migrate", "--config", str(ws.config))
    assert first.returncode == 0, first.stderr
    assert "schema version 0 -> 1" in _clean(first)
    again = ws.run("state", "migrate", "--config", str(ws.config))
    assert again.returncode == 0, again.stderr
    assert "schema version 1, already current" in _clean(again)
    after = _doctor_database(ws)
    assert after["level"] == "ok"
    assert "schema version 1 (current)" in after["message"]


def test_state_import_moves_a_single_host_up_without_losing_the_night(
    ws: Workspace, pg_url: str
) -> None:
    report = one_sweep(ws)
    _use(ws, _with_password(pg_url))
    imported = ws.run("state", "import", str(ws.state), "--config", str(ws.config))
    assert imported.returncode == 0, imported.stderr
    line = _clean(imported)
    assert f"imported {ws.state} into PostgreSQL at " in line
    assert "projects 1, runs 1" in line
    # On the database now: the night's run is known, and the skip guard holds.
    status = ws.run("status", "--json", "--config", str(ws.config))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["last_sweep"]["run_id"] == report["run_id"]
    code, again = ws.once_json()
    assert code == 0
    assert [p["status"] for p in again["projects"]] == ["skipped"]
    assert len(ws.read_records()) == 2  # the first sweep's task, not run again
    # Importing again adds nothing.
    twice = ws.run("state", "import", str(ws.state), "--config", str(ws.config))
    assert twice.returncode == 0, twice.stderr
    assert "projects 0, runs 0" in twice.stdout


def test_state_import_of_a_directory_without_state_is_exit_2(ws: Workspace, pg_url: str) -> None:
    write_config(ws, {"t": recording()}, [proj("p", "t")])
    _use(ws, pg_url)
    empty = ws.root / "empty"
    empty.mkdir()
    proc = ws.run("state", "import", str(empty), "--config", str(ws.config))
    assert proc.returncode == 2
    assert "holds no state.json" in _clean(proc)
    missing = ws.run("state", "import", str(ws.root / "none"), "--config", str(ws.config))
    assert missing.returncode == 2
    assert "is not a directory" in missing.stderr


def test_a_reload_keeps_the_running_store(ws: Workspace, reap: list) -> None:
    """[state] changed under a running daemon takes effect at its next start: the reload
    says so, keeps the store it has (sweeps go on writing to it) and logs no url."""
    from tests.service.fastfires import EVERY_2S

    write_config(ws, {"t": recording()}, [proj("p", "t")], schedule={"cron": "* * * * *"})
    proc = subprocess.Popen(
        [*EVERY_2S, "run", "--config", str(ws.config), "--log-format", "json"],
        cwd=ws.root,
        env=ws.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reap.append(proc)
    wait_for(lambda: ws.state_doc().get("daemon"), what="the daemon to be ready")
    url, _ = _unreachable("tcp")
    text = ws.config.read_text()
    ws.config.write_text(f'{text}\n[state]\nbackend = "postgres"\nurl = "{url}"\n')
    proc.send_signal(signal.SIGHUP)
    runs = len(ws.state_doc().get("runs", []))
    # Sweeps after the reload still land in the state directory's file.
    wait_for(lambda: len(ws.state_doc().get("runs", [])) >= runs + 2, what="two more sweeps")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert PASSWORD not in err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    changed = [e for e in events if e["event"] == "config.state_changed"]
    assert changed, err[-3000:]
    assert "restart" in changed[0]["note"]
    assert any(e["event"] == "config.reloaded" for e in events)


def test_state_import_warns_of_a_report_it_skips_on_stderr(ws: Workspace, pg_url: str) -> None:
    """What is printed on stdout is the import's one summary line, for scripts; a report
    that cannot be copied is a warning beside it, naming the file."""
    report = one_sweep(ws)
    damaged = ws.state / "runs" / report["run_id"] / "report.json"
    damaged.write_text("[" * 100_000)
    _use(ws, pg_url)
    imported = ws.run("state", "import", str(ws.state), "--config", str(ws.config))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.count("\n") == 1
    assert "reports skipped 1" in imported.stdout
    assert str(damaged) in imported.stderr
    assert "Traceback" not in imported.stderr
