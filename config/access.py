"""What to say when a file of a system install is closed to the user running agentd.

On a server the configuration (``/etc/agentd/config.toml``, 0640 root:agentd) and the state
directory (``/var/lib/agentd``, 2770 agentd:agentd) belong to the daemon's group. A user
outside it is told who owns what and how to get in: group membership (which takes effect
at the next login), or running the command as the owner. Never to create a file of their
own, which would be a second configuration that the daemon does not read.
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
    owner, group = _user(found.st_uid), _group(found.st_gid)
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
    me = _user(os.geteuid())
    as_owner = f"or run agentd as its owner (sudo -u {owner} agentd ...)"
    if owner == "root":
        as_owner = "or run agentd with sudo"
    needed = stat.S_IXGRP if stat.S_ISDIR(found.st_mode) else stat.S_IRGRP
    needed |= stat.S_IWGRP if write else 0
    if found.st_mode & needed != needed or found.st_gid in _process_groups():
        fix = "chmod g+rwX" if write else "chmod g+rX"
        return f"its group has no access: its owner may give it ({fix}), {as_owner}"
    if _listed_member(me, found.st_gid):
        return (
            f"{me} was added to group {group}, but this session does not have it yet: "
            f"log in again (or `newgrp {group}`), {as_owner}"
        )
    return (
        f"to get access join its group: `sudo usermod -aG {group} {me}`, then log in "
        f"again; {as_owner}"
    )


def _process_groups() -> set[int]:
    return {os.getegid(), *os.getgroups()}


def _listed_member(user: str, gid: int) -> bool:
    """Whether the group database names ``user`` in group ``gid`` (perhaps since a login
    that came before ``usermod -aG``)."""
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


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
