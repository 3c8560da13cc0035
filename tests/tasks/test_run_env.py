"""``[run] env`` and ``[run] path``: the environment every task starts from.

Under a system unit agentd starts with systemd's bare PATH; these keys are how a linter in
~/.local/bin or an agent CLI in npm's bin is found at 02:30.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentd.config.model import RunSection
from agentd.config.secrets import MASK
from agentd.daemon.tasks.taskcmd import base_env
from tests.builders import proj, sh, write_config
from tests.helpers import Workspace


def _tool(directory: Path, name: str, text: str) -> None:
    """A program that exists only in ``directory``: found through [run] path or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / name
    script.write_text(f"#!/bin/sh\necho {text}\n")
    script.chmod(0o755)


BARE = {"PATH": "/usr/bin:/bin", "HOME": "/h", "NOTIFY_SOCKET": "/run/x"}


@pytest.mark.parametrize(
    ("run", "environ", "path", "extra"),
    [
        # Nothing set: the inherited PATH, the supervisor's socket gone.
        ({}, BARE, "/usr/bin:/bin", {}),
        # path goes in front of the inherited PATH, in its own order.
        (
            {"path": ["/opt/tools/bin", "/srv/bin"]},
            BARE,
            "/opt/tools/bin:/srv/bin:/usr/bin:/bin",
            {},
        ),
        # env's PATH replaces the inherited one, and path still goes in front of it.
        (
            {"env": {"PATH": "/usr/local/bin:/usr/bin", "LANG": "C.UTF-8"}, "path": ["/x"]},
            BARE,
            "/x:/usr/local/bin:/usr/bin",
            {"LANG": "C.UTF-8"},
        ),
        # No PATH at all: what execvp would have searched stays after ours.
        ({"path": ["/x"]}, {"HOME": "/h"}, f"/x:{os.defpath}", {}),
    ],
)
def test_base_env(
    run: dict[str, object], environ: dict[str, str], path: str, extra: dict[str, str]
) -> None:
    env = base_env(environ, RunSection.model_validate(run))
    assert env["PATH"] == path
    assert "NOTIFY_SOCKET" not in env
    for key, value in extra.items():
        assert env[key] == value


def test_run_path_finds_a_program_outside_path(ws: Workspace) -> None:
    tools = ws.root / "home" / ".local" / "bin"
    _tool(tools, "nightly-lint", "linted-ok")
    write_config(ws, {"lint": {"command": ["nightly-lint"]}}, [proj("p", "lint")])
    code, report = ws.once_json()
    assert code == 1, report
    assert report["projects"][0]["tasks"][0]["status"] == "error"

    write_config(
        ws,
        {"lint": {"command": ["nightly-lint"]}},
        [proj("p", "lint")],
        run={"path": ["~/.local/bin"]},
    )
    code, report = ws.once_json("--force")
    assert code == 0, report
    log = next((ws.state / "runs").glob(f"{report['run_id']}/p/lint.log"))
    assert "linted-ok" in log.read_text()


def test_run_env_reaches_every_task_and_the_project_env_wins(ws: Workspace) -> None:
    write_config(
        ws,
        {"show": sh('echo "lang=$NIGHT_LANG mode=$NIGHT_MODE"')},
        [proj("a", "show"), proj("b", "show", env={"NIGHT_MODE": "project"})],
        run={"env": {"NIGHT_LANG": "C.UTF-8", "NIGHT_MODE": "global"}},
    )
    code, report = ws.once_json()
    assert code == 0, report
    runs = ws.state / "runs" / report["run_id"]
    assert "lang=C.UTF-8 mode=global" in (runs / "a" / "show.log").read_text()
    assert "lang=C.UTF-8 mode=project" in (runs / "b" / "show.log").read_text()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"run": {"path": ["/a:/b"]}}, "one directory per element"),
        ({"run": {"env": {"BAD-NAME": "x"}}}, "not a valid environment variable name"),
        ({"notify": {"ping_url": "hc-ping.com/abc"}}, "http:// or https:// URL"),
        ({"metrics": {"textfile": "/var/lib/node/agentd.txt"}}, "ending in .prom"),
    ],
)
def test_invalid_keys_are_refused(
    ws: Workspace, section: dict[str, dict[str, object]], message: str
) -> None:
    write_config(ws, {"t": sh("true")}, [proj("p", "t")], **section)
    proc = ws.run("config", "check", "--config", str(ws.config))
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr


def test_secrets_of_run_env_and_of_agentd_own_environment_are_masked(ws: Workspace) -> None:
    """A failing task that prints its tokens: the report quotes its output, and every
    secret-named variable the task was given is masked there, not only the project's."""
    ws.env["INHERITED_API_KEY"] = "inherited-secret-5150"
    write_config(
        ws,
        {"leak": sh('echo "run=$RUN_TOKEN inherited=$INHERITED_API_KEY"; exit 3')},
        [proj("p", "leak")],
        run={"env": {"RUN_TOKEN": "run-secret-4242"}},
    )
    code, report = ws.once_json()
    assert code == 1, report
    tail = report["projects"][0]["tasks"][0]["output_tail"]
    assert tail == f"run={MASK} inherited={MASK}"
    shown = ws.run("report", "--config", str(ws.config)).stdout
    assert "secret-4242" not in shown
    assert "secret-5150" not in shown


LIBPQ = {"PGPASSWORD": "pg-secret-7373", "PGPASSFILE": "/x/pgpass", "PGSERVICEFILE": "/x/svc"}


def _printed_env(ws: Workspace, report: dict[str, object], project: str) -> dict[str, str]:
    log = ws.state / "runs" / str(report["run_id"]) / project / "show.log"
    return dict(line.partition("=")[::2] for line in log.read_text().splitlines())


def test_the_shared_stores_credentials_never_reach_a_task(ws: Workspace, pg_url: str) -> None:
    """agentd on PostgreSQL: its URL (however spelt: the loader reads AGENTD_State__Url)
    and libpq's password sources are agentd's, not its tasks'; a task needing a database
    of its own gets one through [run] env or its project's env."""
    ws.env |= {"AGENTD_State__Url": pg_url, "AGENTD_STATE__BACKEND": "postgres", **LIBPQ}
    write_config(
        ws,
        {"show": sh("env")},
        [proj("a", "show"), proj("b", "show", env={"PGPASSWORD": "own-db"})],
        run={"env": {"PGSERVICEFILE": "/own/svc"}},
    )
    code, report = ws.once_json()
    assert code == 0, report
    a, b = _printed_env(ws, report, "a"), _printed_env(ws, report, "b")
    for env in (a, b):
        assert not {k for k in env if k.upper() == "AGENTD_STATE__URL"}, env
        assert "PGPASSFILE" not in env
        assert env["PGSERVICEFILE"] == "/own/svc"
        assert env["AGENTD_STATE__BACKEND"] == "postgres"  # not a secret: kept as ever
    assert "PGPASSWORD" not in a
    assert b["PGPASSWORD"] == "own-db"


def test_libpq_variables_reach_tasks_when_the_state_is_not_on_postgresql(
    ws: Workspace,
) -> None:
    ws.env |= {"AGENTD_state__URL": "", **LIBPQ}  # empty: no override, still never passed
    write_config(ws, {"show": sh("env")}, [proj("a", "show")])
    code, report = ws.once_json()
    assert code == 0, report
    env = _printed_env(ws, report, "a")
    assert {k: env.get(k) for k in LIBPQ} == LIBPQ
    assert "AGENTD_state__URL" not in env
