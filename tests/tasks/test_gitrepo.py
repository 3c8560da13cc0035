"""Repository safety on real git repositories: require_clean checks and task worktrees."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from agentd.daemon.tasks.gitrepo import (
    GitError,
    Worktree,
    add_worktree,
    default_branch,
    finish_worktree,
    ref_safe,
    repo_problem,
)

DATE = "2026-11-22"


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git config, and a fixed identity, so results do not vary by machine."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR"):
        monkeypatch.delenv(name, raising=False)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(path: Path, branch: str = "main") -> Path:
    (path / "sub").mkdir(parents=True)
    git(path, "init", "-q", "-b", branch)
    (path / "a.py").write_text("a = 1\n")
    (path / "sub" / "b.py").write_text("b = 1\n")
    (path / ".gitignore").write_text("*.log\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "init")
    return path


def commit(path: Path, name: str, text: str = "x\n", message: str = "work") -> str:
    (path / name).write_text(text)
    git(path, "add", name)
    git(path, "commit", "-q", "-m", message)
    return git(path, "rev-parse", "HEAD")


def has_branch(repo: Path, branch: str) -> bool:
    ref = f"refs/heads/{branch}"
    proc = subprocess.run(["git", "show-ref", "--verify", "--quiet", ref], cwd=repo)
    return proc.returncode == 0


def worktrees(repo: Path) -> list[str]:
    listing = git(repo, "worktree", "list", "--porcelain").splitlines()
    return [line.removeprefix("worktree ") for line in listing if line.startswith("worktree ")]


def snapshot(repo: Path) -> dict[str, Any]:
    files = sorted(p for p in repo.rglob("*") if ".git" not in p.parts and p.is_file())
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "branch": git(repo, "symbolic-ref", "--quiet", "HEAD"),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "files": {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in files},
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "proj")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "agentd" / "worktrees"


# default_branch


def test_default_branch_is_the_remotes_head_not_a_guess(tmp_path: Path) -> None:
    seed = make_repo(tmp_path / "seed", branch="trunk")
    git(tmp_path, "init", "-q", "--bare", "-b", "trunk", "origin.git")
    git(seed, "push", "-q", str(tmp_path / "origin.git"), "trunk")
    git(tmp_path, "clone", "-q", "origin.git", "clone")
    clone = tmp_path / "clone"
    git(clone, "branch", "main")  # a local "main" must not win over origin/HEAD
    assert default_branch(clone) == "trunk"
    assert default_branch(clone / "sub") == "trunk"


@pytest.mark.parametrize("name", ["main", "master"])
def test_default_branch_is_the_one_local_main_or_master(tmp_path: Path, name: str) -> None:
    repo = make_repo(tmp_path / "r", branch=name)
    git(repo, "checkout", "-q", "-b", "feature")
    assert default_branch(repo) == name


def test_configured_default_branch_wins(repo: Path) -> None:
    assert default_branch(repo, "release") == "release"


def test_default_branch_outside_a_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="is not in a git repository"):
        default_branch(tmp_path)


def test_ambiguous_default_branch_asks_for_configuration(repo: Path) -> None:
    git(repo, "branch", "master")
    with pytest.raises(GitError, match="set default_branch in the project"):
        default_branch(repo)
    assert repo_problem(repo) is not None
    assert "set default_branch" in str(repo_problem(repo))
    assert repo_problem(repo, "main") is None


def test_init_default_branch_settles_main_and_master(repo: Path) -> None:
    git(repo, "branch", "master")
    git(repo, "config", "init.defaultBranch", "master")
    assert default_branch(repo) == "master"


def test_inherited_git_dir_cannot_redirect(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_repo(tmp_path / "other", branch="master")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert default_branch(repo) == "main"


def test_missing_git_binary(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(GitError, match="git is not installed"):
        default_branch(repo)


# repo_problem


def test_clean_checkout_on_default_branch_has_no_problem(repo: Path) -> None:
    assert repo_problem(repo) is None
    assert repo_problem(repo / "sub") is None


def test_modified_tracked_file(repo: Path) -> None:
    (repo / "a.py").write_text("a = 2\n")
    assert repo_problem(repo) == "working tree has uncommitted changes: 1 path (a.py)"


def test_staged_file(repo: Path) -> None:
    (repo / "sub" / "new.py").write_text("")
    git(repo, "add", "sub/new.py")
    assert repo_problem(repo) == "working tree has uncommitted changes: 1 path (sub/new.py)"


def test_untracked_file(repo: Path) -> None:
    (repo / "new.txt").write_text("")
    assert repo_problem(repo) == "working tree has uncommitted changes: 1 path (new.txt)"


def test_changes_listed_up_to_five(repo: Path) -> None:
    for n in range(7):
        (repo / f"n{n}.txt").write_text("")
    assert repo_problem(repo) == (
        "working tree has uncommitted changes: 7 paths (n0.txt, n1.txt, n2.txt, n3.txt, "
        "n4.txt, ...)"
    )


def test_ignored_file_is_not_a_change(repo: Path) -> None:
    (repo / "build.log").write_text("noise")
    assert repo_problem(repo) is None


def test_other_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature-x")
    assert repo_problem(repo) == "on branch feature-x, not the default branch main"


def test_detached_head(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    short = git(repo, "rev-parse", "--short", "HEAD")
    assert repo_problem(repo) == f"HEAD is detached at {short}, not on the default branch main"


def test_merge_in_progress(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "other")
    commit(repo, "a.py", "a = 'other'\n")
    git(repo, "checkout", "-q", "main")
    commit(repo, "a.py", "a = 'main'\n")
    subprocess.run(["git", "merge", "-q", "other"], cwd=repo, capture_output=True)
    assert (repo / ".git" / "MERGE_HEAD").exists()
    assert repo_problem(repo) == "a merge is in progress"


def test_not_a_repository(tmp_path: Path) -> None:
    assert repo_problem(tmp_path) == "not a git repository (require_clean)"


def test_repo_problem_does_not_write_the_index(repo: Path) -> None:
    index = repo / ".git" / "index"
    stat = (repo / "a.py").stat()
    os.utime(repo / "a.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    assert repo_problem(repo) is None
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    git(repo, "status", "--porcelain")  # the control: a plain status refreshes the index
    assert index.read_bytes() != before[0]


# add_worktree / finish_worktree


def test_worktree_starts_from_default_branch_and_leaves_checkout_alone(
    repo: Path, root: Path
) -> None:
    main_tip = git(repo, "rev-parse", "main")
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "feature.py")
    (repo / "a.py").write_text("a = 'user edit in progress'\n")
    (repo / "scratch.txt").write_text("untracked")
    before = snapshot(repo)

    wt = add_worktree(repo, root, DATE, "triage", "main")

    assert snapshot(repo) == before
    assert wt.branch == f"agentd/{DATE}/triage"
    assert wt.base == main_tip
    assert wt.repo == repo.resolve()
    assert wt.cwd == wt.path
    assert wt.path.parent == root.resolve()
    assert wt.path.name.startswith("proj-")
    assert root.stat().st_mode & 0o777 == 0o700
    assert git(wt.path, "symbolic-ref", "HEAD") == f"refs/heads/{wt.branch}"
    assert git(wt.path, "rev-parse", "HEAD") == main_tip
    assert (wt.path / "a.py").read_text() == "a = 1\n"
    assert not (wt.path / "feature.py").exists()
    finish_worktree(wt)
    assert snapshot(repo) == before


def test_without_base_branch_the_worktree_starts_from_head(repo: Path, root: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    tip = commit(repo, "feature.py")
    wt = add_worktree(repo, root, DATE, "triage", None)
    assert wt.base == tip
    assert git(wt.path, "rev-parse", "HEAD") == tip


def test_subdirectory_project_runs_in_the_same_subdirectory(repo: Path, root: Path) -> None:
    wt = add_worktree(repo / "sub", root, DATE, "lint", "main")
    assert wt.repo == repo.resolve()
    assert wt.cwd == wt.path / "sub"
    assert (wt.cwd / "b.py").is_file()


def test_subdirectory_missing_from_the_base_leaves_nothing(repo: Path, root: Path) -> None:
    (repo / "untracked-dir").mkdir()
    with pytest.raises(GitError, match="untracked-dir does not exist in main"):
        add_worktree(repo / "untracked-dir", root, DATE, "lint", "main")
    assert not has_branch(repo, f"agentd/{DATE}/lint")
    assert list(root.iterdir()) == []
    assert worktrees(repo) == [str(repo.resolve())]


@pytest.mark.parametrize(
    ("task", "safe"),
    [
        ("triage", "triage"),
        ("fix: the thing?*", "fix--the-thing--"),
        ("a..b...c", "a-b-c"),
        (".hidden", "-hidden"),
        ("-dash", "-dash"),
        ("x.lock", "x-lock"),
        ("end.", "end-"),
        ("at@{1}", "at-1}"),
        ("tab\there~^[\\\x7f", "tab-here-----"),
        ("ünïcode", "ünïcode"),
        ("", "task"),
    ],
)
def test_ref_safe(repo: Path, task: str, safe: str) -> None:
    assert ref_safe(task) == safe
    git(repo, "check-ref-format", "--branch", f"agentd/{DATE}/{safe}")


def test_task_name_is_made_ref_safe(repo: Path, root: Path) -> None:
    wt = add_worktree(repo, root, DATE, "review: docs [v2]", "main")
    assert wt.branch == f"agentd/{DATE}/review--docs--v2]"
    assert has_branch(repo, wt.branch)


def test_a_kept_branch_is_never_reused(repo: Path, root: Path) -> None:
    first = add_worktree(repo, root, DATE, "triage", "main")
    tip = commit(first.path, "fix.py")
    assert finish_worktree(first).kept == "branch"
    second = add_worktree(repo, root, DATE, "triage", "main")
    third = add_worktree(repo, root, DATE, "triage", "main")
    assert second.branch == f"agentd/{DATE}/triage-2"
    assert third.branch == f"agentd/{DATE}/triage-3"
    assert git(repo, "rev-parse", first.branch) == tip
    assert second.base == git(repo, "rev-parse", "main")


def test_no_commits_removes_worktree_and_branch(repo: Path, root: Path) -> None:
    wt = add_worktree(repo, root, DATE, "triage", "main")
    (wt.path / "build.log").write_text("ignored output does not count as work")
    done = finish_worktree(wt)
    assert done.kept == "nothing"
    assert (done.commits, done.dirty) == (0, False)
    assert done.message == "no commits; worktree and branch removed"
    assert not wt.path.exists()
    assert not has_branch(repo, wt.branch)
    assert worktrees(repo) == [str(repo.resolve())]


def test_commits_keep_the_branch_and_remove_the_worktree(repo: Path, root: Path) -> None:
    wt = add_worktree(repo, root, DATE, "triage", "main")
    commit(wt.path, "fix.py", message="agent work")
    commit(wt.path, "fix2.py", message="more agent work")
    done = finish_worktree(wt)
    assert done.kept == "branch"
    assert (done.commits, done.dirty) == (2, False)
    assert done.message == f"2 commits on {wt.branch} (worktree removed, branch kept)"
    assert not wt.path.exists()
    assert git(repo, "log", "-1", "--format=%s", wt.branch) == "more agent work"
    assert worktrees(repo) == [str(repo.resolve())]
    git(repo, "checkout", "-q", wt.branch)  # the user can check it out: nothing else holds it


@pytest.mark.parametrize("with_commit", [False, True])
def test_uncommitted_changes_keep_everything(repo: Path, root: Path, with_commit: bool) -> None:
    wt = add_worktree(repo, root, DATE, "triage", "main")
    if with_commit:
        commit(wt.path, "fix.py")
    (wt.path / "half-done.py").write_text("")
    done = finish_worktree(wt)
    assert done.kept == "worktree"
    assert (done.commits, done.dirty) == (int(with_commit), True)
    assert done.message == (
        f"uncommitted changes left in {wt.path}: worktree and branch {wt.branch} kept"
    )
    assert (wt.path / "half-done.py").exists()
    assert has_branch(repo, wt.branch)


def test_head_moved_off_the_branch_keeps_everything(repo: Path, root: Path) -> None:
    wt = add_worktree(repo, root, DATE, "triage", "main")
    git(wt.path, "checkout", "-q", "--detach")
    commit(wt.path, "fix.py")  # reachable from the worktree's HEAD only
    done = finish_worktree(wt)
    assert done.kept == "worktree"
    assert wt.path.exists()
    assert has_branch(repo, wt.branch)


def test_vanished_worktree_counts_as_clean(repo: Path, root: Path) -> None:
    wt = add_worktree(repo, root, DATE, "triage", "main")
    shutil.rmtree(wt.path)
    done = finish_worktree(wt)
    assert (done.kept, done.dirty) == ("nothing", False)
    assert not has_branch(repo, wt.branch)
    assert worktrees(repo) == [str(repo.resolve())]


def test_concurrent_adds_on_one_repository(repo: Path, root: Path) -> None:
    # Two projects of one repository (the top and a subdirectory) starting the same task.
    barrier = threading.Barrier(4)
    made: list[Worktree] = []
    errors: list[Exception] = []

    def add(project: Path) -> None:
        barrier.wait()
        try:
            made.append(add_worktree(project, root, DATE, "triage", "main"))
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=add, args=(p,)) for p in [repo, repo / "sub"] * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({wt.branch for wt in made}) == 4
    assert len({wt.path for wt in made}) == 4
    assert len(worktrees(repo)) == 5


def test_bad_base_branch_leaves_nothing(repo: Path, root: Path) -> None:
    branches = git(repo, "branch", "--list")
    with pytest.raises(GitError, match="base branch nope does not exist"):
        add_worktree(repo, root, DATE, "triage", "nope")
    assert git(repo, "branch", "--list") == branches
    assert not root.exists() or list(root.iterdir()) == []
    assert worktrees(repo) == [str(repo.resolve())]


def test_in_a_shared_state_directory_worktrees_is_shared_and_each_worktree_private(
    repo: Path, root: Path
) -> None:
    """README "A shared state directory": every member's sweep can make its worktree in
    worktrees/, and each worktree stays its maker's (0700, as mkdtemp makes it)."""
    root.parent.mkdir(parents=True)
    root.parent.chmod(0o2770)
    wt = add_worktree(repo, root, DATE, "triage", None)
    assert oct(root.stat().st_mode & 0o7777) == oct(0o2770)
    assert oct(wt.path.stat().st_mode & 0o777) == oct(0o700)  # setgid (2700) grants nothing


