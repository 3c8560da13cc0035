"""Each enabled project: its directory, and the git repository its settings need.

The answers come from the code the sweep itself asks (``selection.directory_problem``,
``gitrepo``), so doctor and tonight's sweep cannot disagree about a project.

On a shared store (several hosts) a project is checked as this host's sweep will treat
it: one pinned to other hosts (``hosts``) is not checked here at all, and one whose
directory is missing here is another host's to run, a warning (unless it is pinned to
this host alone: then it fails here tonight, a problem).

A dirty checkout under ``require_clean`` is a warning, not a problem: tonight's sweep
skips that project (someone is working there), which is what require_clean is for; the
configuration needs no fix. A checkout that cannot be judged at all (not a repository,
no default branch to be found) fails the project tonight: a problem.
"""

from __future__ import annotations

import os
from pathlib import Path

from agentd.config import Config
from agentd.config.model import ProjectSpec
from agentd.daemon.output.textout import harmless
from agentd.daemon.service.doctor.check import Check, ok, problem, warning
from agentd.daemon.sweep.selection import directory_missing, directory_problem, pinned_away
from agentd.daemon.tasks import gitrepo
from agentd.state.claims import this_host


def project_checks(config: Config, spec: ProjectSpec) -> list[Check]:
    path = config.project_dir(spec)
    name = harmless(spec.name)
    host = config.settings.state.host or this_host()
    away = pinned_away(spec, host)
    if away is not None:
        return [ok("project", name, harmless(f"{away}: not run on {host}, not checked here"))]
    trouble = directory_problem(path)
    if trouble is None and not os.access(path, os.R_OK):
        trouble = f"project directory {path} cannot be read: permission denied"
    if trouble is not None:
        shared = config.settings.state.backend == "postgres"
        if shared and not _only_here(spec.hosts, host) and directory_missing(path):
            left = f"{trouble} on {host}: left for another host of the shared store"
            return [warning("project", name, harmless(f"{left} (failed if none has it)"))]
        return [problem("project", name, harmless(trouble))]
    checks = [ok("project", name, harmless(f"{path}: a directory agentd can enter"))]
    if config.require_clean(spec):
        checks.append(_clean(path, name, spec.default_branch))
    if config.isolation(spec) == "worktree":
        checks.append(_worktree(path, name, spec.default_branch))
    return checks


def _only_here(patterns: list[str], host: str) -> bool:
    """Whether ``hosts`` pins the project to this host alone (no other name can match):
    then no other host runs it, and its directory missing here fails it tonight."""
    literal = not any(set(p) & set("*?[") for p in patterns)
    return bool(patterns) and literal and {p.lower() for p in patterns} == {host.lower()}


def _clean(path: Path, name: str, branch: str | None) -> Check:
    """As ``gitrepo.clean_verdict`` decides, with the default branch it found named."""
    try:
        found = gitrepo.default_branch(path, branch)
    except gitrepo.GitError as exc:
        return problem("git", name, harmless(f"require_clean: fails tonight: {exc}"))
    why = gitrepo.repo_problem(path, branch)
    if why is not None:
        return warning("git", name, harmless(f"require_clean: skipped tonight as it is: {why}"))
    return ok("git", name, harmless(f"require_clean: clean, on its default branch {found}"))


def _worktree(path: Path, name: str, branch: str | None) -> Check:
    try:
        base = gitrepo.worktree_base(path, branch)
    except gitrepo.GitError as exc:
        return problem("git", name, harmless(f'isolation = "worktree": fails tonight: {exc}'))
    return ok("git", name, harmless(f'isolation = "worktree": worktrees start from {base}'))
