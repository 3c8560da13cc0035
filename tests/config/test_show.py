"""`agentd config show`: compact TOML (arrays on one line, no empty tables) holding every
effective value, inherited ones included, that loads back as the same configuration, with
its secrets masked."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from agentd.config import load_config
from agentd.config.secrets import MASK, masked_url
from tests.builders import ask, cmd, proj, sh, write_config
from tests.helpers import Workspace

SECRETS = ("tok-run-5ecret", "tok-proj-5ecret", "T0K3NPATH", "Bearer hdr-5ecret")


def _configure(ws: Workspace) -> None:
    write_config(
        ws,
        {
            "lint": cmd("ruff", "check", "."),
            "test": sh("pytest -q", timeout="5m"),
            "review": ask("claude", "Review the last commits"),
        },
        [
            {"name": "api", "path": "api", "depends_on": ["lib"]},  # inherits everything
            proj("lib", "lint", require_clean=False, isolation="worktree"),
            {"name": "web", "path": "web", "env": {"API_TOKEN": SECRETS[1], "MODE": "night"}},
            proj("docs", "review", enabled=False),
        ],
        defaults={"tasks": ["lint", "test"], "require_clean": True},
        run={"env": {"SERVICE_TOKEN": SECRETS[0], "LANG": "C.UTF-8"}, "path": ["/opt/bin"]},
        notify={
            "webhook": f"https://hooks.example.com/services/{SECRETS[2]}",
            "headers": {"Authorization": SECRETS[3]},
            "ping_url": f"http://127.0.0.1:18765/{SECRETS[2]}",
        },
    )


def _show(ws: Workspace, config: Path) -> str:
    shown = ws.run("config", "show", "--config", str(config), "--state-dir", str(ws.state))
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def test_show_gives_every_effective_value_and_loads_back_as_the_same(ws: Workspace) -> None:
    _configure(ws)
    text = _show(ws, ws.config)
    data = tomllib.loads(text)
    projects = {p["name"]: p for p in data["projects"]}
    # Inherited from [defaults], or the project's own.
    assert projects["api"]["tasks"] == ["lint", "test"]
    assert (projects["api"]["require_clean"], projects["api"]["isolation"]) == (True, "none")
    assert projects["lib"]["tasks"] == ["lint"]
    assert (projects["lib"]["require_clean"], projects["lib"]["isolation"]) == (False, "worktree")
    assert projects["docs"]["enabled"] is False
    # A task's own timeout, or [run]'s; the built-in agent's command.
    assert data["tasks"]["test"]["timeout"] == "5m"
    assert data["tasks"]["lint"]["timeout"] == data["run"]["task_timeout"]
    assert data["tasks"]["lint"]["max_log_size"] == data["run"]["max_log_size"]
    assert "{prompt}" in data["agents"]["claude"]["command"]
    assert data["paths"]["state_dir"] == str(ws.state)

    # Loaded back, it is the same configuration: showing it again gives the same TOML.
    again = ws.root / "shown.toml"
    again.write_text(text)
    assert tomllib.loads(_show(ws, again)) == data
    original, reloaded = load_config(ws.config, {}), load_config(again, {})
    for name in projects:
        spec, back = original.project(name), reloaded.project(name)
        assert reloaded.task_names(back) == original.task_names(spec)
        assert reloaded.require_clean(back) == original.require_clean(spec)
        assert reloaded.isolation(back) == original.isolation(spec)
        assert reloaded.project_dir(back) == original.project_dir(spec)
    assert reloaded.settings.run.model_dump(exclude={"env"}) == original.settings.run.model_dump(
        exclude={"env"}
    )

    # Secrets stay masked, in the first showing and in the second.
    for secret in SECRETS:
        assert secret not in text
    assert data["run"]["env"] == {"SERVICE_TOKEN": MASK, "LANG": "C.UTF-8"}
    assert projects["web"]["env"] == {"API_TOKEN": MASK, "MODE": "night"}
    assert data["notify"]["webhook"] == f"https://hooks.example.com/{MASK}"  # marked as cut
    assert data["notify"]["ping_url"] == f"http://127.0.0.1:18765/{MASK}"
    assert data["notify"]["headers"] == {"Authorization": MASK}


def test_show_is_compact_toml(ws: Workspace) -> None:
    _configure(ws)
    lines = _show(ws, ws.config).splitlines()
    # Arrays on one line: no line opens an array it does not close.
    assert not [line for line in lines if line.rstrip().endswith("[")]
    assert 'tasks = ["lint", "test"]' in lines
    assert 'command = ["ruff", "check", "."]' in lines
    # No empty tables: every [table] header is followed by a key of its own.
    headers = [i for i, line in enumerate(lines) if re.match(r"^\[\[?[^\]]+\]\]?$", line)]
    for i in headers:
        following = lines[i + 1] if i + 1 < len(lines) else ""
        assert re.match(r"^[A-Za-z0-9_\"-]+ = ", following), lines[i]
    # A project's environment is one line with the project, not a table after it.
    assert not [line for line in lines if line.startswith("[projects.")]
    assert not [line for line in lines if line in ("[metrics]", "[budget.agents]", "[agents]")]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/services/T/B/x", f"https://hooks.example.com/{MASK}"),
        ("http://127.0.0.1:18765/ping/uuid", f"http://127.0.0.1:18765/{MASK}"),
        ("https://u:pw@hc.example/", f"https://hc.example/{MASK}"),
        ("https://hc.example?k=v", f"https://hc.example/{MASK}"),
        ("https://hc.example/", "https://hc.example"),  # nothing cut: nothing marked
        ("https://hc.example", "https://hc.example"),
    ],
)
def test_a_masked_url_says_it_was_cut(url: str, shown: str) -> None:
    assert masked_url(url) == shown
    assert masked_url(shown) == shown  # shown again, it stays as it is


def test_show_gives_project_paths_without_dot_dot_unless_a_symlink_makes_it_matter(
    ws: Workspace,
) -> None:
    """``path = "../proj/api"`` in ``c2/config.toml`` is shown as ``proj/api``; through a
    symlinked directory, ``..`` goes elsewhere, and the path is kept as written."""
    (ws.root / "c2").mkdir()
    (ws.root / "proj" / "api").mkdir(parents=True)
    (ws.root / "elsewhere" / "deep").mkdir(parents=True)
    (ws.root / "link").symlink_to(ws.root / "elsewhere" / "deep")
    (ws.root / "elsewhere" / "api").mkdir()
    config = ws.root / "c2" / "config.toml"
    config.write_text(
        '[tasks.t]\ncommand = ["true"]\n'
        '[[projects]]\nname = "a"\npath = "../proj/api"\ntasks = ["t"]\n'
        f'[[projects]]\nname = "b"\npath = "{ws.root}/link/../api"\ntasks = ["t"]\n'
    )
    shown = {p["name"]: p["path"] for p in tomllib.loads(_show(ws, config))["projects"]}
    assert shown == {"a": str(ws.root / "proj" / "api"), "b": f"{ws.root}/link/../api"}
