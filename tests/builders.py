"""One way to build what the tests feed agentd: configs as data, written as TOML by tomli_w,
and planned projects for the in-process sweep tests.

A config is a plain dict shaped like config.toml (``tasks`` a table of tables, ``projects``
a list of tables), so a test states only what it is about and the TOML syntax is never
spelt out again; a test about TOML syntax itself writes its text by hand instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from agentd.config import Config, load_config
from agentd.daemon.sweep.selection import Planned
from tests.helpers import Workspace

Table = dict[str, Any]


def cmd(*argv: object, **fields: Any) -> Table:
    """A task running ``argv`` (numbers become the strings an argv holds)."""
    return {"command": [str(arg) for arg in argv], **fields}


def recording(
    label: str = "{project}", seconds: float = 0, *exit_code: int, **fields: Any
) -> Table:
    """A task running tests/bin/record: it logs its start and end under ``label`` to the
    workspace's records file, takes ``seconds`` and exits with ``exit_code`` (0 by default)."""
    return cmd("record", label, seconds, *exit_code, **fields)


def sh(script: str, **fields: Any) -> Table:
    return {"shell": script, **fields}


def ask(agent: str, prompt: str, **fields: Any) -> Table:
    """A task that hands ``prompt`` to the agent CLI ``agent``."""
    return {"agent": agent, "prompt": prompt, **fields}


def proj(name: str, *tasks: str, path: str | None = None, **fields: Any) -> Table:
    """A ``[[projects]]`` entry; its directory is ``name`` unless ``path`` says otherwise."""
    return {"name": name, "path": name if path is None else path, "tasks": list(tasks), **fields}


def config(tasks: dict[str, Table], projects: list[Table], **sections: Table) -> Table:
    """A whole config: ``sections`` are the other top-level tables (run, schedule, ...)."""
    return {**sections, "tasks": tasks, "projects": projects}


def toml(doc: Table) -> str:
    return tomli_w.dumps(doc)


def write_config(
    ws: Workspace,
    tasks: dict[str, Table],
    projects: list[Table],
    *,
    dirs: bool = True,
    **sections: Table,
) -> Path:
    """Write the workspace's config.toml; with ``dirs`` also make every project's directory
    (a test about a missing directory passes ``dirs=False`` and makes its own)."""
    if dirs:
        ws.project_dirs(*(p["path"] for p in projects))
    ws.config.write_text(toml(config(tasks, projects, **sections)))
    return ws.config


def one_project(ws: Workspace, task: Table | None = None, **sections: Table) -> Path:
    """The smallest sweep: project ``p`` (directory ``p``) with the one task ``t``, by
    default a record that ends at once under the project's name."""
    return write_config(ws, {"t": task or recording()}, [proj("p", "t")], **sections)


def load(
    directory: Path, tasks: dict[str, Table], projects: list[Table], **sections: Table
) -> Config:
    """Write ``directory``/config.toml and load it as agentd would (no environment)."""
    path = directory / "config.toml"
    path.write_text(toml(config(tasks, projects, **sections)))
    return load_config(path, {})


def node(name: str, *deps: str) -> Planned:
    """A project as the executor receives it: one task, nothing done yet, ``deps`` first."""
    return Planned(name, Path(name), ("a",), frozenset(), deps)


def dag(spec: str) -> list[Planned]:
    """``"a b:a c:a d:b,c"``: projects in priority order, each with its dependencies."""
    out = []
    for item in spec.split():
        name, _, deps = item.partition(":")
        out.append(node(name, *[d for d in deps.split(",") if d]))
    return out
