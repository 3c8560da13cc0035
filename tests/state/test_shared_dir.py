"""A state directory shared with its group (setgid, group rwx: 2770) keeps everything
agentd makes in it usable by the group; any other stays private (issue 12, item 1).

Checked on the files a real sweep leaves, under a umask that would otherwise close them.
Across two real users: tests/cli/test_shared_state.py.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agentd.state.files import (
    ensure_inner_dir,
    ensure_state_dir,
    new_dir,
    open_new,
    write_atomic,
)
from tests.builders import one_project, recording, sh
from tests.helpers import Workspace


def _modes(root: Path) -> dict[str, int]:
    """Every directory and file under ``root`` (itself included) -> its permission bits
    with setgid; the probe and temporary files are gone by the time a command exits."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _sweep(ws: Workspace) -> None:
    one_project(ws, sh("echo out; echo err >&2"))
    proc = ws.once(umask=0o077)
    assert proc.returncode == 0, proc.stderr


def test_a_shared_state_directory_gives_its_group_everything_a_sweep_makes(
    ws: Workspace,
) -> None:
    ws.state.mkdir()
    ws.state.chmod(0o2770)
    _sweep(ws)
    modes = _modes(ws.state)
    for name in ("state.json", "state.journal", "state.json.lock"):
        assert modes.pop(name) == 0o660, name
    (run,) = list((ws.state / "runs").iterdir())
    assert {p.name for p in run.iterdir()} >= {"report.json", "report.md", "p"}
    dirs = {name: mode for name, mode in modes.items() if (ws.state / name).is_dir()}
    files = {name: mode for name, mode in modes.items() if name not in dirs}
    assert set(dirs) >= {".", "runs", f"runs/{run.name}", f"runs/{run.name}/p"}
    assert set(files) >= {f"runs/{run.name}/report.json", f"runs/{run.name}/p/t.log"}
    assert set(dirs.values()) == {0o2770}, dirs
    assert set(files.values()) == {0o660}, files
    # The group stays the directory's (setgid), whoever wrote the file.
    assert {p.stat().st_gid for p in ws.state.rglob("*")} == {ws.state.stat().st_gid}


def test_a_private_state_directory_stays_private(ws: Workspace) -> None:
    ws.state.mkdir()
    ws.state.chmod(0o700)
    _sweep(ws)
    modes = _modes(ws.state)
    dirs = {mode for name, mode in modes.items() if (ws.state / name).is_dir()}
    files = {mode for name, mode in modes.items() if not (ws.state / name).is_dir()}
    assert (dirs, files) == ({0o700}, {0o600})


def test_the_daemon_lock_of_a_shared_directory_is_readable_by_the_group(
    ws: Workspace,
) -> None:
    from agentd.state.daemonlock import DaemonLock

    ws.state.mkdir()
    ws.state.chmod(0o2770)
    lock = DaemonLock(ws.state)
    lock.acquire()
    try:
        assert stat.S_IMODE((ws.state / "daemon.lock").stat().st_mode) == 0o660
    finally:
        lock.release()


@pytest.mark.parametrize(
    ("before", "after", "reported"),
    [
        (0o2770, 0o2770, None),  # shared, as a system install makes it: kept so
        (0o2775, 0o2770, 0o2775),  # shared, but open to others too: closed to them
        (0o2777, 0o2770, 0o2777),
        (0o770, 0o700, 0o770),  # no setgid: not shared on purpose, so private
        (0o2750, 0o700, 0o2750),  # the group cannot write: not shared
        (0o755, 0o700, 0o755),
        (0o700, 0o700, None),
        (0o2700, 0o700, None),  # setgid alone (made in a setgid directory): as private
    ],
)
def test_which_modes_are_kept_shared(
    tmp_path: Path, before: int, after: int, reported: int | None
) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    directory.chmod(before)
    assert ensure_state_dir(directory) == (directory, reported)
    assert stat.S_IMODE(directory.stat().st_mode) == after


def test_what_is_made_inside_takes_the_directory_s_sharing(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        shared, private = tmp_path / "shared", tmp_path / "private"
        for directory, mode in ((shared, 0o2770), (private, 0o700)):
            directory.mkdir()
            directory.chmod(mode)
            ensure_inner_dir(directory / "made")  # runs/, a project's log directory
            new_dir(directory / "new")  # a run directory
            os.close(open_new(directory / "log"))  # a task's log
            write_atomic(directory / "report.json", b"{}")
        # A private directory left inside a shared one (an older agentd's) joins it.
        (shared / "old").mkdir(mode=0o700)
        ensure_inner_dir(shared / "old")
    finally:
        os.umask(old)
    assert _modes(shared) == {
        ".": 0o2770,
        "made": 0o2770,
        "new": 0o2770,
        "old": 0o2770,
        "log": 0o660,
        "report.json": 0o660,
    }
    assert _modes(private) == {
        ".": 0o700,
        "made": 0o700,
        "new": 0o700,
        "log": 0o600,
        "report.json": 0o600,
    }


def test_a_state_directory_in_a_shared_one_is_shared_only_by_its_own_mode(
    tmp_path: Path,
) -> None:
    """A group directory (/srv/team, 2770) does not share the state directories in it:
    a new one is made 0700, and an existing 0700 one stays so, unreported."""
    team = tmp_path / "team"
    team.mkdir()
    team.chmod(0o2770)
    old = os.umask(0o002)  # one that would leave the group everything
    try:
        (team / "kept").mkdir(mode=0o700)
        kept = ensure_state_dir(team / "kept")
        made = ensure_state_dir(team / "made")
        deeper = ensure_state_dir(team / "a" / "state")  # a missing parent too
    finally:
        os.umask(old)
    assert (kept, made, deeper) == (
        (team / "kept", None),
        (team / "made", None),
        (team / "a" / "state", None),
    )
    modes = _modes(team)
    assert (modes["kept"], modes["made"], modes["a/state"]) == (0o700, 0o700, 0o700)
    # What agentd then makes inside follows the state directory, not the group directory.
    ensure_inner_dir(team / "made" / "runs")
    assert _modes(team / "made")["runs"] == 0o700


def test_a_shared_state_directory_keeps_recording_after_a_second_sweep(
    ws: Workspace,
) -> None:
    """The second sweep appends to the journal and replaces state.json the first made."""
    ws.state.mkdir()
    ws.state.chmod(0o2770)
    one_project(ws, recording())
    assert ws.once().returncode == 0
    again = ws.once("--force", umask=0o077)
    assert again.returncode == 0, again.stderr
    assert stat.S_IMODE((ws.state / "state.json").stat().st_mode) == 0o660
    assert len(ws.state_doc()["runs"]) == 2
