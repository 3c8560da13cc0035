"""Checks across tables: names that must exist, names that must be unique, cycles.

They run on plain data (the parsed TOML, or the validated settings dumped to a dict), so
they still run when other parts of the file have type errors: the user sees every problem
in one go instead of fixing them one run at a time. Values of the wrong type are skipped
here; the schema has already reported them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from agentd.config.errors import Problem, format_key
from agentd.config.presets import AGENT_PRESETS


def check(data: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    tasks = _mapping(data.get("tasks"))
    agents = set(AGENT_PRESETS) | set(_mapping(data.get("agents")))
    for name, spec in tasks.items():
        agent = _mapping(spec).get("agent")
        if isinstance(agent, str) and agent not in agents:
            problems.append(
                Problem(f"tasks.{format_key(name)}.agent", _unknown("agent", agent, agents))
            )
    for name in _mapping(_mapping(data.get("budget")).get("agents")):
        if name not in agents:
            problems.append(
                Problem(f"budget.agents.{format_key(name)}", _unknown("agent", name, agents))
            )
    defaults = _mapping(data.get("defaults")).get("tasks")
    defaults = defaults if isinstance(defaults, list) else []
    for i, name in enumerate(defaults):
        if isinstance(name, str) and name not in tasks:
            problems.append(Problem(f"defaults.tasks[{i}]", _unknown("task", name, tasks)))
    projects = data.get("projects")
    if isinstance(projects, list):
        problems += _check_projects(projects, tasks, bool(defaults))
    return problems


def _check_projects(
    projects: list[Any], tasks: Mapping[str, Any], has_defaults: bool
) -> list[Problem]:
    problems: list[Problem] = []
    first_at: dict[str, int] = {}
    for i, project in enumerate(projects):
        name = _mapping(project).get("name")
        if isinstance(name, str):
            if name in first_at:
                problems.append(
                    Problem(
                        f"projects[{i}].name",
                        f"duplicate project name {name!r} (first at projects[{first_at[name]}])",
                    )
                )
            else:
                first_at[name] = i
    graph: dict[str, list[str]] = {}
    for i, project in enumerate(projects):
        spec = _mapping(project)
        name = spec.get("name")
        place = f"projects[{name if isinstance(name, str) else i}]"
        listed = spec.get("tasks")
        if listed is None or listed == []:
            if listed == [] or not has_defaults:
                problems.append(
                    Problem(f"{place}.tasks", "no tasks: list some here or set defaults.tasks")
                )
        elif isinstance(listed, list):
            seen: set[str] = set()
            for k, task in enumerate(listed):
                if not isinstance(task, str):
                    continue
                if task not in tasks:
                    problems.append(Problem(f"{place}.tasks[{k}]", _unknown("task", task, tasks)))
                elif task in seen:
                    problems.append(Problem(f"{place}.tasks[{k}]", f"task {task!r} listed twice"))
                seen.add(task)
        deps = spec.get("depends_on")
        deps = deps if isinstance(deps, list) else []
        for k, dep in enumerate(deps):
            if isinstance(dep, str) and dep not in first_at:
                problems.append(
                    Problem(f"{place}.depends_on[{k}]", _unknown("project", dep, first_at))
                )
        if isinstance(name, str) and name not in graph:
            graph[name] = [d for d in deps if isinstance(d, str) and d in first_at]
    problems += [
        Problem(f"projects[{cycle[0]}].depends_on", "dependency cycle " + " -> ".join(cycle))
        for cycle in find_cycles(graph)
    ]
    return problems


def find_cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Each cycle met by a depth-first search, once, as [a, b, ..., a].

    Iterative, because a long dependency chain would exceed Python's recursion limit.
    """
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        stack = [iter(graph.get(root, []))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
            elif nxt in on_path:
                cycle = [*path[path.index(nxt) :], nxt]
                if (key := frozenset(cycle)) not in seen:
                    seen.add(key)
                    cycles.append(cycle)
            elif nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(graph.get(nxt, [])))
    return cycles


def _unknown(what: str, name: str, known: Collection[str]) -> str:
    import difflib

    if not known:
        return f"unknown {what} {name!r} (none defined)"
    close = difflib.get_close_matches(name, list(known), n=1)
    if close:
        return f"unknown {what} {name!r}; did you mean {close[0]!r}?"
    names = sorted(known)
    listing = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f"unknown {what} {name!r} (defined: {listing})"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
