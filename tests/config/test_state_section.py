"""``[state]``, ``[run] max_parallel_agents_global`` and a project's ``hosts``: every rule of
the new keys, their environment overrides, and the url kept secret in every message and in
``config show``."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path
from typing import Any

import pytest

from agentd.config import ConfigError, load_config
from agentd.config.conninfo import masked
from agentd.config.model import RunSection
from agentd.config.secrets import MASK
from agentd.config.starter import STARTER
from agentd.daemon.tasks.taskcmd import base_env
from tests.builders import proj, recording, toml, write_config
from tests.helpers import Workspace

PASSWORD = "S3cr3t-pw"
PG_URL = f"postgresql://agentd:{PASSWORD}@db1.internal:5433/nightly?sslmode=require"
KV_URL = f"host=db1.internal port=5433 dbname=nightly user=agentd password={PASSWORD}"


def _write(path: Path, state: dict[str, Any] | None = None, **more: Any) -> Path:
    doc: dict[str, Any] = {
        "tasks": {"t": recording()},
        "projects": [proj("p", "t", **more.pop("project", {}))],
        **more,
    }
    if state is not None:
        doc["state"] = state
    path.write_text(toml(doc))
    return path


def _problems(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {})
    return caught.value.render()


def test_defaults(tmp_path: Path) -> None:
    settings = load_config(_write(tmp_path / "c.toml"), {}).settings
    assert settings.state.backend == "json"
    assert settings.state.url is None
    assert settings.state.host is None
    assert settings.state.claim_stale_after == 300.0
    assert settings.state.retry_for == 60.0
    assert settings.run.max_parallel_agents_global == 0
    assert settings.projects[0].hosts == []


def test_a_full_postgres_state_loads(tmp_path: Path) -> None:
    state = {
        "backend": "POSTGRES",  # as every other choice: case does not matter
        "url": KV_URL,
        "host": "build-1.lan",
        "claim_stale_after": "90s",
        "retry_for": "0s",
    }
    path = _write(
        tmp_path / "c.toml",
        state,
        run={"max_parallel_agents_global": 3},
        project={"hosts": ["build-1*", "gpu-[0-9]", "x?"]},
    )
    settings = load_config(path, {}).settings
    assert (settings.state.backend, settings.state.url) == ("postgres", KV_URL)
    assert (settings.state.host, settings.state.claim_stale_after) == ("build-1.lan", 90.0)
    assert settings.state.retry_for == 0.0
    assert settings.run.max_parallel_agents_global == 3
    assert settings.projects[0].hosts == ["build-1*", "gpu-[0-9]", "x?"]


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, file's tables, place, words)
    ("unknown backend", {"state": {"backend": "sqlite"}}, "state.backend", "'json' or 'postgres'"),
    ("backend not a string", {"state": {"backend": 1}}, "state.backend", "'json' or 'postgres'"),
    ("postgres without a url", {"state": {"backend": "postgres"}}, "state", "needs a url"),
    ("a url with json", {"state": {"url": "dbname=x"}}, "state", "used only with backend"),
    ("an empty url", {"state": {"backend": "postgres", "url": ""}}, "state.url", "not be empty"),
    (
        "a url that is no conninfo",
        {"state": {"backend": "postgres", "url": f"nonsense{PASSWORD}"}},
        "state.url",
        "not a libpq connection string",
    ),
    (
        "a misspelt parameter",
        {"state": {"backend": "postgres", "url": f"host=db1 pasword={PASSWORD}"}},
        "state.url",
        'invalid connection option "pasword"',
    ),
    (
        "a broken percent-escape in the password",
        {"state": {"backend": "postgres", "url": f"postgresql://u:%zz{PASSWORD}@h/db"}},
        "state.url",
        "invalid percent-encoded token",
    ),
    ("url not a string", {"state": {"backend": "postgres", "url": 5}}, "state.url", "masked"),
    ("host with a space", {"state": {"host": "build 1"}}, "state.host", "is not a host name"),
    ("host starting with a dash", {"state": {"host": "-x"}}, "state.host", "is not a host name"),
    ("host with an escape", {"state": {"host": "a\x1b[2J"}}, "state.host", "is not a host name"),
    ("host not a string", {"state": {"host": 7}}, "state.host", "valid string"),
    ("zero stale time", {"state": {"claim_stale_after": "0s"}}, "state.claim_stale_after", "0s"),
    (
        "stale time as a number",
        {"state": {"claim_stale_after": 300}},
        "state.claim_stale_after",
        "duration string",
    ),
    ("retry_for not a duration", {"state": {"retry_for": "soon"}}, "state.retry_for", "duration"),
    ("unknown key", {"state": {"ulr": "x"}}, "state.ulr", "did you mean 'url'"),
    (
        "global agent bound negative",
        {"run": {"max_parallel_agents_global": -1}},
        "run.max_parallel_agents_global",
        "at least 0",
    ),
    (
        "global agent bound too large",
        {"run": {"max_parallel_agents_global": 1025}},
        "run.max_parallel_agents_global",
        "at most 1024",
    ),
    (
        "global agent bound as a string",
        {"run": {"max_parallel_agents_global": "2"}},
        "run.max_parallel_agents_global",
        "valid integer",
    ),
    ("hosts not a list", {"project": {"hosts": "build-1"}}, "projects[p].hosts", "valid list"),
    ("an empty host pattern", {"project": {"hosts": [""]}}, "projects[p].hosts[0]", "pattern"),
    ("a pattern with a space", {"project": {"hosts": ["a b"]}}, "projects[p].hosts[0]", "pattern"),
    ("a pattern not a string", {"project": {"hosts": [1]}}, "projects[p].hosts[0]", "string"),
]


@pytest.mark.parametrize(
    ("tables", "place", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_rule_names_the_place(
    tmp_path: Path, tables: dict[str, Any], place: str, words: str
) -> None:
    tables = dict(tables)
    state = tables.pop("state", None)
    text = _problems(_write(tmp_path / "c.toml", state, **tables))
    assert f"  {place}: " in text, text
    assert words in text, text
    assert PASSWORD not in text


def test_bounds_of_durations_are_said_as_durations(tmp_path: Path) -> None:
    text = _problems(_write(tmp_path / "c.toml", {"claim_stale_after": "0s"}))
    assert "state.claim_stale_after: must be more than 0s" in text


def test_a_state_given_as_a_string_is_masked(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'state = "{PG_URL}"\n')
    text = _problems(path)
    assert "  state: " in text
    assert PASSWORD not in text
    assert "db1" not in text


def test_environment_overrides(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.toml")
    environ = {
        "AGENTD_STATE__BACKEND": "postgres",
        "AGENTD_STATE__URL": PG_URL,
        "AGENTD_STATE__HOST": "gpu-2",
        "AGENTD_STATE__CLAIM_STALE_AFTER": "2s",
        "AGENTD_STATE__RETRY_FOR": "250ms",
        "AGENTD_RUN__MAX_PARALLEL_AGENTS_GLOBAL": "4",
    }
    settings = load_config(path, environ).settings
    assert (settings.state.backend, settings.state.url, settings.state.host) == (
        "postgres",
        PG_URL,
        "gpu-2",
    )
    assert (settings.state.claim_stale_after, settings.state.retry_for) == (2.0, 0.25)
    assert settings.run.max_parallel_agents_global == 4


def test_a_bad_override_names_the_variable_and_hides_the_url(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.toml", {"backend": "postgres", "url": "dbname=x"})
    text = _problems(path, {"AGENTD_STATE__URL": f"host=db1 password={PASSWORD} bogus"})
    assert "state.url: " in text
    assert "(from environment variable AGENTD_STATE__URL)" in text
    assert PASSWORD not in text
    text = _problems(path, {"AGENTD_STATE__HOST": "not a host"})
    assert "(from environment variable AGENTD_STATE__HOST)" in text


def test_a_url_from_the_environment_with_the_json_backend_is_refused(tmp_path: Path) -> None:
    text = _problems(_write(tmp_path / "c.toml"), {"AGENTD_STATE__URL": PG_URL})
    assert 'url is used only with backend = "postgres"' in text
    assert PASSWORD not in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            PG_URL,
            f"host=db1.internal port=5433 dbname=nightly user=agentd password={MASK} "
            f"sslmode={MASK}",
        ),
        (KV_URL, f"host=db1.internal port=5433 dbname=nightly user=agentd password={MASK}"),
        ("dbname=agentd", "dbname=agentd"),  # nothing hidden: nothing masked
        ("host='/run/my pg' dbname=a", "host='/run/my pg' dbname=a"),  # quoted as libpq reads
        ("not a url at all", MASK),
    ],
)
def test_masked_url(url: str, shown: str) -> None:
    assert masked(url) == shown


def _show(ws: Workspace, environ: dict[str, str] | None = None) -> str:
    ws.env |= environ or {}
    shown = ws.run("config", "show", "--config", str(ws.config), "--state-dir", str(ws.state))
    assert shown.returncode == 0, shown.stderr
    assert PASSWORD not in shown.stdout + shown.stderr
    return shown.stdout


def test_show_masks_the_url_from_the_file_and_from_the_environment(ws: Workspace) -> None:
    write_config(
        ws,
        {"t": recording()},
        [proj("p", "t", hosts=["build-*"])],
        state={"backend": "postgres", "url": PG_URL, "host": "build-1"},
        run={"max_parallel_agents_global": 2},
    )
    text = _show(ws)
    data = tomllib.loads(text)
    assert data["state"] == {
        "backend": "postgres",
        "url": masked(PG_URL),
        "host": "build-1",
        "claim_stale_after": "5m",
        "retry_for": "1m",
    }
    assert data["run"]["max_parallel_agents_global"] == 2
    assert data["projects"][0]["hosts"] == ["build-*"]
    # Loaded back, the masked url still reads as a url of the same server.
    again = ws.root / "shown.toml"
    again.write_text(text)
    check = ws.run("config", "check", "--config", str(again))
    assert check.returncode == 0, check.stderr

    data = tomllib.loads(_show(ws, {"AGENTD_STATE__URL": KV_URL}))
    assert data["state"]["url"] == masked(KV_URL)


def test_show_names_this_host_when_the_file_does_not(ws: Workspace) -> None:
    write_config(ws, {"t": recording()}, [proj("p", "t")])
    data = tomllib.loads(_show(ws))
    assert data["state"]["backend"] == "json"
    assert "url" not in data["state"]
    assert data["state"]["host"] == socket.gethostname()


def test_the_starters_state_block_is_valid_when_uncommented(tmp_path: Path) -> None:
    """The starter shows [state] commented out: uncommented as it stands, it is valid."""
    lines = STARTER.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("# [state]")))
    block = []
    for line in lines[start:]:
        if not line.startswith("# "):
            break
        block.append(line[2:])
    path = tmp_path / "c.toml"
    path.write_text("\n".join(block) + "\n")
    state = load_config(path, {}).settings.state
    assert state.backend == "postgres"
    assert state.url is not None
    assert state.host is not None


def test_the_url_from_the_environment_is_not_passed_to_tasks() -> None:
    """The database's credential is agentd's: a task (an agent) holding it could rewrite
    every host's state, and a task printing its environment would put it in the report."""
    env = base_env({"PATH": "/bin", "AGENTD_STATE__URL": PG_URL}, RunSection())
    assert "AGENTD_STATE__URL" not in env
    assert env["PATH"] == "/bin"


def test_check_names_the_shared_store_without_its_password(ws: Workspace) -> None:
    write_config(
        ws,
        {"t": recording()},
        [proj("p", "t")],
        state={"backend": "postgres", "url": PG_URL, "host": "build-1"},
    )
    check = ws.run("config", "check", "--config", str(ws.config))
    assert check.returncode == 0, check.stderr
    assert f"  state: shared on PostgreSQL {masked(PG_URL)}, this host build-1" in check.stdout
    assert PASSWORD not in check.stdout + check.stderr