@pytest.mark.skipif(os.geteuid() != 0, reason="makes a directory of another user (chown)")
def test_a_worktrees_directory_closed_to_us_fails_the_task_with_its_owner(
    repo: Path, root: Path
) -> None:
    """Another member's private worktrees/ (made before the state directory was shared):
    a GitError naming the owner, which fails the task alone, not a crash of the project."""
    root.parent.mkdir(parents=True)
    root.parent.chmod(0o2770)
    root.mkdir(mode=0o700)
    os.chown(root, 64201, 64201)
    branches = git(repo, "branch", "--list")
    with pytest.raises(GitError) as caught:
        add_worktree(repo, root, DATE, "triage", None)
    assert str(caught.value).startswith(f"{root} cannot hold it: {root} belongs to uid 64201, ")
    assert "not shared with a group of yours" in str(caught.value)
    assert git(repo, "branch", "--list") == branches
    assert list(root.iterdir()) == []


def test_add_outside_a_repository(tmp_path: Path, root: Path) -> None:
    with pytest.raises(GitError, match="is not in a git repository"):
        add_worktree(tmp_path, root, DATE, "triage", None)


def test_hooks_do_not_run(repo: Path, root: Path, tmp_path: Path) -> None:
    marker = tmp_path / "hook-ran"
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    hook.chmod(0o755)
    git(repo, "worktree", "add", "-q", str(tmp_path / "control"))  # the hook works...
    assert marker.exists()
    marker.unlink()
    add_worktree(repo, root, DATE, "triage", "main")  # ...but not for agentd
    assert not marker.exists()


def test_no_hook_runs_for_any_of_agentds_git_commands(
    repo: Path, root: Path, tmp_path: Path
) -> None:
    """reference-transaction runs for every ref update, e.g. deleting an unused branch."""
    marker = tmp_path / "hook-ran"
    for name in ("post-checkout", "reference-transaction"):
        hook = repo / ".git" / "hooks" / name
        hook.write_text(f"#!/bin/sh\necho {name} >> '{marker}'\n")
        hook.chmod(0o755)
    wt = add_worktree(repo, root, DATE, "triage", "main")
    assert finish_worktree(wt).kept == "nothing"
    assert not marker.exists()
