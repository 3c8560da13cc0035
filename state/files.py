"""Private directories and durable, atomic file replacement.

A reader must see the old file or the new one, never a torn one, whatever is killed when:
so a new version is written to a temporary file in the same directory, flushed to disk,
renamed over the old name, and the directory entry itself is flushed. The temporary file is
created 0600 by mkstemp, so a permissive umask never exposes state or reports.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

DIR_MODE = 0o700
PARENT_MODE = 0o755
FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> tuple[Path, int | None]:
    """Create ``path`` (and parents) and make ``path`` itself 0700, whatever the umask.

    Returns the directory (a symlink resolved) and, if its mode had to be changed, the old
    mode, for the caller to say so. A directory owned by another user is refused
    (PermissionError): whoever owns it can swap its files under us, and what we wrote there
    would end up owned by us and unusable by them.

    Missing parents (``~/.local/state`` on a first run) get 0755, not what a permissive
    umask would give: a world-writable parent would let anyone swap the state directory.
    """
    for parent in reversed(path.parents):
        if not parent.exists():
            with contextlib.suppress(FileExistsError):
                parent.mkdir(mode=PARENT_MODE)  # the umask may narrow it, never widen it
    path.mkdir(exist_ok=True, mode=DIR_MODE)
    if path.is_symlink():
        # A symlinked state directory is the operator's choice; its target gets the mode.
        path = path.resolve()
    found = path.stat()
    if found.st_uid != os.geteuid():
        raise PermissionError(errno.EPERM, _not_ours(path, found.st_uid), str(path))
    mode = found.st_mode & 0o777
    if mode == DIR_MODE:
        return path, None
    path.chmod(DIR_MODE)
    return path, mode


def _not_ours(path: Path, uid: int) -> str:
    import pwd

    def name(number: int) -> str:
        try:
            return f"{pwd.getpwuid(number).pw_name} (uid {number})"
        except KeyError:
            return f"uid {number}"

    return (
        f"{path} belongs to {name(uid)}, not to {name(os.geteuid())}: agentd uses only a "
        "state directory of its own user (run it as its owner, or choose another directory)"
    )


def write_atomic(path: Path, data: bytes, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` durably; on any failure the old file is untouched.

    ``sync_dir=False`` leaves the directory's fsync to the caller, who may batch it.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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


def open_private(path: Path) -> int:
    """A new 0600 file for writing; refuses to follow a symlink planted at ``path``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd
