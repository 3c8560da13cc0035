"""Keeping unattended tasks away from the user's own git checkout.

``require_clean`` refuses to run in a checkout that holds someone's unfinished work, and
``isolation = "worktree"`` runs each task in a throwaway ``git worktree`` on its own
branch, so an agent's edits never land in the tree the user is working in. Everything
here shells out to git: its rules for refs, locks and worktrees are subtle enough that
reimplementing any of them would be the bug.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from agentd.config.access import denied
from agentd.state.files import ensure_inner_dir

TIMEOUT = 60.0
# The commits of a kept branch the report lists: an agent that made hundreds is one to
# look at with git log, not in a report.
LOG_COMMITS = 20
SUBJECT_CHARS = 200
# Inherited from a parent git (a hook, `git rebase -x`), these would point us at another
# repository than the project's.
_SCRUBBED = frozenset(
    {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"}
    | {"GIT_COMMON_DIR", "GIT_PREFIX"}
)
_NOT_A_REPO = "not a git repository"
_WHERE = ("--show-toplevel", "--git-common-dir", "--show-prefix")
_IN_PROGRESS = (
    ("MERGE_HEAD", "a merge is in progress"),
    ("rebase-merge", "a rebase is in progress"),
    ("rebase-apply", "a rebase is in progress"),
    ("CHERRY_PICK_HEAD", "a cherry-pick is in progress"),
    ("REVERT_HEAD", "a revert is in progress"),
)
_REF_UNSAFE = re.compile(r"[\x00-\x20\x7f~^:?*\[\\/]|\.\.+|@\{")
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class GitError(Exception):
    """A git operation failed; str() is a one-line, user-facing reason."""


class _NotARepo(GitError):
    pass


@dataclass(frozen=True)
class Worktree:
    repo: Path  # the top level of the user's checkout
    path: Path  # the worktree's top level
    cwd: Path  # where the task runs: the project's own subdirectory inside the worktree
    branch: str
    base: str  # full sha the branch started from


@dataclass(frozen=True)
class Cleanup:
    commits: int
    dirty: bool
    kept: str  # "nothing" | "branch" | "worktree"
    message: str
    # The task's commits on its branch, newest first, at most LOG_COMMITS: (sha, subject),
    # the subject whole (see _log).
    log: tuple[tuple[str, str], ...] = ()
    diffstat: Diffstat | None = None  # of those commits (the base to the branch's tip)


@dataclass(frozen=True)
class Diffstat:
    files: int
    insertions: int
    deletions: int


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    # C for messages we can show; no optional locks so that reading never writes the index.
    env |= {"LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
    verb = args[0]
    try:
        # Hooks off for every command (worktree add runs post-checkout, update-ref runs
        # reference-transaction): the user's hooks are written for them to watch.
        proc = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="surrogateescape",  # paths need not be UTF-8
            timeout=TIMEOUT,
            check=False,
        )
    except FileNotFoundError as err:
        if not cwd.is_dir():
            raise GitError(f"{cwd} does not exist") from err
        raise GitError("git is not installed") from err
    except OSError as err:  # the directory not searchable, not a directory, ...
        raise GitError(f"cannot run git in {cwd}: {err.strerror or err}") from err
    except subprocess.TimeoutExpired as err:
        raise GitError(f"git {verb} in {cwd} timed out after {TIMEOUT:.0f} s") from err
    if check and proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        raise GitError(f"git {verb} in {cwd} failed: {lines[0]}")
    return proc


def _locate(path: Path) -> tuple[Path, Path, str]:
    """The checkout's top level, the repository's shared git dir, and ``path``'s prefix."""
    try:
        # Not --path-format=absolute: git before 2.31 echoes options it does not know.
        out = _git(path, "rev-parse", *_WHERE).stdout
    except GitError as err:
        if _NOT_A_REPO in str(err):
            raise _NotARepo(f"{path} is not in a git repository") from None
        raise
    top, common, prefix = out.split("\n")[:3]
    return Path(top), (path / common).resolve(), prefix


def _lock(common: Path) -> threading.Lock:
    # Two projects may share a repository; concurrent `worktree add` trips on its lock files.
    with _locks_guard:
        return _locks.setdefault(str(common), threading.Lock())


def _tip(top: Path, branch: str, remote: bool = False) -> str | None:
    refs = [f"refs/heads/{branch}"]
    if remote:  # default_branch may name origin's HEAD, with no local branch of that name
        refs.append(f"refs/remotes/origin/{branch}")
    for ref in refs:
        proc = _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if proc.returncode == 0:
            return proc.stdout.strip()
    return None


def _changes(cwd: Path) -> list[str]:
    # --no-renames: one path per entry, so -z output splits without a parser.
    out = _git(
        cwd, "status", "--porcelain=v1", "-z", "--untracked-files=normal", "--no-renames"
    ).stdout
    return [entry[3:] for entry in out.split("\0") if entry]


