"""Bad configuration, fuzzed: never a traceback, always exit 2 naming the place, never a write.

Hypothesis mutates a valid configuration. Every mutation is checked in-process against
``load_config`` (hundreds of examples, fast), and a sample runs through the real CLI.
"""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentd.config import ConfigError, load_config
from tests.builders import proj, recording, write_config
from tests.helpers import AGENTD, Workspace

VALID: dict[str, Any] = {
    "schedule": {
        "cron": "30 2 * * *",
        "timezone": "UTC",
        "catch_up": "once",
        "catch_up_window": "12h",
        "jitter": "0s",
    },
    "run": {
        "project_parallelism": True,
        "max_parallel_projects": 2,
        "max_projects": 0,
        "task_timeout": "1m",
        "kill_grace": "2s",
        "on_task_failure": "continue",
        "keep_runs": 5,
    },
    "log": {"level": "info", "format": "json"},
    "defaults": {"tasks": ["lint"]},
    "agents": {"mine": {"command": ["echo", "{prompt}"]}},
    "tasks": {
        "lint": {"command": ["true"], "timeout": "10s"},
        "ask": {"agent": "mine", "prompt": "look at {project}"},
        "notes": {"shell": "true"},
    },
    "projects": [
        {
            "name": "api",
            "path": "api",
            "tasks": ["lint", "ask"],
            "depends_on": [],
            "enabled": True,
            "env": {"A": "1"},
        },
        {"name": "web", "path": "web", "depends_on": ["api"]},
    ],
}

