"""Run directories: one per sweep under ``runs/``, held while the sweep lives, kept to
``keep_runs``, and asked for their report.

A sweep holds an flock on its own directory for as long as its process lives: the kernel
drops it when the process ends, however it ends. So whether a directory without a report
belongs to a sweep still running is a question the kernel answers, with nothing written:
retention works on a full disk, where nothing can be written, and that is exactly when it
must work.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentd.state import StateError
from agentd.state.files import ensure_inner_dir, ensure_state_dir, nearly_full, new_dir


def runs_dir(state_dir: Path) -> Path:
    return state_dir / "runs"


def new_run_id(now: datetime, bump: int = 0) -> str:
    """``20261122T023000Z-3f9a``: the suffix is the fraction of the second in 1/65536ths,
    so ids of sweeps started within one second still sort by start time."""
    utc = now.astimezone(UTC)
    fraction = utc.microsecond * 65536 // 1_000_000 + bump
    return f"{utc:%Y%m%dT%H%M%SZ}-{fraction:04x}"


@dataclass
class RunDir:
    run_id: str
    path: Path
    _fd: int  # the open directory, flocked: "this sweep is alive"

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        """The sweep is over (its report written, or not): retention may take it."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def open_run(state_dir: Path, now: datetime) -> RunDir:
    """A new run directory, held by this process; StateError if none can be made."""
    try:
        ensure_state_dir(state_dir)
        if runs_dir(state_dir).is_symlink():
            # Retention deletes old run directories in there: never somewhere else.
            raise StateError(f"{runs_dir(state_dir)} is a symbolic link; agentd will not follow it")
        root, _ = ensure_inner_dir(runs_dir(state_dir))
        # Made and locked while runs/ itself is locked, which retention also takes: it
        # never sees a run directory that its sweep does not hold yet.
        with _locked(root):
            bump = 0
            while True:
                run_id = new_run_id(now, bump)
                try:
                    new_dir(root / run_id)
                except FileExistsError:
                    bump += 1  # another sweep started within the same 15 microseconds
                    continue
                fd = os.open(root / run_id, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                fcntl.flock(fd, fcntl.LOCK_EX)  # new and ours alone: never waits
                return RunDir(run_id, root / run_id, fd)
    except OSError as exc:
        raise StateError(
            f"cannot create a run directory in {state_dir}: {exc.strerror or exc}"
        ) from None


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """runs/ locked against the other sweeps' making and pruning of run directories: a
    lock on the directory itself, so it needs no file and works on a full disk."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def in_use(path: Path) -> bool:
    """Whether a live process (a sweep) holds ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def _run_names(state_dir: Path) -> list[str]:
    """Run ids, oldest first (``.old-*`` are being deleted)."""
    root = runs_dir(state_dir)
    if not root.is_dir() or root.is_symlink():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if not p.name.startswith(".") and p.is_dir() and not p.is_symlink()
    )


def run_ids(state_dir: Path) -> list[str]:
    """The runs there are, oldest first; OSError if runs/ cannot be read."""
    return _run_names(state_dir)


def _has_report(path: Path) -> bool:
    return os.path.exists(path / "report.json")  # an unreadable directory has none to show


def prune(state_dir: Path, keep: int) -> list[str]:
    """Delete run directories beyond the newest ``keep``, oldest first; returns their ids.

    Needs no room on the disk (renames, then deletions), so it works on a full one, and
    no state either. A directory a live sweep holds is never
    deleted; one without a report whose sweep is gone (killed, or its report could not be
    written) goes like any other.
    """
    root = runs_dir(state_dir)
    for path in root.glob(".old-*"):  # what a sweep killed while deleting left behind
        shutil.rmtree(path, ignore_errors=True)
    deleted: list[str] = []
    try:
        with _locked(root):
            names = _run_names(state_dir)
            for name in names[: max(0, len(names) - keep)]:
                if in_use(root / name):
                    continue
                with contextlib.suppress(OSError):
                    # Out of the way at once; deleted once runs/ is free for the others.
                    os.rename(root / name, root / f".old-{name}")
                    deleted.append(name)
    except OSError:
        pass  # runs/ missing or unreadable: the sweep says so when it makes its own
    for name in deleted:
        shutil.rmtree(root / f".old-{name}", ignore_errors=True)
    return deleted


class ReportNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Found:
    path: Path  # report.json
    # Set when a newer sweep has no report: why, for the reader to know what they see.
    newer_without: str | None = None


def find_report(state_dir: Path, run_id: str | None, history: list[dict[str, Any]]) -> Found:
    """The report of ``run_id`` (a unique prefix is enough), or the latest one; a sweep
    without a report is explained (``history``: the run summaries of the state store)."""
    root = runs_dir(state_dir)
    try:
        names = _run_names(state_dir)
    except OSError as exc:
        raise ReportNotFound(
            f"cannot read {root}: {exc.strerror} (the reports are readable by the user "
            "agentd runs as)"
        ) from None
    if run_id is not None:
        matches = [name for name in names if name.startswith(run_id)]
        if len(matches) > 1:
            listing = ", ".join(matches[:5])
            raise ReportNotFound(f"{run_id!r} matches {len(matches)} runs: {listing}")
        if not matches:
            raise ReportNotFound(f"no run {run_id!r} in {root}")
        path = root / matches[0]
        if not _has_report(path):
            raise ReportNotFound(f"run {path.name} has no report: {why_no_report(path, history)}")
        return Found(path / "report.json")
    finished = [name for name in names if _has_report(root / name)]
    unfinished = [name for name in names if not finished or name > finished[-1]]
    note = None
    if unfinished:
        latest = unfinished[-1]
        note = f"the latest sweep, {latest}, has no report: {why_no_report(root / latest, history)}"
    if not finished:
        raise ReportNotFound(note or f"no reports yet in {root}")
    return Found(root / finished[-1] / "report.json", note)


def why_no_report(path: Path, history: list[dict[str, Any]]) -> str:
    if in_use(path):
        return "it is still running"
    entry = next((run for run in history if run.get("run_id") == path.name), None)
    if entry is not None and entry.get("report_error"):
        return f"it ended {entry.get('status')}, but {entry['report_error']}"
    if entry is not None:
        return f"it ended {entry.get('status')}, but its report is missing (deleted?)"
    if nearly_full(path):
        return "it ended without writing one, and its file system is full"
    return "it ended without writing one (killed, or its disk was full at the time)"