def default_branch(path: Path, configured: str | None = None) -> str:
    """The project's default branch: configured, else the remote's, else a guess git backs."""
    top = _locate(path)[0]
    if configured:
        return configured
    remote = _git(top, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", check=False)
    if remote.returncode == 0 and remote.stdout.startswith("refs/remotes/origin/"):
        return remote.stdout.strip().removeprefix("refs/remotes/origin/")
    usual = [name for name in ("main", "master") if _tip(top, name)]
    if len(usual) == 1:
        return usual[0]
    init = _git(top, "config", "--get", "init.defaultBranch", check=False).stdout.strip()
    if init and _tip(top, init):
        return init
    raise GitError(f"cannot tell the default branch of {top}; set default_branch in the project")


def repo_problem(path: Path, configured_branch: str | None = None) -> str | None:
    """Why ``require_clean`` should skip ``path``, or None. Reads only; never raises."""
    try:
        top = _locate(path)[0]
        gitdir = Path(_git(top, "rev-parse", "--absolute-git-dir").stdout.strip())
        for name, problem in _IN_PROGRESS:
            if (gitdir / name).exists():
                return problem
        changed = _changes(top)
        if changed:
            shown = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
            paths = "path" if len(changed) == 1 else "paths"
            return f"working tree has uncommitted changes: {len(changed)} {paths} ({shown})"
        wanted = default_branch(top, configured_branch)
        head = _git(top, "symbolic-ref", "--quiet", "HEAD", check=False)
        if head.returncode != 0:
            sha = _git(top, "rev-parse", "--short", "HEAD").stdout.strip()
            return f"HEAD is detached at {sha}, not on the default branch {wanted}"
        branch = head.stdout.strip().removeprefix("refs/heads/")
        if branch != wanted:
            return f"on branch {branch}, not the default branch {wanted}"
    except _NotARepo:
        return "not a git repository (require_clean)"
    except GitError as err:
        return str(err)
    return None


def clean_verdict(path: Path, configured_branch: str | None = None) -> tuple[str, str] | None:
    """What ``require_clean`` makes of ``path``: None when clean and on its default branch;
    ("skipped", why) when someone works there; ("failed", why) when the question cannot be
    answered (not a repository, no default branch), a configuration to fix."""
    try:
        default_branch(path, configured_branch)
    except GitError as exc:
        return "failed", str(exc)
    problem = repo_problem(path, configured_branch)
    return ("skipped", problem) if problem else None


def worktree_base(path: Path, configured_branch: str | None = None) -> str:
    """What ``isolation = "worktree"`` would start tonight's worktrees from (a branch, or
    HEAD when no default branch can be told), found as the sweep finds it; GitError when
    ``add_worktree`` would fail: not a repository, the base branch missing, no commit."""
    top = _locate(path)[0]
    try:
        base: str | None = default_branch(top, configured_branch)
    except GitError:
        if configured_branch:
            raise
        base = None
    if base is not None and _tip(top, base, remote=True) is None:
        raise GitError(f"base branch {base} does not exist in {top}")
    if base is None:
        head = _git(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
        if head.returncode != 0:
            raise GitError(f"{top} has no commit to start a worktree from")
    return base or "HEAD"


def ref_safe(task: str) -> str:
    """``task`` as one component of a branch name: git's forbidden characters become "-"."""
    name = _REF_UNSAFE.sub("-", task) or "task"
    if name.startswith("."):
        name = "-" + name[1:]
    if name.endswith(".lock"):
        name = name.removesuffix(".lock") + "-lock"
    return name[:-1] + "-" if name.endswith(".") else name


def add_worktree(
    project_dir: Path, root: Path, date: str, task: str, base_branch: str | None
) -> Worktree:
    """A fresh worktree on a new branch for one task run; leaves nothing behind on failure."""
    top, common, prefix = _locate(project_dir)
    with _lock(common):
        base = _tip(top, base_branch, remote=True) if base_branch else None
        if base_branch and base is None:
            raise GitError(f"base branch {base_branch} does not exist in {top}")
        base = base or _git(top, "rev-parse", "--verify", "HEAD^{commit}").stdout.strip()
        branch = _new_branch(top, f"agentd/{date}/{ref_safe(task)}")
        path = _new_dir(root, top.name)
        try:
            _git(
                top,
                "worktree",
                "add",
                "--quiet",
                "-b",
                branch,
                str(path),
                base,
            )
            if not (path / prefix).is_dir():
                raise GitError(f"{prefix.rstrip('/')} does not exist in {base_branch or 'HEAD'}")
        except GitError:
            _undo(top, path, branch, base)
            raise
    return Worktree(repo=top, path=path, cwd=path / prefix, branch=branch, base=base)


def _new_dir(root: Path, name: str) -> Path:
    """A new directory for one worktree, in ``root`` (shared with the state directory's
    group if that is). The directory and what git writes in it stay its maker's (0700,
    the checkout with the process's umask): agentd never removes another user's worktree.
    A ``root`` closed to us (another member's, made before the state directory was
    shared) fails this task, not the project, with who owns what."""
    try:
        ensure_inner_dir(root)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root.resolve()))
    except PermissionError as exc:
        why = denied(root, write=True) if exc.errno == errno.EACCES else exc.strerror
        raise GitError(f"{root} cannot hold it: {why}") from None
    except OSError as exc:
        raise GitError(f"{root} cannot hold it: {exc.strerror or exc}") from None


