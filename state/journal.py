"""``state.json`` plus a write-ahead journal: every write durable, none of them O(state).

Rewriting the whole state file for each task outcome costs time in proportion to the
number of projects (about 12 ms per write at 300 projects). So each write appends one
line of operations to ``state.journal`` and flushes it to disk (one fdatasync), and the
whole state is rewritten into ``state.json`` only when the journal has grown as large as
the state itself: the rewrite's cost is spread over the writes that made it due.

``state.json`` is still only ever replaced atomically (temporary file, fsync, rename,
fsync of the directory), and it always holds a complete, readable state. A rewrite
renames the new ``state.json`` in first, then a new journal: a crash between the two
leaves an old journal that the new ``state.json`` already contains.

The journal's first line names the snapshot it belongs to: a token that ``state.json``
carries too, and a digest of ``state.json``'s bytes.
- A journal with another token is a leftover from such a crash, and is ignored.
- A matching token with another digest means ``state.json`` was edited by hand while the
  journal held writes that are not in it: refused, never guessed at.
- A first line that does not parse is damage: refused too.
- A last line without its newline is a write that a kill cut short: it never happened,
  and the next writer cuts it off.

Operations are ``["set", path, value]`` and ``["del", path]`` on the JSON document, and
``["run", summary, keep]``, which puts one run's summary into the history (replacing one
with its run id), keeps it in the order runs finished and keeps the last ``keep`` of the
summary's host: a line holds that
one summary, not the whole history again (with per-project entries, the history of 30
runs of 300 projects is most of a megabyte). Applying them copies each dictionary along
the path instead of changing it, so a Snapshot handed out earlier never changes under its
reader.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from agentd.state.base import NEVER, STATE_VERSION, StateCorrupt, StateError
from agentd.state.files import fsync_dir, write_atomic

COMPACT_AT = 256 * 1024  # journal bytes: compact once past this and past the state's size
RETRIES = 5  # reading while another process compacts: read again, a few times at most

Op = list[Any]


def apply_ops(doc: dict[str, Any], ops: list[Op]) -> dict[str, Any]:
    """A new document with ``ops`` applied; ``doc`` itself is left as it was."""
    for op in ops:
        doc = _apply(doc, op)
    return doc


def _apply(doc: dict[str, Any], op: Op) -> dict[str, Any]:
    kind, path = op[0], op[1]
    if kind == "run":
        return _put_run(doc, op[1], op[2])
    root = dict(doc)
    node = root
    for key in path[:-1]:
        child = node.get(key)
        child = dict(child) if isinstance(child, dict) else {}
        node[key] = child
        node = child
    if kind == "set":
        node[path[-1]] = op[2]
    else:
        node.pop(path[-1], None)
    return root


def _put_run(doc: dict[str, Any], summary: dict[str, Any], keep: int) -> dict[str, Any]:
    run_id, host = summary.get("run_id"), summary.get("host")
    old = doc.get("runs", [])
    runs = [r for r in old if not (isinstance(r, dict) and r.get("run_id") == run_id)]
    runs.append(summary)
    runs.sort(key=_finished)
    # ``keep`` is per host; a summary without one (written before hosts) is this host's.
    ours = [r for r in runs if host is None or r.get("host") in (None, host)]
    dropped = {id(r) for r in ours[: max(0, len(ours) - keep)]}
    return {**doc, "runs": [r for r in runs if id(r) not in dropped]}


def _finished(run: dict[str, Any]) -> tuple[datetime, str]:
    """The history's order: by when runs finished (an instant: stamps carry the offset of
    their day), then by run id; a summary without its end first."""
    try:
        moment = datetime.fromisoformat(str(run.get("finished_at")))
    except ValueError:
        moment = NEVER
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment, str(run.get("run_id", ""))


def _valid_op(op: Any) -> bool:
    if isinstance(op, list) and len(op) == 3 and op[0] == "run":
        keep = op[2]
        return isinstance(op[1], dict) and isinstance(keep, int) and keep >= 1
    if not isinstance(op, list) or len(op) < 2 or op[0] not in ("set", "del"):
        return False
    path = op[1]
    if not isinstance(path, list) or not path or not all(isinstance(k, str) for k in path):
        return False
    return len(op) == (3 if op[0] == "set" else 2)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Loaded:
    doc: dict[str, Any]
    token: str | None  # the journal the snapshot expects; None: it expects none yet
    digest: str | None  # of state.json's bytes
    offset: int = 0  # journal bytes consumed
    header_size: int = 0  # offset == header_size: no writes since the last rewrite
    journal_ok: bool = False  # the journal on disk belongs to this snapshot
    snapshot_size: int = 0
    partial_at: int | None = field(default=None)  # where an unfinished last line starts
    identity: tuple[int, int, int] | None = None  # state.json's inode, mtime, size when read


class Journal:
    def __init__(
        self,
        directory: Path,
        parse: Callable[[bytes, Path], dict[str, Any]],
        empty: Callable[[], dict[str, Any]],
        check: Callable[[dict[str, Any], list[Op], Path], None],
    ) -> None:
        self.path = directory / "state.json"
        self.journal = directory / "state.journal"
        self._parse = parse  # state.json's bytes -> document, shapes checked
        self._empty = empty  # the state when there is no state.json yet (it may refuse)
        self._check = check  # the entries a batch of operations touched, shapes checked

    # -- reading ---------------------------------------------------------------------------

    def load(self) -> Loaded:
        """The whole state: the snapshot, then its journal."""
        for _ in range(RETRIES):
            identity = _identity(self.path)
            raw = _read_regular(self.path)
            doc = self._empty() if raw is None else self._parse(raw, self.path)
            token = doc.get("journal")
            loaded = Loaded(doc, token if isinstance(token, str) else None, _digest(raw or b""))
            loaded.identity, loaded.snapshot_size = identity, len(raw or b"")
            if loaded.token is None or self._read(loaded, from_start=True):
                return loaded
            # Another token: a leftover from a crash, or a compaction that raced this read.
            if _identity(self.path) == identity:
                return loaded  # state.json did not change: a leftover, contained in it
        return loaded

    def refresh(self, loaded: Loaded) -> Loaded:
        """``loaded`` brought up to date: only the journal's new lines are read, unless the
        state was rewritten meanwhile, which needs a full load."""
        if loaded.token is None or not loaded.journal_ok or _identity(self.path) != loaded.identity:
            return self.load()  # state.json was replaced (or edited) since: read it again
        if not self._read(loaded, from_start=False):
            return self.load()
        return loaded

    def _read(self, loaded: Loaded, from_start: bool) -> bool:
        """Apply the journal's complete lines past ``loaded.offset``; False if the journal
        on disk is not this snapshot's. Header and lines come through one descriptor, so a
        rewrite in between cannot mix two journals."""
        handle = _open_regular(self.journal)
        if handle is None:
            return False
        with handle:
            first = handle.readline()
            header = _header(first, self.journal)
            if header["journal"] != loaded.token:
                return False
            if from_start:
                loaded.offset = loaded.header_size = len(first)
            handle.seek(loaded.offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        loaded.partial_at = loaded.offset + len(complete) if len(complete) < len(data) else None
        batches = [self._ops(line) for line in complete.splitlines()]
        if from_start and header.get("snapshot") not in (None, loaded.digest):
            if batches:
                raise StateCorrupt(
                    f"{self.path} was changed while {self.journal} holds writes that are not "
                    "in it (edited by hand while agentd ran?); both are left untouched: put "
                    "back the old state.json, or move state.journal aside to drop those writes"
                )
            return False  # edited after a checkpoint: the edit stands, a new journal follows
        for ops in batches:
            loaded.doc = apply_ops(loaded.doc, ops)
            self._check(loaded.doc, ops, self.journal)
        loaded.offset += len(complete)
        loaded.journal_ok = True
        return True

    def _ops(self, line: bytes) -> list[Op]:
        try:
            ops = json.loads(line)
        except ValueError:
            ops = None
        if not isinstance(ops, list) or not all(_valid_op(op) for op in ops):
            raise StateCorrupt(
                f"{self.journal} has a line that is not agentd's; it is left untouched: "
                "move it and state.json aside to start with an empty state"
            )
        return ops

    # -- writing (the caller holds the lock) ---------------------------------------------

    def append(self, loaded: Loaded, ops: list[Op]) -> None:
        """Make ``ops`` durable and apply them to ``loaded``."""
        new_doc = apply_ops(loaded.doc, ops)
        if not loaded.journal_ok or loaded.token is None:
            self.compact(loaded, new_doc)  # no journal of this snapshot to append to
            return
        if self._due(loaded):
            with contextlib.suppress(StateError):  # e.g. a full disk: one line may still fit
                self.compact(loaded, new_doc)
                return
        line = json.dumps(ops, separators=(",", ":")).encode() + b"\n"
        flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.journal, flags)
        except OSError as exc:
            raise StateError(f"cannot write {self.journal}: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise StateCorrupt(f"{self.journal} is not a regular file; it is left untouched")
            if loaded.partial_at is not None:
                os.ftruncate(fd, loaded.partial_at)  # a write cut short by a kill: undone
                loaded.partial_at = None
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(28, "No space left on device (short write)")
            os.fdatasync(fd)
        except OSError as exc:
            # Leave no half line behind: the journal stays as it was before this write.
            try:
                os.ftruncate(fd, loaded.offset)
            except OSError:
                loaded.partial_at = loaded.offset
            raise StateError(f"cannot write {self.journal}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        loaded.doc = new_doc
        loaded.offset += len(line)

    def _due(self, loaded: Loaded) -> bool:
        return loaded.offset > max(COMPACT_AT, loaded.snapshot_size)

    def compact(self, loaded: Loaded, doc: dict[str, Any]) -> None:
        """Write the whole state to state.json and start a new, empty journal for it."""
        token = secrets.token_hex(8)
        doc = {**doc, "version": STATE_VERSION, "journal": token}
        # Compact: with `indent`, json falls back to its pure-Python encoder, three times
        # slower on a 300-project state with its run history (about 150 ms against 45 ms,
        # paid at the end of every sweep); `agentd status` is the way to read it.
        data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        header = json.dumps({"journal": token, "snapshot": _digest(data)}).encode() + b"\n"
        # A state.json that is a symbolic link (to another disk, say) is the operator's
        # choice, like a symlinked state directory: the file it points to is replaced.
        target = self.path.resolve() if self.path.is_symlink() else self.path
        try:
            write_atomic(target, data)
        except OSError as exc:
            raise StateError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        # From here on the write is durable: state.json holds it, whatever happens next.
        loaded.doc, loaded.token, loaded.digest = doc, token, _digest(data)
        loaded.snapshot_size, loaded.identity = len(data), _identity(self.path)
        loaded.journal_ok, loaded.partial_at = False, None
        try:
            write_atomic(self.journal, header, sync_dir=False)
            fsync_dir(self.journal.parent)
        except OSError:
            return  # the old journal no longer matches and is ignored; the next write retries
        loaded.journal_ok, loaded.offset = True, len(header)
        loaded.header_size = len(header)


def _header(line: bytes, path: Path) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or not isinstance(header.get("journal"), str):
        raise StateCorrupt(
            f"{path} has a damaged first line; it is left untouched: move it aside to keep "
            "state.json as it is (the writes since its last rewrite are then lost)"
        )
    return header


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _open_regular(path: Path) -> BinaryIO | None:
    """The file opened for reading; None if it does not exist. O_NONBLOCK: a FIFO in its
    place must not hang us, and anything but a regular file is refused, left as it is."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from None
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise StateCorrupt(f"{path} is not a regular file; it is left untouched")
    return handle


def _read_regular(path: Path) -> bytes | None:
    """The file's bytes; None if it does not exist."""
    handle = _open_regular(path)
    if handle is None:
        return None
    with handle:
        try:
            return handle.read()
        except OSError as exc:
            raise StateError(f"cannot read {path}: {exc.strerror}") from None
