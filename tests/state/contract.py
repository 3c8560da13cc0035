"""What the contract tests of every state backend share: a clock the tests set by hand
(fixed instants, never the wall clock), holders of claims on this host and on others, and
the records a sweep writes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from agentd.state import Holder, StateStore, TaskRecord
from agentd.state.base import Estimate
from agentd.state.claims import process_start

NOW = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)
DATE = "2026-11-22"
STALE = 120.0  # not the default 300 s: the stores must use the one they are given


class StoreFactory(Protocol):
    """Opens one more store on the test's backend: the same directory (JSON) or database
    (PostgreSQL) each time, so two of them are two sweeps, or two hosts, sharing it."""

    def __call__(self, host: str = "h1", stale_after: float = STALE) -> StateStore: ...


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def mine(store: StateStore, run_id: str, when: datetime = NOW) -> Holder:
    """A claimant on the store's own host: this (live) test process."""
    pid = os.getpid()
    return Holder(run_id, pid, store.host, stamp(when), stamp(when), process_start(pid))


def dead(store: StateStore, run_id: str) -> Holder:
    """A claimant on the store's own host whose process has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return Holder(run_id, child.pid, store.host, stamp(NOW), stamp(NOW))


def far(run_id: str, beat: datetime = NOW, host: str = "other") -> Holder:
    """A claimant on another host, alive as long as its heartbeat is recent."""
    return Holder(run_id, 4242, host, stamp(beat), stamp(beat))


def ok(run_id: str, date: str = DATE) -> TaskRecord:
    return TaskRecord("ok", date, run_id, stamp(NOW), stamp(at(1)), 1.0, 0)


def failed(run_id: str, date: str = DATE) -> TaskRecord:
    return TaskRecord("failed", date, run_id, stamp(NOW), stamp(at(1)), 1.0, 1)


def agent_run(run_id: str, cost: float | None, date: str = DATE) -> TaskRecord:
    usage = {"known": cost is not None, "cost_usd": cost, "tokens": 10}
    return TaskRecord("ok", date, run_id, stamp(NOW), stamp(at(1)), 1.0, 0, "claude", usage)


def summary(run_id: str, host: str, finished: datetime) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "host": host,
        "trigger": "manual",
        "date": DATE,
        "started_at": stamp(NOW),
        "finished_at": stamp(finished),
        "status": "ok",
        "counts": {"ok": 1},
        "mode": {"max_parallel_projects": 2},
    }


def fields(usd: float = 0.5) -> Callable[[Any], Estimate]:
    """A budget rule that always lets the run start, with these estimates."""
    return lambda snapshot: Estimate("claude", DATE, usd, None)
