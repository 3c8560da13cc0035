"""The state store's contract: claim, release, record, read.

A sweep reads a snapshot once to plan, but the snapshot ages while the sweep runs (another
sweep may finish a project meanwhile). So ``claim`` re-reads the daily skip guard for the
project in the same locked step that takes the claim, and answers what is left to do.

The JSON file in the state directory is the embedded backend; a shared database can take
its place for several hosts as long as each method stays one atomic step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from agentd.state.claims import Holder

# 2: state.json has a journal (state/journal.py); 1, without one, is read as it is.
STATE_VERSION = 2
NEVER = datetime.min.replace(tzinfo=UTC)


class StateError(Exception):
    """The store cannot be used; the message names the file or resource."""


class ClaimLost(StateError):
    """A sweep tried to record a project whose claim another sweep holds now (it took the
    claim over, believing this one dead): its word no longer counts."""


class StateCorrupt(StateError):
    """The stored state does not parse or has an unknown shape; it is left as it is."""


class StateUnreachable(StateError):
    """The shared store's server cannot be reached or refuses us; the message names its
    host, port and database (never a password)."""


@dataclass(frozen=True)
class TaskRecord:
    """The outcome of one task run, as the skip guard and ``agentd status`` need it."""

    status: str
    date: str  # the sweep's calendar date in the schedule's zone
    run_id: str
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    exit_code: int | None
    agent: str | None = None  # the agent preset of an agent task
    # agents.usage.Usage.to_dict() of an agent task whose program started; None otherwise
    usage: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def spend_entry(self, project: str, task: str) -> dict[str, Any]:
        """What the spend ledger keeps of an agent run (budgets and totals read it)."""
        usage = self.usage or {}
        return {
            "project": project,
            "task": task,
            "agent": self.agent,
            "run_id": self.run_id,
            "finished_at": self.finished_at,
            "known": bool(usage.get("known")),
            "cost_usd": usage.get("cost_usd"),
            "tokens": usage.get("tokens"),
        }


@dataclass(frozen=True)
class ProjectRecord:
    status: str
    date: str
    run_id: str
    started_at: str | None
    finished_at: str | None
    # The host whose run it was: on a shared store, another host's sweep that reaches the
    # project later the same night leaves it (None: written before hosts were recorded).
    host: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunProject:
    """One project's part in a sweep, as the sweep's run summary keeps it (under
    ``projects``): what the history of nights shows per project and night."""

    status: str  # its ProjectStatus value in that sweep
    duration_s: float | None  # its wall time, None if it never started
    spend_usd: float | None  # what its agent runs cost, None if none reported a cost

    def to_dict(self) -> dict[str, Any]:
        """Without the unknowns: kept for every project of keep_runs sweeps, the state
        file is smaller and quicker to rewrite without them (a reader's .get is None)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Blocked:
    """A project this sweep did not start because a dependency of it did not end ok
    (``agentd status`` shows it, and since when)."""

    by: str  # the dependency (direct: its own line says what blocked it in turn)
    reason: str  # the words the report gives, e.g. "dependency failed: api"


@dataclass(frozen=True)
class Claimed:
    done: frozenset[str]  # tasks that already succeeded today: skip them
    replaced: Holder | None = None  # a stale claim this one took over
    replaced_why: str | None = None


@dataclass(frozen=True)
class Busy:
    holder: Holder


@dataclass(frozen=True)
class AllDone:
    """Every task of the project succeeded today, possibly in another sweep since planning."""


ClaimResult = Claimed | Busy | AllDone


@dataclass(frozen=True)
class Reserved:
    """An agent task may start: its reservation (``entry``) is in the ledger until the
    task's outcome settles it (``record``) or its claim ends (``release``, a takeover)."""

    entry: dict[str, Any]


@dataclass(frozen=True)
class Estimate:
    """A budget rule's go-ahead: the agent run counts against ``agent``'s limits and those
    of the night ``date``, at ``usd`` and ``tokens`` until its outcome settles it (None:
    its price is not known yet, so it may take the rest of a limit)."""

    agent: str
    date: str
    usd: float | None
    tokens: float | None


@dataclass(frozen=True)
class Refused:
    """An agent task may not start now: skipped for ``reason``, or, with ``wait``, asked to
    try again once runs in flight have settled (their cost may leave room)."""

    reason: str
    wait: bool = False


# What a budget rule answers from the ledger as it is inside the reservation's atomic step:
# go ahead at an estimate, or why not.
Decide = Callable[["Snapshot"], "Estimate | Refused"]


class Snapshot:
    """A read-only view of the state document at one moment."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def project(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.doc.get("projects", {}).get(name, {})
        return found

    def task(self, project: str, task: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.project(project).get("tasks", {}).get(task)
        return found

    def done_today(self, project: str, task: str, date: str) -> bool:
        """The daily skip guard: the task's latest run succeeded in a sweep of ``date``."""
        return is_done(self.task(project, task), date)

    def last_finished(self, project: str) -> datetime:
        """When the project last finished a run, for the max_projects order; long ago if never.

        Compared as instants, not strings: the stamps carry the offset of their day.
        """
        stamp = (self.project(project).get("last_run") or {}).get("finished_at")
        try:
            moment = datetime.fromisoformat(str(stamp))
        except ValueError:
            return NEVER
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def blocked(self, project: str) -> dict[str, Any] | None:
        """The project's current blocked streak (see ``rules.blocked_entry``), or None: never
        blocked, or it has run since its last block."""
        entry = self.project(project)
        blocked: dict[str, Any] | None = entry.get("blocked")
        if blocked is None:
            return None
        ran = str((entry.get("last_run") or {}).get("run_id") or "")
        return None if ran > str(blocked.get("run_id") or "") else blocked

    def claims(self) -> dict[str, Holder]:
        return {name: Holder.from_dict(c) for name, c in self.doc.get("claims", {}).items()}

    def runs(self) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.doc.get("runs", [])
        return runs

    def fires(self) -> dict[str, Any]:
        """The last scheduled fire handled, and recent fires skipped with their reasons."""
        fires: dict[str, Any] = self.doc.get("fires", {})
        return fires

    def spend_day(self, date: str) -> dict[str, Any]:
        """One day's ledger as stored (do not change it): entry key -> entry."""
        day: dict[str, Any] = self.doc.get("spend", {}).get(date, {})
        return day

    def spend(self, dates: Collection[str]) -> list[dict[str, Any]]:
        """The agent runs of these calendar dates (the schedule's zone), with their cost."""
        return [
            {**entry, "date": date}
            for date in sorted(set(dates))
            for entry in self.spend_day(date).values()
        ]

    def daemon(self) -> dict[str, Any] | None:
        """What the running daemon published about itself (pid, next fire), if any."""
        daemon: dict[str, Any] | None = self.doc.get("daemon")
        return daemon

    def reservations(self) -> dict[str, dict[str, Any]]:
        """Agent runs in flight, on every host (key ``run_id/project/task`` -> entry with
        ``project``, ``task``, ``run_id``, ``host``, ``agent``, ``date``, ``at`` and the
        estimates the budget rule gave). Only those whose run still holds its project's
        claim: a dead sweep's reservations lapse with its claim."""
        claims = self.doc.get("claims", {})
        return {
            key: entry
            for key, entry in self.doc.get("reserved", {}).items()
            if (claims.get(entry.get("project")) or {}).get("run_id") == entry.get("run_id")
        }

    def hosts(self) -> dict[str, dict[str, Any]]:
        """Every host of a shared store: name -> ``daemon`` (as ``daemon()``), ``fires`` (as
        ``fires()``) and ``seen`` (when it last started a sweep or published). Empty for a
        store of one host (the JSON file): ``daemon()`` and ``fires()`` say it all."""
        hosts: dict[str, dict[str, Any]] = self.doc.get("hosts", {})
        return hosts


def is_done(task: dict[str, Any] | None, date: str) -> bool:
    return task is not None and task.get("status") == "ok" and task.get("date") == date


class StateStore(ABC):
    """One state store; each method is a single atomic step against concurrent sweeps.

    ``host`` names this host in claims, runs and fires (``[state] host``); a claim of
    another host is stale after ``stale_after`` seconds without a heartbeat. ``shared``
    stores are used by several hosts at once: a project whose directory is missing here is
    left to the others (see ``publish_presence``).
    """

    host: str
    stale_after: float
    shared: bool = False

    @abstractmethod
    def read(self) -> Snapshot:
        """The current state, without taking the lock or writing anything. A snapshot is
        never changed afterwards, not even in part: later writes give new objects for what
        they touch (agentd.daemon.sweep.budget keeps totals per day object on that promise)."""

    @abstractmethod
    def claim(
        self, project: str, holder: Holder, date: str, tasks: list[str], force: bool, now: datetime
    ) -> ClaimResult:
        """Claim ``project`` for ``holder`` unless a live claim or the skip guard forbids it."""

    @abstractmethod
    def reap(self, now: datetime) -> list[tuple[str, Holder, str]]:
        """Drop every stale claim (see claims.why_stale); returns (project, holder, why).

        A sweep that died after its last task but before releasing leaves a claim on a
        project that may not run again today; nothing else would ever remove it.
        """

    @abstractmethod
    def heartbeat(self, run_id: str, now: datetime) -> None:
        """Refresh the heartbeat of every claim held by ``run_id``."""

    @abstractmethod
    def record(self, project: str, task: str, record: TaskRecord) -> None:
        """Store a task's outcome (the skip guard reads it back) and, for an agent task,
        its spend in the ledger of ``record.date``, in one step; ClaimLost unless
        ``record.run_id`` holds the claim on ``project``."""

    @abstractmethod
    def release(self, project: str, run_id: str, record: ProjectRecord | None) -> None:
        """Drop ``run_id``'s claim on ``project`` and store the project's outcome if given
        (``last_run``, and ``last_ok`` too if it is ok); ClaimLost (and nothing written) if
        the claim is no longer ``run_id``'s."""

    @abstractmethod
    def record_blocked(self, blocked: dict[str, Blocked], date: str, run_id: str, at: str) -> None:
        """One more blocked sweep (``run_id``, of ``date``, at ``at``) for each project of
        ``blocked``: its streak goes on, or starts if it has run since its last block."""

    @abstractmethod
    def forget_absent(self, configured: Collection[str], sweeps: int) -> list[str]:
        """Count one more sweep for every stored project not in ``configured``, and drop
        those absent for ``sweeps`` sweeps; returns their names. The state stays the size
        of the configuration, while a project commented out for a night or two keeps its
        history (its skip guard, its durations)."""

    @abstractmethod
    def record_run(
        self, summary: dict[str, Any], keep: int, report: dict[str, Any] | None = None
    ) -> None:
        """Append a finished sweep's summary to the history, keeping the newest ``keep``
        of its host (``Snapshot.runs`` gives them back, oldest first, every host's); a
        shared store keeps ``report`` (its report.json) too, for ``report_document``.
        Summaries carry ``host`` since several hosts may share a store. A summary holds ``run_id``,
        ``trigger``, ``date`` (in the schedule's zone), ``started_at``, ``finished_at``,
        ``status``, ``counts`` and ``mode``; since the history of nights, also
        ``duration_s`` (wall time), ``spend_usd`` and ``projects`` (name ->
        ``RunProject.to_dict()``). Summaries stored before then lack those three: readers
        take them as unknown."""

    def checkpoint(self) -> None:  # noqa: B027 - optional: most backends need nothing
        """Fold recent writes into the main record (a sweep ends, the daemon stops)."""

    @abstractmethod
    def record_fire(self, fire: str, handled: bool, reason: str | None, now: datetime) -> None:
        """A scheduled fire was handled (its sweep ended), or skipped for ``reason``."""

    @abstractmethod
    def set_daemon(self, info: dict[str, Any]) -> None:
        """Publish the daemon's pid, armed schedule and next fire time (and, once it has
        stopped, when and why)."""

    @abstractmethod
    def reserve(
        self, project: str, task: str, run_id: str, decide: Decide, now: datetime
    ) -> Reserved | Refused:
        """Check the budget and reserve an agent run in one atomic step across every sweep
        (and host) of this store: ``decide`` reads the ledger and the reservations in flight
        (``Snapshot.reservations``) as they are inside that step; if it gives fields, the
        reservation ``run_id/project/task`` is stored with them (plus ``project``, ``task``,
        ``run_id``, ``host`` and ``at``). ``record`` of that task settles it, ``release`` of
        the project drops whatever of its run is left. ClaimLost (nothing written) unless
        ``run_id`` holds the claim on ``project``."""

    def publish_presence(
        self, date: str, missing: Collection[str], now: datetime
    ) -> dict[str, list[str]]:
        """Say which configured projects have no directory on this host for the sweep of
        ``date``; answers, for each of them, the other known hosts that may have it (those
        that have not said it is missing there). A store of one host knows no other."""
        return {name: [] for name in missing}

    def claim_nowhere(self, project: str, date: str, hosts: Collection[str]) -> bool:
        """True for the first caller of ``date`` only: that sweep fails ``project`` as
        missing on every host (``hosts``, the ones asked), the others leave it. A store of
        one host has one caller per sweep: every sweep fails it, as it always did."""
        return True

    def last_run(self, project: str) -> dict[str, Any] | None:
        """``project``'s last outcome as stored now (its ``last_run``), read alone: what a
        sweep that has just claimed it checks (a shared store reads the one row, not the
        whole state)."""
        found = self.read().project(project).get("last_run")
        return found if isinstance(found, dict) else None

    def report_document(self, run_id: str) -> dict[str, Any] | None:
        """The report.json of ``run_id`` if the store keeps reports (a shared store does,
        for the runs of other hosts); None: read the run directory."""
        return None

    def close(self) -> None:  # noqa: B027 - optional: the file store holds nothing open
        """Give back connections; the store is not used afterwards."""
