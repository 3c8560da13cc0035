"""State directories, private or shared with a group, and durable, atomic file replacement.

A reader must see the old file or the new one, never a torn one, whatever is killed when:
so a new version is written to a temporary file in the same directory, flushed to disk,
renamed over the old name, and the directory entry itself is flushed.

A state directory is private (0700, files 0600) unless it has the setgid bit and gives
its group everything (2770, as a system install makes ``/var/lib/agentd``): then it is
shared with that group on purpose, so the daemon and the group's members running
``agentd run --once`` or ``status`` use one state, one skip guard and one set of claims.
Everything made inside a shared directory is the group's too (directories 2770, files
0660), so that each can rewrite what the other made. Either way the modes are set
explicitly, whatever the umask.

The state directory itself is shared only by its own mode, never by its parent's: one
kept or made inside a setgid group directory (``/srv/team``, 2770) stays 0700, since the
state and task logs are the group's only when someone chose so for that directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

DIR_MODE = 0o700
PARENT_MODE = 0o755
FILE_MODE = 0o600
SHARED_DIR_MODE = 0o2770
SHARED_FILE_MODE = 0o660


def is_shared(mode: int) -> bool:
    """A directory mode that shares it with its group: setgid, and group rwx."""
    return bool(mode & stat.S_ISGID) and mode & stat.S_IRWXG == stat.S_IRWXG


def file_mode(directory: Path) -> int:
    """The mode of a file agentd creates in ``directory``."""
    try:
        shared = is_shared(os.stat(directory).st_mode)
    except OSError:
        shared = False
    return SHARED_FILE_MODE if shared else FILE_MODE


def ensure_state_dir(path: Path) -> tuple[Path, int | None]:
    """Create the state directory ``path`` (and parents) and give it its mode, whatever the
    umask and whatever its parent: 2770 if it is shared itself, else 0700.

    Returns the directory (a symlink resolved) and, if its mode had to be changed, the old
    mode, for the caller to say so. A directory owned by another user is refused
    (PermissionError) unless it is shared with a group we are in: otherwise its owner
    could swap its files under us, and what we wrote there would be unusable by them.

    Missing parents (``~/.local/state`` on a first run) get 0755, not what a permissive
    umask would give: a world-writable parent would let anyone swap the state directory.
    """
    return _ensure_dir(path, inherit=False)


def ensure_inner_dir(path: Path) -> tuple[Path, int | None]:
    """Like ensure_state_dir, for a directory agentd keeps inside the state directory
    (``runs/``, a run's project directory, ``worktrees/``): shared if it or the directory
    holding it is, so that it follows the state directory's sharing."""
    return _ensure_dir(path, inherit=True)


def _ensure_dir(path: Path, inherit: bool) -> tuple[Path, int | None]:
    for parent in reversed(path.parents):
        if not parent.exists():
            with contextlib.suppress(FileExistsError):
                parent.mkdir(mode=PARENT_MODE)  # the umask may narrow it, never widen it
    created = False
    with contextlib.suppress(FileExistsError):
        # A setgid parent passes its setgid bit on (2700): the chmod below takes it off.
        path.mkdir(mode=DIR_MODE)
        created = True
    if path.is_symlink():
        # A symlinked state directory is the operator's choice; its target gets the mode.
        path = path.resolve()
    found = path.stat()
    shared = is_shared(found.st_mode) or (inherit and is_shared(path.parent.stat().st_mode))
    if found.st_uid != os.geteuid():
        # The same set as config.access.process_groups, which state may not import.
        if not shared or found.st_gid not in {os.getegid(), *os.getgroups()}:
            raise PermissionError(errno.EPERM, _not_ours(path, found), str(path))
        if found.st_mode & stat.S_IWOTH:
            raise PermissionError(errno.EPERM, f"{path} is writable by anyone", str(path))
        return path, None  # its owner's to set: shared with us is all we need
    mode = stat.S_IMODE(found.st_mode)
    wanted = SHARED_DIR_MODE if shared else DIR_MODE
    if mode == wanted:
        return path, None
    path.chmod(wanted)
    # Only setgid taken off (2700, made in a setgid directory): nobody else could get in.
    unchanged = mode & 0o777 == wanted & 0o777
    return path, None if created or unchanged else mode


def new_dir(path: Path) -> None:
    """Make the new directory ``path`` (FileExistsError if it is there) with the mode its
    parent calls for: 2770 in a shared directory, else 0700."""
    shared = is_shared(path.parent.stat().st_mode)
    path.mkdir(mode=DIR_MODE)
    if shared:
        path.chmod(SHARED_DIR_MODE)


def _not_ours(path: Path, found: os.stat_result) -> str:
    import grp
    import pwd

    def name(number: int) -> str:
        try:
            return f"{pwd.getpwuid(number).pw_name} (uid {number})"
        except KeyError:
            return f"uid {number}"

    try:
        group = grp.getgrgid(found.st_gid).gr_name
    except KeyError:
        group = str(found.st_gid)
    return (
        f"{path} belongs to {name(found.st_uid)}, not to {name(os.geteuid())}, and is not "
        f"shared with a group of yours (mode {stat.S_IMODE(found.st_mode):04o}, group "
        f"{group}): agentd uses a state directory of its own user, or one shared with its "
        'group (mode 2770, README "A shared state directory"); run it as its owner, '
        "join its group, or choose another directory"
    )


def write_atomic(path: Path, data: bytes, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` durably; on any failure the old file is untouched.

    ``sync_dir=False`` leaves the directory's fsync to the caller, who may batch it.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode(path.parent))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable: the new directory entry itself reaches the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def nearly_full(path: Path) -> bool:
    """Whether the file system of ``path`` has next to no room left: nearly nothing rather
    than nothing, since agentd itself may have freed a block since what failed."""
    try:
        found = os.statvfs(path)
    except OSError:
        return False
    return found.f_bavail * found.f_frsize < 1024 * 1024


def open_new(path: Path) -> int:
    """A new file for writing, 0600 (0660 in a shared directory); refuses to follow a
    symlink planted at ``path``."""
    mode = file_mode(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, mode)
    if os.fstat(fd).st_uid == os.geteuid():  # another member's file keeps its owner's mode
        os.fchmod(fd, mode)
    return fd
