"""The store's steps are atomic against concurrent sweeps: threads of one process (one
store object shared, as a sweep's project threads share it, or one store each, as
sweeps or hosts have), and for the JSON file, separate processes. Run on every backend,
as tests/state/test_contract.py. Every racer is held at a barrier and let go at once."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentd.state import Busy, Claimed, JsonFileStore, Snapshot, StateStore
from agentd.state.base import Estimate, Refused, Reserved
from tests.helpers import ROOT
from tests.state.contract import DATE, NOW, StoreFactory, agent_run, mine

RACERS = 8
ROUNDS = 12
ROOM = 3  # agent runs the budget rule lets be in flight at once


def _race(count: int, step: Callable[[int], Any]) -> list[Any]:
    """Run ``step(i)`` for each racer in its own thread, all let go together."""
    gate = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        gate.wait(timeout=60)
        try:
            results[i] = step(i)
        except Exception as exc:  # the test shows what a racer met
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a racer is stuck"
    return results


def _stores(store_factory: StoreFactory, shared: bool) -> list[StateStore]:
    if shared:
        return [store_factory()] * RACERS
    # A host each: racers of one host could be kept apart by that host's own row.
    return [store_factory(host=f"h{i}") for i in range(RACERS)]


@pytest.mark.parametrize("shared", [True, False], ids=["one-store", "store-each"])
def test_racing_claims_of_one_project_give_it_to_exactly_one(
    store_factory: StoreFactory, shared: bool
) -> None:
    stores = _stores(store_factory, shared)
    # Several rounds: one lucky interleaving must not make a store without its lock pass.
    for round_ in range(ROUNDS):
        project = f"api-{round_}"
        # Known already, as most projects are: a first insert would keep racers apart by
        # itself (PostgreSQL's unique index), hiding a claim read without its row lock.
        stores[0].claim(project, mine(stores[0], "run-before"), DATE, ["t"], False, NOW)
        stores[0].release(project, "run-before", None)
        results = _race(
            RACERS,
            lambda i, p=project: stores[i].claim(  # type: ignore[misc]
                p, mine(stores[i], f"run-{i}"), DATE, ["t"], False, NOW
            ),
        )
        winners = [i for i, result in enumerate(results) if isinstance(result, Claimed)]
        assert len(winners) == 1, (project, results)
        assert all(isinstance(r, Busy) for i, r in enumerate(results) if i != winners[0])
        assert stores[0].read().claims()[project].run_id == f"run-{winners[0]}"


class Rule:
    """A budget rule with room for ``ROOM`` runs in flight, which also counts how many of
    its calls overlapped (inside one atomic step each, none may)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.most = 0

    def __call__(self, snapshot: Snapshot) -> Estimate | Refused:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        os.sched_yield()  # let a racer that is not held back run into this one
        flying = len(snapshot.reservations())
        with self.lock:
            self.inside -= 1
        if flying >= ROOM:
            return Refused(f"{flying} agent runs in flight", wait=True)
        return Estimate("claude", DATE, 0.1, None)


@pytest.mark.parametrize("shared", [True, False], ids=["one-store", "store-each"])
def test_racing_reservations_never_pass_the_rule_together(
    store_factory: StoreFactory, shared: bool
) -> None:
    stores = _stores(store_factory, shared)
    for i, store in enumerate(stores):
        store.claim(f"p{i}", mine(store, f"run-{i}"), DATE, ["triage"], False, NOW)
    rule = Rule()
    results = _race(RACERS, lambda i: stores[i].reserve(f"p{i}", "triage", f"run-{i}", rule, NOW))
    assert sum(isinstance(r, Reserved) for r in results) == ROOM, results
    assert sum(isinstance(r, Refused) for r in results) == RACERS - ROOM, results
    assert rule.most == 1, "two budget checks ran at once"
    assert len(stores[0].read().reservations()) == ROOM


RUNS_ALLOWED = 60  # agent runs the nightly limit of the test below has room for
SEEDED = 400  # runs in the ledger of the day before
YESTERDAY = "2026-11-21"


