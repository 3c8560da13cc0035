"""Which configuration file and state directory the commands use, and the rule that chose
each (issue 12, item 1), in-process: the lookup is a pure function of the environment, the
files that exist and the system directory, which the tests pass (a tmp dir standing in for
/etc/agentd)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentd.config.lookup import find_config
from agentd.config.resolved import choose_state_dir
from agentd.config.salvage import salvage_paths, salvaged_state_dir

# (name, environment, which files exist, expected file, expected rule); paths are under
# the test's tmp dir: "user" is $XDG_CONFIG_HOME/agentd/config.toml, "system" the stand-in
# for /etc/agentd/config.toml.
CASES = [
    ("nothing: the user's path, to be created", {}, [], "user", "default"),
    ("the user's file", {}, ["user"], "user", "user file"),
    ("the system's, when the user has none", {}, ["system"], "system", "system file"),
    ("the user's before the system's", {}, ["user", "system"], "user", "user file"),
    (
        "$AGENTD_CONFIG before both",
        {"AGENTD_CONFIG": "mine.toml"},
        ["user", "system"],
        "mine.toml",
        "$AGENTD_CONFIG",
    ),
    (
        "$AGENTD_CONFIG even when it does not exist",
        {"AGENTD_CONFIG": "missing.toml"},
        ["system"],
        "missing.toml",
        "$AGENTD_CONFIG",
    ),
    (
        "$CONFIGURATION_DIRECTORY (systemd) before the user's and system's",
        {"CONFIGURATION_DIRECTORY": "unit:other"},
        ["user", "system"],
        "unit/config.toml",
        "$CONFIGURATION_DIRECTORY",
    ),
    (
        "$AGENTD_CONFIG before $CONFIGURATION_DIRECTORY",
        {"AGENTD_CONFIG": "mine.toml", "CONFIGURATION_DIRECTORY": "unit"},
        [],
        "mine.toml",
        "$AGENTD_CONFIG",
    ),
]


@pytest.mark.parametrize(("name", "env", "present", "expected", "rule"), CASES)
def test_config_lookup_order(
    tmp_path: Path, name: str, env: dict[str, str], present: list[str], expected: str, rule: str
) -> None:
    user = tmp_path / "xdg" / "agentd" / "config.toml"
    system_dir = tmp_path / "etc-agentd"
    places = {"user": user, "system": system_dir / "config.toml"}
    for key in present:
        places[key].parent.mkdir(parents=True, exist_ok=True)
        places[key].write_text("")
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    environ |= {k: str(tmp_path / v) for k, v in env.items()}
    path, chosen = find_config(environ, system_dir)
    assert (path, chosen) == (places.get(expected, tmp_path / expected), rule), name


def test_without_xdg_variables_the_user_paths_are_under_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config" / "agentd").mkdir(parents=True)
    (home / ".config" / "agentd" / "config.toml").write_text("")
    system_dir = tmp_path / "etc-agentd"
    system_dir.mkdir()
    (system_dir / "config.toml").write_text("")
    found = find_config({"HOME": str(home)}, system_dir)
    assert found == (home / ".config" / "agentd" / "config.toml", "user file")
    state = choose_state_dir(None, None, None, {"HOME": str(home)})
    assert state == (home / ".local" / "state" / "agentd", "default")


# (name, --state-dir, environment, [paths] state_dir, expected, rule); relative settings
# are relative to the file's directory, "base".
STATE_CASES = [
    ("the default", None, {}, None, "xdg-state/agentd", "default"),
    ("systemd's", None, {"STATE_DIRECTORY": "unit:x"}, None, "unit", "$STATE_DIRECTORY"),
    ("the file's", None, {"STATE_DIRECTORY": "unit"}, "/abs", "/abs", "[paths] state_dir"),
    ("the file's, relative", None, {}, "st", "base/st", "[paths] state_dir"),
    ("$AGENTD_STATE_DIR", None, {"AGENTD_STATE_DIR": "env"}, "/abs", "env", "$AGENTD_STATE_DIR"),
    ("--state-dir", "opt", {"AGENTD_STATE_DIR": "env"}, "/abs", "opt", "--state-dir"),
]


@pytest.mark.parametrize(("name", "override", "env", "setting", "expected", "rule"), STATE_CASES)
def test_state_dir_order(
    tmp_path: Path,
    name: str,
    override: str | None,
    env: dict[str, str],
    setting: str | None,
    expected: str,
    rule: str,
) -> None:
    environ = {"XDG_STATE_HOME": str(tmp_path / "xdg-state")}
    environ |= {k: str(tmp_path / v) for k, v in env.items()}
    opt = str(tmp_path / override) if override else None
    found = choose_state_dir(setting, tmp_path / "base", opt, environ)
    assert found == (tmp_path / expected, rule), name


# What the read commands can still learn from a file that does not validate.
SALVAGE = [
    ("a schema error elsewhere", '[paths]\nstate_dir = "/s"\n[run]\nbogus = 1\n', "/s"),
    ("a syntax error elsewhere", '[paths]\nstate_dir = "/s"\n[[projects]\nname =\n', "/s"),
    ("a syntax error before it", '[run\n[paths] # here\nstate_dir = "/s"\n[log]\n', "/s"),
    ("the section spelt otherwise", '[Paths]\nstate_dir = "/s"\n[x\n', "/s"),
    ("a syntax error inside it", '[paths]\nstate_dir = "/s\n', None),
    ("no [paths]", "[run\n", None),
    ("not a string", "[paths]\nstate_dir = 3\n", None),
]


@pytest.mark.parametrize(("name", "text", "expected"), SALVAGE)
def test_state_dir_salvaged_from_a_broken_file(
    tmp_path: Path, name: str, text: str, expected: str | None
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    assert salvaged_state_dir(path, {}) == expected, name


def test_the_environment_override_wins_over_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[paths]\nstate_dir = "/s"\n[x\n')
    assert salvaged_state_dir(path, {"AGENTD_PATHS__STATE_DIR": "/env"}) == "/env"
    assert salvaged_state_dir(tmp_path / "missing.toml", {}) is None


# Whether a broken file may name a state directory that could not be read: then any
# other choice is a guess, and the commands say so.
UNREAD = [
    ("a broken [paths] header", '[paths\nstate_dir = "/s"\n', True),
    ("a syntax error inside [paths]", '[paths]\nstate_dir = "/s\n', True),
    ("a dotted key in a broken file", 'paths.state_dir = "/s"\n[x\n', True),
    ("not a string", "[paths]\nstate_dir = 3\n", True),
    ("a syntax error elsewhere, no [paths]", "[run\n# [paths] in a comment\n", False),
    ("a schema error elsewhere, no [paths]", "[run]\nbogus = 1\n", False),
    ("read", '[paths]\nstate_dir = "/s"\n[x\n', False),
]


@pytest.mark.parametrize(("name", "text", "unread"), UNREAD)
def test_an_unreadable_paths_table_is_told_from_none(
    tmp_path: Path, name: str, text: str, unread: bool
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    assert salvage_paths(path, {}).unread is unread, name
    assert salvage_paths(tmp_path / "missing.toml", {}).unread is False
    path.write_bytes(b"\xff[paths]\n")
    assert salvage_paths(path, {}).unread is True  # not UTF-8: nothing of it is known