SCALARS = st.one_of(
    # values a lax parser would coerce ("2" for 2, 1 for true): strictness must refuse them
    st.sampled_from(["1", "2", "true", "yes", "10m", 1, 0, 2.0, 1.0]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(min_size=1, max_size=4), st.integers(), max_size=2),
)
NAMES = st.text(min_size=0, max_size=16)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _tables(doc: dict[str, Any]) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every table of the document with its location."""
    out: list[tuple[tuple[Any, ...], dict[str, Any]]] = [((), doc)]
    for key, value in doc.items():
        if isinstance(value, dict):
            out += [((key, *loc), table) for loc, table in _tables(value)]
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    out += [((key, i, *loc), table) for loc, table in _tables(item)]
    return out


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, str, bool]:
    """(file content, what was done, whether it must be refused) for mutations of VALID."""
    kind = draw(
        st.sampled_from(
            [
                "type",
                "unknown",
                "number",
                "cron",
                "zone",
                "cycle",
                "duplicate",
                "names",
                "empty",
                "garbage",
                "several",
                "deep",
                "huge",
                "long",
                "control",
                "bom",
            ]
        )
    )
    doc = copy.deepcopy(VALID)
    if kind == "empty":
        return b"", kind, False
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=200)), kind, False
    if kind in ("deep", "huge"):
        # Values no TOML writer makes: arrays or inline tables nested past Python's
        # recursion limit, numbers of thousands of digits. Put where a value was.
        loc, table = draw(st.sampled_from([t for t in _tables(doc) if t[1]]))
        key = draw(st.sampled_from(sorted(table)))
        table[key] = "@@BOMB@@"
        if kind == "huge":
            bomb = draw(st.sampled_from(["", "-"])) + "9" * draw(st.integers(1000, 12000))
        else:
            depth = draw(st.integers(200, 3000))
            bomb = draw(
                st.sampled_from(["[" * depth + "]" * depth, "{a = " * depth + "1" + "}" * depth])
            )
        return tomli_w.dumps(doc).replace('"@@BOMB@@"', bomb).encode(), kind, True
    if kind == "bom":  # a UTF-8 byte order mark, as some Windows editors write: accepted
        return b"\xef\xbb\xbf" + tomli_w.dumps(doc).encode(), kind, False
    if kind == "long":
        # Names too long for a file name once UTF-8 (100 emoji are 400 bytes), or keys of
        # thousands of characters: refused, and no message grows with them.
        which = draw(st.sampled_from(["project", "task", "key"]))
        long_name = draw(st.sampled_from(["\U0001f600" * 100, "é" * 101, "k" * 20000]))
        if which == "project":
            doc["projects"][0]["name"] = long_name
        elif which == "task":
            doc["tasks"][long_name] = {"command": ["true"]}
        else:
            doc["run"][long_name] = 1
        return tomli_w.dumps(doc).encode(), kind, True
    if kind == "control":
        # Escape sequences and text-direction marks in names and in a reason's path.
        bad = draw(st.sampled_from(["\x1b[2J", "\x1b]0;owned\x07", "\x9b31m", "\u202eevil", "\r"]))
        which = draw(st.sampled_from(["project", "task", "agent"]))
        if which == "project":
            doc["projects"][0]["name"] = "api" + bad
        elif which == "task":
            doc["tasks"]["x" + bad] = {"command": ["true"]}
        else:
            doc["agents"]["a" + bad] = {"command": ["echo", "{prompt}"]}
        return tomli_w.dumps(doc).encode(), kind, True
    must_fail = False
    rounds = draw(st.integers(2, 5)) if kind == "several" else 1
    for _ in range(rounds):
        what = (
            draw(
                st.sampled_from(
                    ["type", "unknown", "number", "cron", "zone", "cycle", "duplicate", "names"]
                )
            )
            if kind == "several"
            else kind
        )
        tables = _tables(doc)
        loc, table = draw(st.sampled_from(tables))
        if what == "type" and table:
            key = draw(st.sampled_from(sorted(table)))
            old, table[key] = table[key], draw(SCALARS)
            # TOML types are taken at their word: another type is always refused.
            must_fail |= type(table[key]) is not type(old)
        elif what == "unknown":
            taken = set(table)
            key = draw(NAMES.filter(lambda k: k not in taken))
            table[key] = value = draw(SCALARS)
            # Unknown keys are refused at every level; only an env table takes any name.
            env_ok = isinstance(value, str) and ENV_NAME.match(key) and "\x00" not in value
            must_fail |= not (loc and loc[-1] == "env" and env_ok)
        elif what == "number":
            key, lowest = draw(
                st.sampled_from(
                    [("max_parallel_projects", 1), ("max_projects", 0), ("keep_runs", 1)]
                )
            )
            bad = st.one_of(
                st.integers(max_value=lowest - 1), st.integers(min_value=2**40, max_value=2**63 - 1)
            )
            if isinstance(doc.get("run"), dict):
                doc["run"][key] = draw(bad)
        elif what == "cron":
            schedule = doc["schedule"] if isinstance(doc.get("schedule"), dict) else {}
            doc["schedule"] = schedule
            schedule["cron"] = draw(
                st.one_of(
                    st.text(max_size=30),
                    st.sampled_from(
                        ["61 * * * *", "* * * * 8", "@never", "* *", "*/0 * * * *", "1-0 * * * *"]
                    ),
                )
            )
        elif what == "zone":
            schedule = doc["schedule"] if isinstance(doc.get("schedule"), dict) else {}
            doc["schedule"] = schedule
            schedule["timezone"] = draw(
                st.one_of(
                    st.text(max_size=20), st.just("Mars/Olympus"), st.just("../../etc/passwd")
                )
            )
        elif (
            what == "cycle" and isinstance(doc.get("projects"), list) and len(doc["projects"]) >= 2
        ):
            first = doc["projects"][0]
            if isinstance(first, dict):
                first["depends_on"] = ["web"]
        elif what == "duplicate" and isinstance(doc.get("projects"), list):
            doc["projects"].append(copy.deepcopy(VALID["projects"][0]))
            if kind == "duplicate":
                doc["projects"][-1]["depends_on"] = []
        elif what == "names" and isinstance(doc.get("projects"), list) and doc["projects"]:
            project = doc["projects"][-1]
            if isinstance(project, dict):
                project["name"] = draw(NAMES)
                project["path"] = draw(NAMES)
    must_fail = must_fail and kind != "several"  # a later round may replace a whole table
    try:
        return tomli_w.dumps(doc).encode(), kind, must_fail
    except (TypeError, ValueError):  # a mutation TOML cannot express: write it raw
        return repr(doc).encode(), kind, True


def _check(path: Path) -> ConfigError | None:
    """load_config either succeeds or raises ConfigError whose problems all say where."""
    try:
        load_config(path, {})
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.message
            if not problem.place:  # file-level: syntax, encoding, emptiness of the file
                assert any(
                    w in problem.message
                    for w in (
                        "TOML syntax error",
                        "UTF-8",
                        "no such file",
                        "nested too deeply",
                        "a value cannot be read",
                    )
                ), problem
            # Nothing printed grows with the input: long keys and values are cut.
            assert len(str(problem)) < 1000, str(problem)[:200]
        return exc
    return None


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutated())
def test_mutated_configs_load_or_fail_with_placed_problems(
    tmp_path: Path, case: tuple[bytes, str, bool]
) -> None:
    content, kind, must_fail = case
    path = tmp_path / "config.toml"
    path.write_bytes(content)
    error = _check(path)
    if must_fail:
        assert error is not None, content
    if kind in ("garbage", "several", "names", "cron", "zone", "type", "unknown"):
        return  # otherwise may or may not be valid; _check held it to the rules
    if kind in ("empty", "bom"):
        assert error is None  # an empty file is a valid, empty configuration
    elif kind == "cycle":
        assert error is not None
        assert "dependency cycle api -> web -> api" in str(error)
    elif kind == "duplicate":
        assert error is not None
        assert "projects[2].name: duplicate project name 'api'" in str(error)
    elif kind == "number":
        assert error is not None
        assert "run." in str(error)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutated())
def test_mutated_configs_through_the_cli(ws: Workspace, case: tuple[bytes, str, bool]) -> None:
    content, _, must_fail = case
    ws.project_dirs("api", "web")
    ws.config.write_bytes(content)
    for args in (["config", "check"], ["run", "--once"]):
        proc = subprocess.run(
            [AGENTD, *args, "--config", str(ws.config)],
            cwd=ws.root,
            env=ws.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        if must_fail:
            assert proc.returncode == 2, proc.stderr
        if proc.returncode == 2:
            assert str(ws.config) in proc.stderr
            assert not ws.state.exists(), "a configuration error wrote to the state directory"
        else:
            assert proc.returncode in (0, 1), proc.stderr
            if args[0] == "run":
                break  # a valid configuration ran a sweep: it may write state now
    if ws.state.exists():
        import shutil

        shutil.rmtree(ws.state)


def test_unicode_and_spaces_in_names_and_paths_work(ws: Workspace) -> None:
    write_config(
        ws,
        {"tâche à faire": recording()},
        [proj("проект with spaces", "tâche à faire", path="dir with spaces/ünï cødé")],
    )
    code, report = ws.once_json()
    assert code == 0, report["failures"]
    assert ws.intervals().keys() == {"проект with spaces"}
    log = ws.state / "runs" / report["run_id"] / "проект with spaces" / "tâche à faire.log"
    assert log.exists()
    shown = ws.run("report", "--config", str(ws.config))
    assert "проект with spaces" in shown.stdout
