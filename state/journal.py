"""``state.json`` plus a write-ahead journal: every write durable, none of them O(state).

Rewriting the whole state file for each task outcome costs time in proportion to the
number of projects (about 12 ms per write at 300 projects). So each write appends one
line of operations to ``state.journal`` and flushes it to disk (one fdatasync), and the
whole state is rewritten into ``state.json`` only when the journal has grown as large as
the state itself: the rewrite's cost is spread over the writes that made it due.

``state.json`` is still only ever replaced atomically (temporary file, fsync, rename,
fsync of the directory), and it always holds a complete, readable state. The journal
starts with a header naming the snapshot it belongs to. A journal whose header does not
match ``state.json`` (a crash between the two renames of a compaction) is already
contained in it and is ignored. A last line without its newline is a write that a kill
cut short: it never happened, and the next writer cuts it off.

Operations are ``["set", path, value]`` and ``["del", path]`` on the JSON document.
Applying them copies each dictionary along the path instead of changing it, so a
Snapshot handed out earlier never changes under its reader.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from state.base import StateCorrupt, StateError
from state.files import fsync_dir, write_atomic

COMPACT_AT = 256 * 1024  # journal bytes: compact once past this and past the state's size

Op = list[Any]


def apply_ops(doc: dict[str, Any], ops: list[Op]) -> dict[str, Any]:
    """A new document with ``ops`` applied; ``doc`` itself is left as it was."""
    for op in ops:
        doc = _apply(doc, op)
    return doc


def _apply(doc: dict[str, Any], op: Op) -> dict[str, Any]:
    kind, path = op[0], op[1]
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


def _valid_op(op: Any) -> bool:
    if not isinstance(op, list) or len(op) < 2 or op[0] not in ("set", "del"):
        return False
    path = op[1]
    if not isinstance(path, list) or not path or not all(isinstance(k, str) for k in path):
        return False
    return len(op) == (3 if op[0] == "set" else 2)


@dataclass
class Loaded:
    doc: dict[str, Any]
    token: str | None  # the journal the snapshot expects; None: it expects none yet
    offset: int  # journal bytes consumed (0: no matching journal)
    journal_ok: bool  # the journal on disk belongs to this snapshot
    snapshot_size: int = 0
    partial_at: int | None = field(default=None)  # where an unfinished last line starts
    identity: tuple[int, int, int] | None = None  # state.json's inode, mtime, size when read


class Journal:
    def __init__(self, directory: Path, parse: Any, empty: Any) -> None:
        self.path = directory / "state.json"
        self.journal = directory / "state.journal"
        self._parse = parse  # bytes, path -> document (checked)
        self._empty = empty

    # -- reading ---------------------------------------------------------------------------

    def load(self) -> Loaded:
        """The whole state: the snapshot, then its journal."""
        identity = _identity(self.path)
        raw = _read_regular(self.path)
        doc = self._empty() if raw is None else self._parse(raw, self.path)
        token = doc.get("journal")
        loaded = Loaded(doc, token if isinstance(token, str) else None, 0, False, len(raw or b""))
        loaded.identity = identity
        if loaded.token is not None:
            self._catch_up(loaded, from_start=True)
        return loaded

    def refresh(self, loaded: Loaded) -> Loaded:
        """``loaded`` brought up to date: only the journal's new lines are read, unless the
        state was compacted meanwhile (another token), which needs a full load."""
        if loaded.token is None or not loaded.journal_ok or _identity(self.path) != loaded.identity:
            return self.load()  # state.json was replaced (or edited) since: read it again
        header = _read_header(self.journal)
        if header != loaded.token:
            return self.load()
        self._catch_up(loaded, from_start=False)
        return loaded

    def _catch_up(self, loaded: Loaded, from_start: bool) -> None:
        try:
            with open(self.journal, "rb") as handle:
                if from_start:
                    first = handle.readline()
                    if _token_of(first) != loaded.token:
                        return  # not this snapshot's journal: already contained in it
                    loaded.offset = len(first)
                    loaded.journal_ok = True
                handle.seek(loaded.offset)
                data = handle.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(f"cannot read {self.journal}: {exc.strerror}") from None
        complete = data[: data.rfind(b"\n") + 1]
        loaded.partial_at = loaded.offset + len(complete) if len(complete) < len(data) else None
        for line in complete.splitlines():
            try:
                ops = json.loads(line)
            except ValueError:
                ops = None
            if not isinstance(ops, list) or not all(_valid_op(op) for op in ops):
                raise StateCorrupt(
                    f"{self.journal} has a line that is not agentd's; it is left untouched: "
                    "move it and state.json aside to start with an empty state"
                )
            loaded.doc = apply_ops(loaded.doc, ops)
        loaded.offset += len(complete)

    # -- writing (the caller holds the lock) ---------------------------------------------

    def append(self, loaded: Loaded, ops: list[Op]) -> None:
        """Make ``ops`` durable and apply them to ``loaded``."""
        new_doc = apply_ops(loaded.doc, ops)
        if not loaded.journal_ok or loaded.token is None or self._due(loaded):
            self.compact(loaded, new_doc)
            return
        line = json.dumps(ops, separators=(",", ":")).encode() + b"\n"
        try:
            fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise StateError(f"cannot write {self.journal}: {exc.strerror}") from None
        try:
            if loaded.partial_at is not None:
                os.ftruncate(fd, loaded.partial_at)  # a write cut short by a kill: undone
                loaded.partial_at = None
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(28, "short write")
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
        doc = {**doc, "journal": token}
        data = json.dumps(doc, indent=1, sort_keys=True).encode()
        header = json.dumps({"journal": token}).encode() + b"\n"
        try:
            write_atomic(self.path, data)
        except OSError as exc:
            raise StateError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        try:
            write_atomic(self.journal, header, sync_dir=False)
            fsync_dir(self.journal.parent)
        except OSError as exc:
            # state.json is complete on its own; the old journal no longer matches it and
            # is ignored. The next write retries the new journal.
            loaded.doc, loaded.token, loaded.journal_ok = doc, token, False
            loaded.snapshot_size, loaded.identity = len(data), _identity(self.path)
            raise StateError(f"cannot write {self.journal}: {exc.strerror or exc}") from None
        loaded.doc, loaded.token, loaded.journal_ok = doc, token, True
        loaded.offset, loaded.partial_at, loaded.snapshot_size = len(header), None, len(data)
        loaded.identity = _identity(self.path)


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _token_of(line: bytes) -> str | None:
    try:
        header = json.loads(line)
    except ValueError:
        return None
    token = header.get("journal") if isinstance(header, dict) else None
    return token if isinstance(token, str) else None


def _read_header(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return _token_of(handle.readline(4096))
    except OSError:
        return None


def _read_regular(path: Path) -> bytes | None:
    """The file's bytes; None if it does not exist. O_NONBLOCK: a FIFO must not hang us."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StateCorrupt(f"{path} is not a regular file; it is left untouched")
        try:
            return handle.read()
        except OSError as exc:
            raise StateError(f"cannot read {path}: {exc.strerror}") from None
