"""The state directory: there (or creatable), the daemon's own, not open to others,
writable, and with room for a night's logs.

Nothing is written: access(2) and the file system's read-only flag answer "writable" (the
sweep itself still probes with a real write before it runs anything).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path

from agentd.config.access import listed_member
from agentd.config.sizes import human
from agentd.daemon.output.textout import harmless
from agentd.daemon.service.doctor.check import Check, ok, problem, warning
from agentd.state.files import SHARED_DIR_MODE, is_shared

# Free space under which a warning is given: a sweep's logs may take up to max_log_size
# per task, and the report, state and journal need room beside them; 1 GiB at least.
FREE_FLOOR = 1024**3
PRIVATE = 0o700


def state_checks(directory: Path, owner: str | None, need: int, systemd_made: bool) -> list[Check]:
    """``owner``: the daemon's user name (None: not known before start, DynamicUser=);
    ``need``: bytes a night's logs may take; ``systemd_made``: StateDirectory= creates it."""
    subject = harmless(str(directory))
    try:
        found = directory.stat()
    except FileNotFoundError:
        return [_missing(directory, subject, systemd_made), _space(directory, subject, need)]
    except OSError as exc:
        return [problem("state", subject, f"cannot be reached: {exc.strerror}")]
    if not stat.S_ISDIR(found.st_mode):
        return [problem("state", subject, "is not a directory")]
    return [
        _owner(found, subject, owner),
        _mode(found, subject),
        _writable(directory, subject),
        _space(directory, subject, need),
    ]


def _missing(directory: Path, subject: str, systemd_made: bool) -> Check:
    if systemd_made:
        return ok("state", subject, "does not exist yet: systemd creates it (StateDirectory=)")
    parent = _existing_parent(directory)
    if os.access(parent, os.W_OK | os.X_OK):
        return ok("state", subject, "does not exist yet: agentd creates it (0700) when it writes")
    where = harmless(str(parent))
    return problem(
        "state", subject, f"does not exist and cannot be created: {where} is not writable"
    )


def _owner(found: os.stat_result, subject: str, owner: str | None) -> Check:
    have = _user_name(found.st_uid)
    if owner is None or have == owner:
        return ok("state: owner", subject, f"owned by {harmless(have)}")
    group = _group_name(found.st_gid)
    if is_shared(found.st_mode) and listed_member(owner, found.st_gid):
        why = f"owned by {harmless(have)}, shared with group {group}, which {harmless(owner)} is in"
        return ok("state: owner", subject, why)
    why = (
        f"owned by {harmless(have)}, not by {harmless(owner)} (the daemon's user), and not "
        f"shared with a group of {harmless(owner)}'s: agentd refuses it"
    )
    return problem("state: owner", subject, why)


def _mode(found: os.stat_result, subject: str) -> Check:
    mode = stat.S_IMODE(found.st_mode)
    if mode & 0o007:
        why = (
            f"mode {mode:04o}: other users can read or change the state and the task logs "
            f"(chmod {PRIVATE:04o}, or {SHARED_DIR_MODE:04o} to share it with a group)"
        )
        return problem("state: permissions", subject, why)
    if mode & 0o777 == PRIVATE:
        return ok("state: permissions", subject, f"{mode:04o}: private")
    if is_shared(mode):
        group = _group_name(found.st_gid)
        return ok("state: permissions", subject, f"{mode:04o}: shared with group {group}")
    why = (
        f"mode {mode:04o}: neither private ({PRIVATE:04o}) nor shared with a group "
        f"({SHARED_DIR_MODE:04o}); agentd makes it {PRIVATE:04o} when it next writes there"
    )
    return warning("state: permissions", subject, why)


def _writable(directory: Path, subject: str) -> Check:
    if not os.access(directory, os.W_OK | os.X_OK):
        return problem("state: writable", subject, "not writable by this user")
    if os.statvfs(directory).f_flag & os.ST_RDONLY:
        return problem("state: writable", subject, "on a file system mounted read-only")
    return ok("state: writable", subject, "writable")


def _space(directory: Path, subject: str, need: int) -> Check:
    fs = os.statvfs(_existing_parent(directory))
    free = fs.f_bavail * fs.f_frsize
    if free >= need:
        return ok("state: free space", subject, f"{human(free)} free")
    why = (
        f"{human(free)} free, under {human(need)} (what one sweep's logs may take at "
        "max_log_size per task, or 1 GiB at least)"
    )
    return warning("state: free space", subject, why)


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group_name(gid: int) -> str:
    try:
        return harmless(grp.getgrgid(gid).gr_name)
    except KeyError:
        return f"gid {gid}"
