"""`agentd config init --system` (issue 12, item 1): /etc/agentd/config.toml, 0640 and of
group agentd when there is one, naming /var/lib/agentd; never overwritten; root only.

The real /etc is never touched: each run is in a private mount namespace whose /etc is an
overlay on the machine's, so what agentd writes (and the group agentd the test adds to
that /etc/group) lands in a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tomllib

import pytest

from tests.cli.test_shared_state import _argv, _env, _why_not
from tests.helpers import AGENTD, DEADLINE, Workspace

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and util-linux's unshare (a mount namespace)",
)
GID = 64200


def _in_namespace(ws: Workspace, script: str) -> subprocess.CompletedProcess[str]:
    """``script`` (sh) with /etc overlaid: writes go to ws.root/upper."""
    upper, work = ws.root / "upper", ws.root / "work"
    upper.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    mount = f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc"
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", f"{mount} && {script}"],
        env=ws.env,
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    if "overlay" in proc.stderr and "mount" in proc.stderr:
        pytest.skip(f"no overlay mount here: {proc.stderr.strip()}")
    return proc


def test_init_system_writes_the_group_s_file_once(ws: Workspace) -> None:
    script = (
        f"echo agentd:x:{GID}: >> /etc/group && "
        f"{AGENTD} config init --system && echo == && {AGENTD} config init --system"
    )
    proc = _in_namespace(ws, script)
    first, _, second = proc.stdout.partition("==\n")
    assert proc.returncode == 2, proc.stderr
    assert "wrote /etc/agentd/config.toml (0640 root:agentd), state directory /var/lib/agentd" in (
        first
    )
    assert second == ""
    assert "agentd: /etc/agentd/config.toml already exists; not overwriting it" in proc.stderr
    written = ws.root / "upper" / "agentd" / "config.toml"
    found = written.stat()
    assert (stat.S_IMODE(found.st_mode), found.st_uid, found.st_gid) == (0o640, 0, GID)
    assert tomllib.loads(written.read_text())["paths"] == {"state_dir": "/var/lib/agentd"}
    check = ws.run("config", "check", "--config", str(written))
    assert check.returncode == 0, check.stderr


def test_init_system_opens_etc_agentd_whatever_root_s_umask(ws: Workspace) -> None:
    """A hardened host's umask 077 would make /etc/agentd 0700 root:root, closed to the
    daemon (user agentd) and the group: made 0755, and nothing said."""
    proc = _in_namespace(ws, f"umask 077 && {AGENTD} config init --system")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    made = (ws.root / "upper" / "agentd").stat()
    assert (stat.S_IMODE(made.st_mode), made.st_uid, made.st_gid) == (0o755, 0, 0)


def test_init_system_says_when_etc_agentd_is_closed_to_the_group(ws: Workspace) -> None:
    """One that exists is the operator's: kept as it is, with a warning saying how to open
    it; the file is written all the same."""
    script = f"echo agentd:x:{GID}: >> /etc/group && mkdir -m 750 /etc/agentd && "
    proc = _in_namespace(ws, script + f"{AGENTD} config init --system")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        "agentd: warning: /etc/agentd is 0750 root:root: the daemon and group agentd cannot "
        "reach the file in it; open it with `chmod 755 /etc/agentd`\n"
    )
    assert stat.S_IMODE((ws.root / "upper" / "agentd").stat().st_mode) == 0o750
    assert (ws.root / "upper" / "agentd" / "config.toml").is_file()
    # Of the group agentd with group x, it is open enough: nothing said.
    again = _in_namespace(
        ws,
        f"chgrp agentd /etc/agentd && rm /etc/agentd/config.toml && {AGENTD} config init --system",
    )
    assert (again.returncode, again.stderr) == (0, "")


def test_without_the_group_the_file_is_root_s_and_says_so(ws: Workspace) -> None:
    if _has_group("agentd"):
        pytest.skip("this machine has a group agentd")
    proc = _in_namespace(ws, f"{AGENTD} config init --system")
    assert proc.returncode == 0, proc.stderr
    assert "(0640 root:root)" in proc.stdout
    assert "note: there is no group agentd, so only root can read it" in proc.stdout
    found = (ws.root / "upper" / "agentd" / "config.toml").stat()
    assert (stat.S_IMODE(found.st_mode), found.st_gid) == (0o640, 0)


def test_the_system_file_is_found_when_the_user_has_none(ws: Workspace) -> None:
    """The command line then uses /etc/agentd/config.toml, and its state directory."""
    script = f"{AGENTD} config init --system >/dev/null && {AGENTD} config path"
    env_state = ws.env.pop("AGENTD_STATE_DIR")
    try:
        proc = _in_namespace(ws, script)
    finally:
        ws.env["AGENTD_STATE_DIR"] = env_state
    assert proc.returncode == 0, proc.stderr
    assert "config:    /etc/agentd/config.toml\n" in proc.stdout
    assert "chosen by: system file" in proc.stdout
    assert "state dir: /var/lib/agentd\n" in proc.stdout
    assert "chosen by: [paths] state_dir (set in /etc/agentd/config.toml)" in proc.stdout


def test_init_system_needs_root(ws: Workspace) -> None:
    if _why_not() is not None:
        pytest.skip(str(_why_not()))
    proc = subprocess.run(
        [*_argv(64203, [64203], "config", "init", "--system")],
        env=_env(ws.root),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "agentd: writing /etc/agentd/config.toml needs root: sudo agentd config init --system\n"
    )


def _has_group(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
