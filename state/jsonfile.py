"""The embedded state store: ``state.json`` guarded by ``state.json.lock``.

The lock is a separate file because the data file is replaced by rename on every write: a
lock held on the old inode would not exclude a process that opened the new one. Readers
take no lock; the rename makes every read see a whole file.

A file that does not parse, or that a newer agentd wrote, is never overwritten: every
method raises StateCorrupt naming it, so the operator decides what to do with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from state.base import (
    STATE_VERSION,
    AllDone,
    Busy,
    Claimed,
    ClaimLost,
    ClaimResult,
    ProjectRecord,
    Snapshot,
    StateCorrupt,
    StateError,
    StateStore,
    TaskRecord,
    is_done,
)
from state.claims import Holder, this_host, why_stale
from state.files import FILE_MODE, ensure_private_dir, write_atomic

LOCK_TIMEOUT = 60.0  # a write takes milliseconds; a minute means something is stuck
SKIPPED_FIRES_KEPT = 20


def empty_document() -> dict[str, Any]:
    return {"version": STATE_VERSION, "projects": {}, "claims": {}, "runs": [], "fires": {}}


class JsonFileStore(StateStore):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "state.json"
        self.lock_path = directory / "state.json.lock"
        self._lock: FileLock | None = None
        self._thread_lock = threading.Lock()
        self._swept = False

    # -- reading ---------------------------------------------------------------------------

    def read(self) -> Snapshot:
        with self._thread_lock:
            return Snapshot(self._load())

    def _load(self) -> dict[str, Any]:
        try:
            # O_NONBLOCK: a FIFO planted here must not hang every command.
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return empty_document()
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise StateCorrupt(f"{self.path} is not a regular file; it is left untouched")
            try:
                raw = handle.read()
            except OSError as exc:
                raise StateError(f"cannot read {self.path}: {exc.strerror}") from None
        return parse_document(raw, self.path)

    # -- writing ---------------------------------------------------------------------------

    def _update(self, change: Callable[[dict[str, Any]], Any]) -> Any:
        """Apply ``change`` to the current document and write it, all under the lock."""
        with self._thread_lock, self._locked():
            doc = self._load()
            result = change(doc)
            data = json.dumps(doc, indent=1, sort_keys=True).encode()
            try:
                write_atomic(self.path, data)
            except OSError as exc:
                raise StateError(f"cannot write {self.path}: {exc.strerror or exc}") from None
            return result

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock is None:
            try:
                ensure_private_dir(self.directory)
            except OSError as exc:
                raise StateError(f"cannot create state directory {self.directory}: {exc}") from None
            self._lock = FileLock(
                self.lock_path, timeout=LOCK_TIMEOUT, mode=FILE_MODE, preserve_lock_file=True
            )
        try:
            self._lock.acquire()
        except Timeout:
            raise StateError(
                f"{self.lock_path} has been locked for over {LOCK_TIMEOUT:.0f}s by another process"
            ) from None
        except OSError as exc:
            raise StateError(f"cannot lock {self.lock_path}: {exc.strerror or exc}") from None
        try:
            if not self._swept:
                self._remove_leftovers()
            yield
        finally:
            self._lock.release()

    def _remove_leftovers(self) -> None:
        """Temporary files of writers that were killed mid-write. Under the lock no write is
        in progress, so every one of them is garbage."""
        for path in self.directory.glob(".state.json.*.tmp"):
            with contextlib.suppress(OSError):
                path.unlink()
        self._swept = True

    # -- the contract ----------------------------------------------------------------------

    def claim(
        self, project: str, holder: Holder, date: str, tasks: list[str], force: bool, now: datetime
    ) -> ClaimResult:
        host = this_host()

        def change(doc: dict[str, Any]) -> ClaimResult:
            claims = doc.setdefault("claims", {})
            replaced: Holder | None = None
            why: str | None = None
            if project in claims:
                current = Holder.from_dict(claims[project])
                why = why_stale(current, now, host)
                if why is None:
                    return Busy(current)
                replaced = current
            known = doc.get("projects", {}).get(project, {}).get("tasks", {})
            done = (
                frozenset() if force else frozenset(t for t in tasks if is_done(known.get(t), date))
            )
            if tasks and len(done) == len(tasks):
                if replaced is not None:
                    del claims[project]
                return AllDone()
            claims[project] = holder.to_dict()
            return Claimed(done, replaced, why)

        result: ClaimResult = self._update(change)
        return result

    def reap(self, now: datetime) -> list[tuple[str, Holder, str]]:
        host = this_host()
        stale = []
        for project, holder in self.read().claims().items():
            why = why_stale(holder, now, host)
            if why is not None:
                stale.append((project, holder, why))
        if not stale:
            return []  # the usual case: no write at all

        def change(doc: dict[str, Any]) -> list[tuple[str, Holder, str]]:
            reaped = []
            claims = doc.setdefault("claims", {})
            for project in list(claims):
                holder = Holder.from_dict(claims[project])
                why = why_stale(holder, now, host)
                if why is not None:
                    del claims[project]
                    reaped.append((project, holder, why))
            return reaped

        result: list[tuple[str, Holder, str]] = self._update(change)
        return result

    def heartbeat(self, run_id: str, now: datetime) -> None:
        stamp = now.isoformat(timespec="seconds")

        def change(doc: dict[str, Any]) -> None:
            for claim in doc.get("claims", {}).values():
                if claim.get("run_id") == run_id:
                    claim["heartbeat"] = stamp

        self._update(change)

    def record(self, project: str, task: str, record: TaskRecord) -> None:
        def change(doc: dict[str, Any]) -> None:
            _check_holder(doc, project, record.run_id)
            entry = doc.setdefault("projects", {}).setdefault(project, {})
            entry.setdefault("tasks", {})[task] = record.to_dict()

        self._update(change)

    def release(self, project: str, run_id: str, record: ProjectRecord | None) -> None:
        def change(doc: dict[str, Any]) -> None:
            _check_holder(doc, project, run_id)
            del doc["claims"][project]
            if record is not None:
                entry = doc.setdefault("projects", {}).setdefault(project, {})
                entry["last_run"] = record.to_dict()

        self._update(change)

    def record_run(self, summary: dict[str, Any], keep: int) -> None:
        def change(doc: dict[str, Any]) -> None:
            runs = [r for r in doc.get("runs", []) if r.get("run_id") != summary.get("run_id")]
            runs.append(summary)
            runs.sort(key=lambda r: str(r.get("run_id", "")))
            doc["runs"] = runs[-keep:]

        self._update(change)

    def record_fire(self, fire: str, handled: bool, reason: str | None, now: datetime) -> None:
        def change(doc: dict[str, Any]) -> None:
            fires = doc.setdefault("fires", {})
            if handled:
                # Never backwards: a long sweep may end after later fires were dealt with.
                current = fires.get("last_handled")
                if not current or datetime.fromisoformat(current) < datetime.fromisoformat(fire):
                    fires["last_handled"] = fire
            else:
                entry = {"fire": fire, "at": now.isoformat(timespec="seconds"), "reason": reason}
                fires["skipped"] = [*fires.get("skipped", []), entry][-SKIPPED_FIRES_KEPT:]

        self._update(change)

    def set_daemon(self, info: dict[str, Any] | None) -> None:
        def change(doc: dict[str, Any]) -> None:
            if info is None:
                doc.pop("daemon", None)
            else:
                doc["daemon"] = info

        self._update(change)


def _check_holder(doc: dict[str, Any], project: str, run_id: str) -> None:
    holder = doc.get("claims", {}).get(project)
    if holder is None or holder.get("run_id") != run_id:
        now = f"run {holder.get('run_id')}" if holder else "nobody"
        raise ClaimLost(f"run {run_id} lost its claim on project {project!r} (now held by {now})")


def parse_document(raw: bytes, path: Path) -> dict[str, Any]:
    """Parse and check the shape of a state file; StateCorrupt names what is wrong."""
    hint = "it is left untouched: move it aside to start with an empty state"
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        if not raw.strip():
            raise StateCorrupt(f"{path} is empty; {hint}") from None
        raise StateCorrupt(f"{path} is not valid JSON ({exc}); {hint}") from None
    if not isinstance(doc, dict) or "version" not in doc:
        raise StateCorrupt(f'{path} is not an agentd state file (no "version" key); {hint}')
    version = doc["version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise StateCorrupt(f"{path} has an unreadable version {version!r}; {hint}")
    if version > STATE_VERSION:
        raise StateCorrupt(
            f"{path} was written by a newer agentd (state version {version}; "
            f"this one reads up to {STATE_VERSION}); {hint}"
        )
    if version < 1:
        raise StateCorrupt(f"{path} has an unknown state version {version}; {hint}")
    for key, kind in (("projects", dict), ("claims", dict), ("runs", list), ("fires", dict)):
        value = doc.setdefault(key, kind())
        if not isinstance(value, kind):
            raise StateCorrupt(f"{path}: {key!r} should be a {kind.__name__}; {hint}")
    for name, entry in doc["projects"].items():
        if not _shaped(entry, PROJECT_SHAPE) or not all(
            _shaped(t, TASK_SHAPE) for t in entry.get("tasks", {}).values()
        ):
            raise StateCorrupt(f"{path}: the entry of project {name!r} has the wrong shape; {hint}")
    for name, claim in doc["claims"].items():
        if not (_shaped(claim, CLAIM_SHAPE) and _aware(claim.get("heartbeat")) and _pid_ok(claim)):
            raise StateCorrupt(f"{path}: the claim on project {name!r} has the wrong shape; {hint}")
    daemon = doc.get("daemon")
    if daemon is not None and not (_shaped(daemon, DAEMON_SHAPE) and _pid_ok(daemon)):
        raise StateCorrupt(f"{path}: 'daemon' has the wrong shape; {hint}")
    if not all(_shaped(run, RUN_SHAPE) for run in doc["runs"]):
        raise StateCorrupt(f"{path}: an entry of 'runs' has the wrong shape; {hint}")
    fires = doc["fires"]
    last = fires.get("last_handled")
    if (last is not None and not _aware(last)) or not isinstance(fires.get("skipped", []), list):
        raise StateCorrupt(f"{path}: 'fires' has the wrong shape; {hint}")
    return doc


# Keys whose types the code relies on; other keys are left alone (a newer agentd of the
# same state version may add some).
PROJECT_SHAPE: dict[str, type | tuple[type, ...]] = {"tasks": dict, "last_run": dict}
TASK_SHAPE: dict[str, type | tuple[type, ...]] = {"status": str, "date": str}
CLAIM_SHAPE: dict[str, type | tuple[type, ...]] = {
    "run_id": str,
    "pid": int,
    "pid_start": (int, type(None)),
    "host": str,
    "started_at": str,
}
RUN_SHAPE: dict[str, type | tuple[type, ...]] = {
    "run_id": str,
    "status": (str, type(None)),
    "trigger": (str, type(None)),
    "counts": (dict, type(None)),
    "mode": (dict, type(None)),
}
DAEMON_SHAPE: dict[str, type | tuple[type, ...]] = {
    "pid": int,
    "pid_start": (int, type(None)),
    "host": str,
    "next_fire": str,
}
MAX_PID = 2**31 - 1


def _shaped(value: Any, shape: dict[str, type | tuple[type, ...]]) -> bool:
    if not isinstance(value, dict):
        return False
    return all(key not in value or isinstance(value[key], kind) for key, kind in shape.items())


def _pid_ok(entry: dict[str, Any]) -> bool:
    pid = entry.get("pid", 1)
    return isinstance(pid, int) and 0 < pid <= MAX_PID


def _aware(stamp: Any) -> bool:
    """A timestamp with its UTC offset: comparing it with "now" must not need a guess."""
    try:
        return isinstance(stamp, str) and datetime.fromisoformat(stamp).tzinfo is not None
    except ValueError:
        return False
