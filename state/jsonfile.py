"""The embedded state store: ``state.json`` and its journal, guarded by ``state.json.lock``.

The lock is a separate file because the data file is replaced by rename: a lock held on
the old inode would not exclude a process that opened the new one. Readers take no lock:
``state.json`` is only ever replaced whole, and the journal is only appended to (see
``state.journal`` for how writes stay durable without rewriting the whole state).

A file that does not parse, or that a newer agentd wrote, is never overwritten: every
method raises StateCorrupt naming it, so the operator decides what to do with it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filelock import FileLock

from agentd.state.base import (
    STATE_VERSION,
    AllDone,
    Blocked,
    Claimed,
    ClaimLost,
    ClaimResult,
    Decide,
    ProjectRecord,
    Refused,
    Reserved,
    Snapshot,
    StateCorrupt,
    StateError,
    StateStore,
    TaskRecord,
)
from agentd.state.claims import STALE_AFTER, Holder, this_host, why_stale
from agentd.state.document import check_touched, parse_document
from agentd.state.files import ensure_state_dir, file_mode
from agentd.state.journal import Journal, Loaded, Op
from agentd.state.rules import (
    blocked_entry,
    check_holder,
    claim_answer,
    expired_days,
    fires_after,
    outcome,
    reserve_step,
)

LOCK_TIMEOUT = 60.0  # a write takes milliseconds; a minute means something is stuck


def empty_document() -> dict[str, Any]:
    return {"version": STATE_VERSION, "projects": {}, "claims": {}, "runs": [], "fires": {}}


class JsonFileStore(StateStore):
    def __init__(self, directory: Path, *, stale_after: float = STALE_AFTER) -> None:
        self.host = this_host()
        self.stale_after = stale_after
        self.directory = directory
        self.path = directory / "state.json"
        self.lock_path = directory / "state.json.lock"
        self._lock: FileLock | None = None
        self._thread_lock = threading.Lock()
        self._swept = False
        self._journal = Journal(directory, parse_document, self._first_state, check_touched)
        self._loaded: Loaded | None = None

    def _first_state(self) -> dict[str, Any]:
        """The state when there is no state.json: empty, unless this directory has been used.

        Then state.json was deleted, or it is a symbolic link to a disk that is not mounted.
        Starting over would re-run everything that succeeded today and forget the spend
        ledger, so the nightly budget would start again: refused, until the operator says.
        """
        if self.path.is_symlink():
            raise StateCorrupt(
                f"{self.path} is a symbolic link to {os.readlink(self.path)}, which does not "
                "exist (a disk that is not mounted?); nothing is run until it is back. "
                f"To start afresh on purpose, move {self.directory} aside"
            )
        runs = self.directory / "runs"
        reports = not runs.is_symlink() and any(runs.glob("*/report.json"))
        used = [
            what
            for what, there in (
                ("state.journal", (self.directory / "state.journal").exists()),
                ("reports in runs/", reports),
            )
            if there
        ]
        if used:
            raise StateCorrupt(
                f"{self.path} is missing, but {self.directory} has been used (it holds "
                f"{' and '.join(used)}): starting over with an empty state would re-run "
                "today's finished tasks and forget what agents spent. Put state.json back "
                f"(mount its disk?), or to start afresh on purpose, move {self.directory} "
                "aside"
            )
        return empty_document()

    # -- reading ---------------------------------------------------------------------------

    def read(self) -> Snapshot:
        with self._thread_lock:
            return Snapshot(self._current().doc)

    def _current(self) -> Loaded:
        """The state as on disk now: loaded once, then only the journal's new lines (each
        checked for the entries it touches)."""
        if self._loaded is None:
            self._loaded = self._journal.load()
        else:
            self._loaded = self._journal.refresh(self._loaded)
        return self._loaded

    # -- writing ---------------------------------------------------------------------------

    def _update(self, change: Callable[[dict[str, Any]], tuple[Any, list[Op]]]) -> Any:
        """Compute operations from the current state and make them durable, under the lock."""
        with self._thread_lock, self._locked():
            loaded = self._current()
            result, ops = change(loaded.doc)
            if ops:
                try:
                    self._journal.append(loaded, ops)
                except StateError:
                    self._loaded = None  # reload from disk next time: no guessing
                    raise
            return result

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Imported here: the read commands never lock, and start faster without it.
        from filelock import FileLock, Timeout

        if self._lock is None:
            try:
                ensure_state_dir(self.directory)
            except OSError as exc:
                raise StateError(f"cannot create state directory {self.directory}: {exc}") from None
            self._lock = FileLock(
                self.lock_path,
                timeout=LOCK_TIMEOUT,
                mode=file_mode(self.directory),
                preserve_lock_file=True,
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
        for pattern in (".state.json.*.tmp", ".state.journal.*.tmp"):
            for path in self.directory.glob(pattern):
                with contextlib.suppress(OSError):
                    path.unlink()
        self._swept = True

    # -- the contract ----------------------------------------------------------------------

    def claim(
        self, project: str, holder: Holder, date: str, tasks: list[str], force: bool, now: datetime
    ) -> ClaimResult:
        def change(doc: dict[str, Any]) -> tuple[ClaimResult, list[Op]]:
            claim = doc.get("claims", {}).get(project)
            known = doc.get("projects", {}).get(project, {}).get("tasks", {})
            answer = claim_answer(
                claim, known, tasks, date, force, now, self.host, self.stale_after
            )
            if isinstance(answer, Claimed):
                return answer, [["set", ["claims", project], holder.to_dict()]]
            if isinstance(answer, AllDone) and claim is not None:
                return answer, [["del", ["claims", project]]]  # the stale claim it replaced
            return answer, []

        result: ClaimResult = self._update(change)
        return result

    def reap(self, now: datetime) -> list[tuple[str, Holder, str]]:
        host, after = self.host, self.stale_after
        if not any(why_stale(h, now, host, after) for h in self.read().claims().values()):
            return []  # the usual case: no write at all

        def change(doc: dict[str, Any]) -> tuple[list[tuple[str, Holder, str]], list[Op]]:
            reaped = []
            for project, data in doc.get("claims", {}).items():
                holder = Holder.from_dict(data)
                why = why_stale(holder, now, host, after)
                if why is not None:
                    reaped.append((project, holder, why))
            return reaped, [["del", ["claims", project]] for project, _, _ in reaped]

        result: list[tuple[str, Holder, str]] = self._update(change)
        return result

    def heartbeat(self, run_id: str, now: datetime) -> None:
        stamp = now.isoformat(timespec="seconds")

        def change(doc: dict[str, Any]) -> tuple[None, list[Op]]:
            ours = [p for p, c in doc.get("claims", {}).items() if c.get("run_id") == run_id]
            return None, [["set", ["claims", p, "heartbeat"], stamp] for p in ours]

        self._update(change)

    def record(self, project: str, task: str, record: TaskRecord) -> None:
        def change(doc: dict[str, Any]) -> tuple[ClaimLost | None, list[Op]]:
            key = f"{record.run_id}/{project}/{task}"
            spend: list[Op] = _unreserve(doc, [key])
            if record.usage is not None:  # an agent ran (one that never started spent nothing)
                # Money spent stays spent: the ledger counts it even from a sweep whose
                # claim was taken over, whose outcome no longer counts.
                entry = record.spend_entry(project, task)
                spend.append(["set", ["spend", record.date, key], entry])
                expired = expired_days(doc.get("spend", {}), record.date)
                spend += [["del", ["spend", day]] for day in expired]
            try:
                check_holder(doc.get("claims", {}).get(project), project, record.run_id)
            except ClaimLost as lost:
                return lost, spend
            return None, [["set", ["projects", project, "tasks", task], record.to_dict()], *spend]

        lost = self._update(change)
        if lost is not None:
            raise lost

    def release(self, project: str, run_id: str, record: ProjectRecord | None) -> None:
        def change(doc: dict[str, Any]) -> tuple[None, list[Op]]:
            check_holder(doc.get("claims", {}).get(project), project, run_id)
            ours = [
                key
                for key, entry in doc.get("reserved", {}).items()
                if entry.get("project") == project and entry.get("run_id") == run_id
            ]
            ops: list[Op] = [["del", ["claims", project]], *_unreserve(doc, ours)]
            if record is not None:
                ops += [["set", ["projects", project, k], v] for k, v in outcome(record).items()]
            return None, ops

        self._update(change)

    def record_blocked(self, blocked: dict[str, Blocked], date: str, run_id: str, at: str) -> None:
        if not blocked:
            return  # the usual sweep: no write at all

        def change(doc: dict[str, Any]) -> tuple[None, list[Op]]:
            snapshot = Snapshot(doc)
            return None, [
                [
                    "set",
                    ["projects", name, "blocked"],
                    blocked_entry(snapshot.blocked(name), block, date, run_id, at),
                ]
                for name, block in sorted(blocked.items())
            ]

        self._update(change)

    def forget_absent(self, configured: Collection[str], sweeps: int) -> list[str]:
        wanted = set(configured)

        def change(doc: dict[str, Any]) -> tuple[list[str], list[Op]]:
            seen = doc.get("absent", {})
            absent: dict[str, int] = {}
            forgotten = []
            for name in doc.get("projects", {}):
                if name in wanted:
                    continue
                count = int(seen.get(name, 0)) + 1
                if count >= sweeps:
                    forgotten.append(name)
                else:
                    absent[name] = count
            ops: list[Op] = [["del", ["projects", name]] for name in forgotten]
            if absent != seen:
                ops.append(["set", ["absent"], absent])
            return forgotten, ops

        result: list[str] = self._update(change)
        return result

    def record_run(
        self, summary: dict[str, Any], keep: int, report: dict[str, Any] | None = None
    ) -> None:
        # ``report`` is not kept: it is runs/<run_id>/report.json in this same directory.
        def change(doc: dict[str, Any]) -> tuple[None, list[Op]]:
            return None, [["run", summary, keep]]

        self._update(change)

    def record_fire(self, fire: str, handled: bool, reason: str | None, now: datetime) -> None:
        def change(doc: dict[str, Any]) -> tuple[None, list[Op]]:
            fires = doc.get("fires", {})
            after = fires_after(fires, fire, handled, reason, now) or fires
            return None, [["set", ["fires", k], v] for k, v in after.items() if fires.get(k) != v]

        self._update(change)

    def checkpoint(self) -> None:
        """Fold the journal into state.json: between sweeps, state.json alone holds it all."""
        with self._thread_lock, self._locked():
            loaded = self._current()
            if loaded.journal_ok and loaded.offset <= loaded.header_size:
                return  # nothing since the last rewrite
            try:
                self._journal.compact(loaded, loaded.doc)
            except StateError:
                self._loaded = None
                raise

    def reserve(
        self, project: str, task: str, run_id: str, decide: Decide, now: datetime
    ) -> Reserved | Refused:
        def change(doc: dict[str, Any]) -> tuple[Reserved | Refused, list[Op]]:
            # A run that lost its claim would hold a reservation nobody counts.
            check_holder(doc.get("claims", {}).get(project), project, run_id)
            key = (project, task, run_id)
            answer, kept = reserve_step(doc, decide, key, self.host, now, self.stale_after)
            return answer, [] if kept is None else [["set", ["reserved"], kept]]

        result: Reserved | Refused = self._update(change)
        return result

    def set_daemon(self, info: dict[str, Any]) -> None:
        def change(doc: dict[str, Any]) -> tuple[None, list[Op]]:
            return None, [["set", ["daemon"], info]]

        self._update(change)


def _unreserve(doc: dict[str, Any], keys: list[str]) -> list[Op]:
    reserved = doc.get("reserved", {})
    return [["del", ["reserved", key]] for key in keys if key in reserved]