class Ledger:
    """A budget rule in runs, not dollars (sums of floats would wobble), which keeps what
    each of its checks saw: runs settled plus runs in flight. Runs are reserved at their
    price and settle at it, so in the order the checks hold the ledger that count never
    goes down; a check that misses a run (settled after it read the ledger, its
    reservation gone before it read the reservations) sees it go down."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, snapshot: Snapshot) -> Estimate | Refused:
        settled = len(snapshot.spend([DATE]))
        flying = len(snapshot.reservations())
        self.seen.append(settled + flying)  # checks never overlap (see Rule above)
        if settled >= RUNS_ALLOWED:
            return Refused("the nightly limit is spent")
        if settled + flying >= RUNS_ALLOWED:
            return Refused("the rest of the limit is in flight", wait=True)
        return Estimate("claude", DATE, 0.1, None)


def test_runs_settling_while_others_reserve_never_pass_the_limit(
    store_factory: StoreFactory,
) -> None:
    """Six hosts each sweep one project over and over (claim, reserve, record, release)
    until the limit is spent: every check sees every run, settled or in flight."""
    hosts = 6
    stores = [store_factory(host=f"h{i}") for i in range(hosts)]
    # The ledger of the last days, as a busy fleet leaves it: a check reads it all.
    seed = stores[0]
    seed.claim("seed", mine(seed, "run-seed"), YESTERDAY, [], True, NOW)
    for n in range(SEEDED):
        seed.record("seed", f"t{n}", agent_run("run-seed", 0.1, YESTERDAY))
    seed.release("seed", "run-seed", None)
    rule = Ledger()

    def sweep(i: int) -> int:
        store, ran = stores[i], 0
        for n in range(10 * RUNS_ALLOWED):
            run, project = f"run-{i}-{n}", f"p{i}"
            store.claim(project, mine(store, run), DATE, ["t"], True, NOW)
            got = store.reserve(project, "t", run, rule, NOW)
            if isinstance(got, Reserved):
                store.record(project, "t", agent_run(run, 0.1))
                ran += 1
            store.release(project, run, None)
            if isinstance(got, Refused) and not got.wait:
                return ran
        raise AssertionError(f"host {i} never saw the limit spent")

    ran = _race(hosts, sweep)
    assert sum(ran) == RUNS_ALLOWED, ran
    assert len(stores[0].read().spend([DATE])) == RUNS_ALLOWED
    dips = [(k, a, b) for k, (a, b) in enumerate(itertools.pairwise(rule.seen)) if b < a]
    assert dips == [], f"checks that missed a run (check, runs before, runs seen): {dips}"


def test_hosts_missing_a_project_at_once_never_all_leave_it_to_each_other(
    store_factory: StoreFactory,
) -> None:
    """Every host lacks the project and says so at the same moment: at least one of them
    must hear that no other host may have it (and go on to fail it), or the project
    would be left to each other by all of them, and never run nor fail."""
    hosts = 3
    stores = [store_factory(host=f"h{i}") for i in range(hosts)]
    for store in stores:  # each host known to the others, as after its first sweep
        store.publish_presence(DATE, ["elsewhere"], NOW)
    stuck = []
    for n in range(30):
        project = f"p{n}"
        answers = _race(hosts, lambda i: stores[i].publish_presence(DATE, [project], NOW))
        if all(answer[project] for answer in answers):
            stuck.append((project, answers))
    assert stuck == [], f"{len(stuck)} of 30 projects left to each other by every host"


# One sweep process of the JSON test below: says it is ready, waits for the go (its stdin
# closed), then claims (and, for "reserve", reserves) and prints what it got.
RACER = textwrap.dedent(
    """
    import os
    import sys
    from datetime import datetime
    from pathlib import Path
    from agentd.state import JsonFileStore
    from agentd.state.base import Estimate, Refused
    from agentd.state.claims import Holder
    directory, mode, n, room, date = sys.argv[1:6]
    now = datetime.fromisoformat(sys.argv[6])
    store = JsonFileStore(Path(directory))
    store.read()
    print("ready", flush=True)
    sys.stdin.read()
    project = "api" if mode == "claim" else f"p{n}"
    # Another host's claimant, alive by its heartbeat: this process may exit before the
    # others claim, and a gone process's claim on this host would be taken over.
    holder = Holder(f"run-{n}", 4242, "elsewhere", now.isoformat(), now.isoformat())
    got = store.claim(project, holder, date, ["t"], False, now)
    if mode == "reserve":
        def rule(snapshot):
            # A marker only one budget check at a time may hold: finding it, another
            # process's check runs at the same time (exit 3, the test fails).
            marker = Path(directory) / "deciding"
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                sys.exit(3)
            os.sched_yield()
            flying = len(snapshot.reservations())
            os.close(fd)
            marker.unlink()
            if flying >= int(room):
                return Refused("full", wait=True)
            return Estimate("claude", date, 0.1, None)
        got = store.reserve(project, "t", f"run-{n}", rule, now)
    print(type(got).__name__, flush=True)
    """
)


@pytest.mark.parametrize("mode", ["claim", "reserve"])
def test_racing_sweep_processes_on_one_state_directory(tmp_path: Path, mode: str) -> None:
    """JSON only: a PostgreSQL store's processes are its connections, raced above."""
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RACER,
                str(state),
                mode,
                str(n),
                str(ROOM),
                DATE,
                NOW.isoformat(),
            ],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(RACERS)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.close()
    got = [proc.stdout.read().strip() for proc in procs if proc.stdout is not None]
    assert [proc.wait(timeout=120) for proc in procs] == [0] * RACERS, got
    winner = "Claimed" if mode == "claim" else "Reserved"
    assert got.count(winner) == (1 if mode == "claim" else ROOM), got
    if mode == "reserve":
        assert len(JsonFileStore(state).read().reservations()) == ROOM