def _new_branch(top: Path, stem: str) -> str:
    _git(top, "check-ref-format", "--branch", stem)
    # A kept branch may be waiting for review: never reuse or reset one.
    names = (stem if n == 1 else f"{stem}-{n}" for n in count(1))
    return next(name for name in names if _tip(top, name) is None)


def _undo(top: Path, path: Path, branch: str, base: str) -> None:
    # Best effort: the error being raised says more than a failure to tidy up would.
    _git(top, "worktree", "remove", "--force", str(path), check=False)
    shutil.rmtree(path, ignore_errors=True)
    _git(top, "update-ref", "-d", f"refs/heads/{branch}", base, check=False)


def finish_worktree(wt: Worktree) -> Cleanup:
    """Remove what holds no work; keep the branch with commits, the worktree with changes."""
    with _lock(_locate(wt.repo)[1]):
        tip = _tip(wt.repo, wt.branch)
        if tip is None:
            raise GitError(f"branch {wt.branch} is gone from {wt.repo}")
        commits = int(_git(wt.repo, "rev-list", "--count", f"{wt.base}..{tip}").stdout)
        log, stat = _log(wt.repo, wt.base, tip), _diffstat(wt.repo, wt.base, tip)
        present = wt.path.is_dir()
        dirty = present and bool(_changes(wt.path))
        head = _git(wt.path, "symbolic-ref", "--quiet", "HEAD", check=False) if present else None
        if head is not None and head.stdout.strip() != f"refs/heads/{wt.branch}":
            # The task switched branches: its commits may be on no branch but this HEAD.
            msg = f"HEAD in {wt.path} left {wt.branch}: worktree and branch kept"
            return Cleanup(commits, dirty, "worktree", msg, log, stat)
        if dirty:
            msg = f"uncommitted changes left in {wt.path}: worktree and branch {wt.branch} kept"
            return Cleanup(commits, dirty, "worktree", msg, log, stat)
        # Also right when the task deleted the directory: this drops only our registration,
        # where `git worktree prune` would drop those of the user's unmounted worktrees too.
        _git(wt.repo, "worktree", "remove", "--force", str(wt.path))
        if commits:
            s = "" if commits == 1 else "s"
            msg = f"{commits} commit{s} on {wt.branch} (worktree removed, branch kept)"
            return Cleanup(commits, dirty, "branch", msg, log, stat)
        # Deletes only if the branch still points where it was counted.
        _git(wt.repo, "update-ref", "-d", f"refs/heads/{wt.branch}", tip)
        return Cleanup(commits, dirty, "nothing", "no commits; worktree and branch removed")


_SHORTSTAT = re.compile(r"(\d+) (file|insertion|deletion)")


def _log(top: Path, base: str, tip: str) -> tuple[tuple[str, str], ...]:
    """(sha, subject) of the commits from ``base`` to ``tip``, newest first, at most
    LOG_COMMITS. The subjects are the agent's text, read as bytes may be, and whole: a
    secret in one is masked before ``cut_subject`` (which could halve it) is applied."""
    if base == tip:
        return ()
    out = _git(
        top, "log", "-z", f"--max-count={LOG_COMMITS}", "--format=%H%x01%s", f"{base}..{tip}"
    )
    entries = (entry.split("\x01", 1) for entry in out.stdout.split("\0") if "\x01" in entry)
    return tuple((sha, _text(subject)) for sha, subject in entries)


def _text(raw: str) -> str:
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def cut_subject(text: str) -> str:
    """A commit subject as the report shows it: at most SUBJECT_CHARS characters."""
    return text if len(text) <= SUBJECT_CHARS else text[: SUBJECT_CHARS - 1] + "…"


def _diffstat(top: Path, base: str, tip: str) -> Diffstat:
    """What the commits changed, as ``git diff --shortstat base...tip`` counts it (from
    where the branch left its base, so later commits on the base do not count)."""
    out = _git(top, "diff", "--shortstat", "--no-ext-diff", f"{base}...{tip}").stdout
    found = {kind: int(n) for n, kind in _SHORTSTAT.findall(out)}
    return Diffstat(found.get("file", 0), found.get("insertion", 0), found.get("deletion", 0))
