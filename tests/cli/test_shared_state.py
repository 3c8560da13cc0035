"""Two real users share one state directory through its group (issue 12, item 1): what
one's sweep records, the other's `status`, `report` and `run --once` see, claims and the
skip guard included, and each can rewrite what the other wrote. A user outside the group
is told how to get in. (Under the real systemd, with named accounts: the system install
scenario; here numeric uids and gids stand in for them, so nothing is added to the
machine's user database.)

Each user runs agentd with the system interpreter (the test's own may live under /root,
closed to them) on this checkout's modules and the virtualenv's packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentd.state import JsonFileStore
from tests.builders import config, proj, sh, toml
from tests.helpers import DEADLINE, ROOT, wait_for

OWNER, MEMBER, OUTSIDER, GROUP = 64201, 64202, 64203, 64200
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root to act as other users"
    if shutil.which("setpriv") is None:
        return "needs util-linux's setpriv"
    if SYSTEM_PYTHON is None:
        return "needs /usr/bin/python3"
    version = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if version != str(sys.version_info[:2]):
        return f"/usr/bin/python3 is {version}, not the virtualenv's {sys.version_info[:2]}"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory the other users can enter (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="agentd-shared-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _env(base: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(base / "home"),
        "PYTHONPATH": f"{ROOT}:{sysconfig.get_paths()['purelib']}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }


def _argv(uid: int, groups: list[int], *args: str) -> list[str]:
    ids = [f"--reuid={uid}", f"--regid={groups[0]}"]
    ids.append(f"--groups={','.join(map(str, groups))}" if groups[1:] else "--clear-groups")
    return ["setpriv", *ids, "--", str(SYSTEM_PYTHON), "-m", "agentd", *args]


def _as(uid: int, groups: list[int], base: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _argv(uid, groups, *args, "--config", str(base / "config.toml")),
        cwd=base,
        env=_env(base),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def _setup(base: Path) -> Path:
    """A project whose task waits for ``go`` to exist, and the state directory a system
    install makes: 2770, the owner's, the group's."""
    (base / "p").mkdir()
    state = base / "state"
    state.mkdir()
    os.chown(state, OWNER, GROUP)
    state.chmod(0o2770)
    waits = f'while [ ! -e "{base / "go"}" ]; do sleep 0.05; done'
    doc = config({"t": sh(waits)}, [proj("p", "t")], paths={"state_dir": str(state)})
    (base / "config.toml").write_text(toml(doc))
    (base / "config.toml").chmod(0o644)
    return state


def test_two_users_share_one_state_through_its_group(base: Path) -> None:
    state = _setup(base)
    owner, member = [OWNER, GROUP], [MEMBER, GROUP]
    first = subprocess.Popen(
        _argv(OWNER, owner, "run", "--once", "--json", "--config", str(base / "config.toml")),
        cwd=base,
        env=_env(base),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        running = wait_for(
            lambda: _json(_as(MEMBER, member, base, "status", "--json"))["running"],
            what="the owner's sweep to show in the member's status",
        )
        # setpriv execs the interpreter: the claim's pid is the process started here.
        assert [(c["project"], c["pid"]) for c in running] == [("p", first.pid)]
        # The owner's claim holds for the member's sweep too.
        busy = _json(_as(MEMBER, member, base, "run", "--once", "--json"))
        (project,) = busy["projects"]
        assert project["status"] == "skipped"
        assert "claimed by" in project["reason"]
        (base / "go").touch()
        _, err = first.communicate(timeout=DEADLINE)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    # The owner's success counts for the member's skip guard.
    again = _json(_as(MEMBER, member, base, "run", "--once", "--json"))
    assert again["projects"][0]["status"] == "skipped"
    assert "done today" in again["projects"][0]["reason"]
    # Each rewrites what the other wrote: state.json, its journal, the lock, runs/.
    forced = _as(MEMBER, member, base, "run", "--once", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    assert (state / "state.json").stat().st_uid == MEMBER
    back = _as(OWNER, owner, base, "run", "--once", "--force", "--json")
    assert back.returncode == 0, back.stderr
    latest = _json(back)["run_id"]
    report = _json(_as(MEMBER, member, base, "report", "--json"))
    assert report["run_id"] == latest
    status = _json(_as(MEMBER, member, base, "status", "--json"))
    assert status["last_sweep"]["run_id"] == latest
    ids = [run["run_id"] for run in JsonFileStore(state).read().runs()]
    assert ids[-2:] == [_json(forced)["run_id"], latest]
    assert {p.stat().st_gid for p in state.rglob("*")} == {GROUP}


def test_a_user_outside_the_group_is_told_how_to_get_in(base: Path) -> None:
    state = _setup(base)
    for args in (["status"], ["report"], ["run", "--once"]):
        proc = _as(OUTSIDER, [OUTSIDER], base, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert f"cannot use state directory {state}: permission denied" in proc.stderr, args
        assert f"belongs to {OWNER}:{GROUP}, mode 2770 (drwxrws---)" in proc.stderr
        assert f"sudo usermod -aG {GROUP} {OUTSIDER}`, then log in again" in proc.stderr
        assert "config init" not in proc.stderr
    assert list(state.iterdir()) == []


def test_a_config_file_closed_to_the_user_says_who_may_read_it(base: Path) -> None:
    _setup(base)
    config_file = base / "config.toml"
    os.chown(config_file, 0, GROUP)
    config_file.chmod(0o640)
    proc = _as(OUTSIDER, [OUTSIDER], base, "status")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{config_file} belongs to root:{GROUP}, mode 0640 (-rw-r-----)" in proc.stderr
    assert f"sudo usermod -aG {GROUP} {OUTSIDER}`" in proc.stderr
    assert "or run agentd with sudo" in proc.stderr
    assert "config init" not in proc.stderr
    # A member of the group reads it.
    member = _as(MEMBER, [MEMBER, GROUP], base, "config", "check")
    assert member.returncode == 0, member.stderr
