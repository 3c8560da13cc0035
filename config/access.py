"""What to say when a file of a system install is closed to the user running agentd.

On a server the configuration (``/etc/agentd/config.toml``, 0640 root:agentd) and the state
directory (``/var/lib/agentd``, 2770 agentd:agentd) belong to the daemon's group. A user
outside it is told who owns what and how to get in: group membership (which takes effect
at the next login), or running the command as the owner. Never to create a file of their
own, which would be a second configuration that the daemon does not read.

The rules behind those messages (which groups this process has, who the group database
lists, whether a mode lets us write, whether a path is there as far as we can tell) live
here, once, for every layer above config. ``state`` may not import config: it keeps its
own single test of group membership (``state/files.py``).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path


def denied(path: Path, write: bool = False) -> str:
    """``path`` could not be read (EACCES), or written with ``write``: which file or
    directory stops us, its owner, group and mode, and how to get access."""
    blocker = _blocker(path)
    try:
        found = os.stat(blocker)
    except OSError:
        return f"permission denied on {path}"
    owner, group = user_name(found.st_uid), group_name(found.st_gid)
    mode = f"{stat.S_IMODE(found.st_mode):04o} ({stat.filemode(found.st_mode)})"
    where = f"{blocker} belongs to {owner}:{group}, mode {mode}"
    if blocker != path:
        where = f"{path} is in {blocker}, which belongs to {owner}:{group}, mode {mode}"
    return f"permission denied: {where}; {_how(found, owner, group, write)}"


def _blocker(path: Path) -> Path:
    """The first directory on the way to ``path`` that we may not enter, else ``path``."""
    for parent in reversed(path.parents):
        try:
            os.stat(parent)
        except OSError:
            return parent
        if not os.access(parent, os.X_OK):
            return parent
    return path


def _how(found: os.stat_result, owner: str, group: str, write: bool) -> str:
    me = user_name(os.geteuid())
    as_owner = f"or run agentd as its owner (sudo -u {owner} agentd ...)"
    if owner == "root":
        as_owner = "or run agentd with sudo"
    needed = stat.S_IXGRP if stat.S_ISDIR(found.st_mode) else stat.S_IRGRP
    needed |= stat.S_IWGRP if write else 0
    if found.st_mode & needed != needed or found.st_gid in process_groups():
        fix = "chmod g+rwX" if write else "chmod g+rX"
        return f"its group has no access: its owner may give it ({fix}), {as_owner}"
    if listed_member(me, found.st_gid):
        return (
            f"{me} was added to group {group}, but this session does not have it yet: "
            f"log in again (or `newgrp {group}`), {as_owner}"
        )
    return (
        f"to get access join its group: `sudo usermod -aG {group} {me}`, then log in "
        f"again; {as_owner}"
    )


def exists(path: Path) -> bool | None:
    """Whether ``path`` is there; None when a directory on the way is closed to us, so
    that nobody here can tell."""
    try:
        os.stat(path)
    except PermissionError:
        return None
    except OSError:
        return False
    return True


def process_groups() -> set[int]:
    """The groups this process has now (not those it gets at the next login)."""
    return {os.getegid(), *os.getgroups()}


def writable_by_mode(found: os.stat_result) -> bool:
    """Whether the mode bits (not the mount) of ``found`` let this process write to it."""
    if os.geteuid() == 0:
        return True
    if found.st_uid == os.geteuid():
        return bool(found.st_mode & stat.S_IWUSR)
    if found.st_gid in process_groups():
        return bool(found.st_mode & stat.S_IWGRP)
    return bool(found.st_mode & stat.S_IWOTH)


def listed_member(user: str, gid: int) -> bool:
    """Whether the group database puts ``user`` in group ``gid``, as its primary group or
    a listed member (perhaps since a login that came before ``usermod -aG``)."""
    try:
        entry = grp.getgrgid(gid)
    except KeyError:
        return False
    if user in entry.gr_mem:
        return True
    try:
        return pwd.getpwnam(user).pw_gid == gid
    except KeyError:
        return False


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
