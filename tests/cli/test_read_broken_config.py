"""Read commands never need a valid configuration (issue 12, item 4): with config.toml
broken, `status` and `report` warn on stderr naming the problem and show the state, found
through what can still be read of the file's ``[paths] state_dir``; and `config path`
says which file and state directory are used, and why."""

from __future__ import annotations

import json

import pytest

from tests.builders import one_project, recording
from tests.helpers import Workspace

BROKEN = {
    # A syntax error after [paths]: the file does not parse at all.
    "syntax": '[paths]\nstate_dir = "state"\n\n[[projects]\nname = "p"\n',
    # Valid TOML the schema refuses.
    "schema": '[paths]\nstate_dir = "state"\n[run]\nmax_parallel_projects = "many"\n',
}
WHAT = {"syntax": "TOML syntax error", "schema": "run.max_parallel_projects"}


@pytest.fixture
def swept(ws: Workspace) -> Workspace:
    """One finished sweep, then the file broken, and no state directory in the environment:
    only the file says where the state is."""
    one_project(ws, recording(), paths={"state_dir": "state"})
    first = ws.once()
    assert first.returncode == 0, first.stderr
    del ws.env["AGENTD_STATE_DIR"]
    ws.env["AGENTD_CONFIG"] = str(ws.config)
    return ws


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_status_and_report_show_the_state_with_a_warning(swept: Workspace, kind: str) -> None:
    run_id = swept.state_doc()["runs"][-1]["run_id"]
    swept.config.write_text(BROKEN[kind])
    for args in (["status", "--json"], ["report", "--json"]):
        proc = swept.run(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stderr.startswith(f"agentd: warning: configuration {swept.config}: 1 problem")
        assert WHAT[kind] in proc.stderr
        assert f"(showing state directory {swept.state} without it)" in proc.stderr
        assert "Traceback" not in proc.stderr
        shown = json.loads(proc.stdout)
        found = shown["last_sweep"]["run_id"] if args[0] == "status" else shown["run_id"]
        assert found == run_id, args
    text = swept.run("status")
    assert text.returncode == 0
    assert f"last sweep:  {run_id}" in text.stdout


def test_a_missing_file_stays_an_error_without_a_state_directory(ws: Workspace) -> None:
    """Nothing then says where the state is: an empty status would mislead."""
    del ws.env["AGENTD_STATE_DIR"]
    proc = ws.run("status", "--config", str(ws.root / "missing.toml"))
    assert proc.returncode == 2
    assert "no such file" in proc.stderr
    # Plain `agentd config init` would write the default file, not the one named.
    assert f"create a starter file with `agentd config init {ws.root / 'missing.toml'}`" in (
        proc.stderr
    )
    path = ws.run("config", "path", "--config", str(ws.root / "missing.toml")).stdout
    assert f"missing: `agentd config init {ws.root / 'missing.toml'}` writes" in path
    given = ws.run("status", "--config", str(ws.root / "missing.toml"), "--state-dir", "s")
    assert given.returncode == 0, given.stderr
    assert "warning: configuration" in given.stderr


def test_the_warning_shows_the_first_problems_only(ws: Workspace) -> None:
    ws.write_config("[run]\n" + "".join(f"bogus{i} = 1\n" for i in range(9)))
    proc = ws.run("status", "--config", str(ws.config))
    assert proc.returncode == 0, proc.stderr
    assert "9 problems" in proc.stderr
    assert "unknown key 'bogus2'" in proc.stderr
    assert "bogus5" not in proc.stderr
    assert "(6 more: `agentd config check`)" in proc.stderr


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_config_path_says_which_and_why_even_when_broken(swept: Workspace, kind: str) -> None:
    swept.config.write_text(BROKEN[kind])
    proc = swept.run("config", "path", "--json")
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["config"] | {"problems": []} == {
        "path": str(swept.config),
        "rule": "$AGENTD_CONFIG",
        "exists": True,
        "status": "invalid",
        "problems": [],
        "system_file": "/etc/agentd/config.toml",
    }
    assert WHAT[kind] in found["config"]["problems"][0]
    assert found["state_dir"] == {
        "path": str(swept.state),
        "rule": "[paths] state_dir",
        "exists": True,
        "guess": False,
    }
    text = swept.run("config", "path", "--state-dir", "elsewhere").stdout
    assert f"config:    {swept.config}\n" in text
    assert "chosen by: $AGENTD_CONFIG" in text
    assert "not valid: 1 problem" in text
    assert f"state dir: {swept.root / 'elsewhere'}\n" in text
    assert "chosen by: --state-dir" in text


def test_config_path_with_the_user_s_file(ws: Workspace) -> None:
    user = ws.root / "xdg-config" / "agentd" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[paths]\nstate_dir = "/srv/agentd"\n')
    del ws.env["AGENTD_STATE_DIR"]
    found = json.loads(ws.run("config", "path", "--json").stdout)
    assert (found["config"]["path"], found["config"]["rule"]) == (str(user), "user file")
    assert found["config"]["status"] == "valid"
    assert (found["state_dir"]["path"], found["state_dir"]["rule"]) == (
        "/srv/agentd",
        "[paths] state_dir",
    )


def test_an_unreadable_paths_table_makes_the_state_directory_a_guess_and_says_so(
    swept: Workspace,
) -> None:
    """The file may name a state directory nobody can read now: the default one shown
    instead (maybe another setup's, its daemon and runs) is named, and called a guess."""
    swept.config.write_text('[paths\nstate_dir = "state"\n')
    default = swept.root / "xdg-state" / "agentd"
    proc = swept.run("status")
    assert proc.returncode == 0, proc.stderr
    assert "[paths] could not be read" in proc.stderr
    assert f"the state directory shown, {default}, is a guess" in proc.stderr
    assert "give --state-dir" in proc.stderr
    found = json.loads(swept.run("config", "path", "--json").stdout)["state_dir"]
    assert (found["path"], found["rule"], found["guess"]) == (str(default), "default", True)
    text = swept.run("config", "path").stdout
    assert (
        "chosen by: default ($XDG_STATE_HOME/agentd; the file's [paths] could not be read" in text
    )
    assert "no --state-dir" not in text  # not "the file has no [paths] state_dir"
    # A syntax error elsewhere leaves [paths] readable: no guess, nothing said of one.
    swept.config.write_text("[run\nx = 1\n")
    plain = swept.run("status")
    assert "guess" not in plain.stderr
    assert f"showing state directory {default}" in plain.stderr
    assert json.loads(swept.run("config", "path", "--json").stdout)["state_dir"]["guess"] is False


def test_status_without_a_valid_file_shows_what_is_known_of_the_schedule_and_tasks(
    ws: Workspace,
) -> None:
    """Never "None in None" nor "0/0 of 0": the file's [schedule] when only another table
    is broken, else "unknown"; a project's task count is the file's to say."""
    from tests.builders import proj, write_config

    tasks = {"t": recording("{project}", 0, 7), "u": recording()}
    projects = [proj("api", "t"), proj("web", "u", "u2", depends_on=["api"])]
    write_config(ws, tasks | {"u2": recording()}, projects, schedule={"cron": "0 4 * * *"})
    assert ws.once().returncode == 1
    text = ws.config.read_text()
    ws.config.write_text(text.replace("[tasks.t]", "[tasks.t]\ntypo = 1"))  # [schedule] intact
    status = ws.run("status", "--config", str(ws.config))
    assert status.returncode == 0, status.stderr
    assert "schedule:    '0 4 * * *' in " in status.stdout
    assert "(the file's [schedule]; another table of it is invalid)" in status.stdout
    rows = {line.split()[0]: line for line in status.stdout.splitlines() if line.startswith("  ")}
    assert rows["api"].split()[3:5] == ["0/1", "of"]
    assert rows["api"].split()[5] == "?"
    assert rows["web"].split()[3] == "?", rows["web"]
    shown = json.loads(ws.run("status", "--json", "--config", str(ws.config)).stdout)
    assert [p["tasks"] for p in shown["projects"]] == [None, None]
    assert shown["schedule"]["cron"] == "0 4 * * *"
    # A syntax error elsewhere leaves [schedule] readable on its own; not one inside it.
    ws.config.write_text(text + "\n[run\n")
    assert "schedule:    '0 4 * * *'" in ws.run("status", "--config", str(ws.config)).stdout
    for cron in ('cron = "0 4 * * *', 'cron = "nope"'):
        broken = text.replace('cron = "0 4 * * *"', cron)
        ws.config.write_text(broken)
        proc = ws.run("status", "--config", str(ws.config))
        assert "schedule:    unknown (configuration invalid)\n" in proc.stdout, broken
        assert "None" not in proc.stdout
    missing = ws.run("status", "--config", str(ws.root / "missing.toml"))
    assert "schedule:    unknown (configuration invalid)\n" in missing.stdout
    assert json.loads(ws.run("status", "--json", "--config", str(ws.config)).stdout)["schedule"][
        "unknown"
    ]
