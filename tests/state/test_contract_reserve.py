"""The store's contract for agent runs in flight (``reserve``): checking the budget and
reserving is one step against every other sweep and host, a reservation is settled by
its task's outcome, dropped with its claim, and lapses when its claim is taken over. Run
on every backend, as tests/state/test_contract.py."""

from __future__ import annotations

from datetime import datetime

import pytest

from agentd.state import Claimed, ClaimLost, Snapshot
from agentd.state.base import Estimate, Refused, Reserved
from tests.state.contract import (
    DATE,
    NOW,
    STALE,
    StoreFactory,
    agent_run,
    at,
    far,
    fields,
    mine,
    ok,
)


def test_a_reservation_is_stored_with_what_the_budget_rule_gave(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    store.claim("api", mine(store, "run-a"), DATE, ["triage"], False, NOW)
    reserved = store.reserve("api", "triage", "run-a", fields(0.25), at(5))
    assert isinstance(reserved, Reserved)
    entry = dict(reserved.entry)
    assert datetime.fromisoformat(entry.pop("at")) == at(5)
    assert entry == {
        "agent": "claude",
        "date": DATE,
        "usd": 0.25,
        "tokens": None,
        "project": "api",
        "task": "triage",
        "run_id": "run-a",
        "host": "h1",
    }
    assert store_factory(host="h2").read().reservations() == {"run-a/api/triage": reserved.entry}


def test_a_refusal_is_returned_as_it_is_and_writes_nothing(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.claim("api", mine(store, "run-a"), DATE, ["triage", "fix"], False, NOW)
    store.reserve("api", "triage", "run-a", fields(), NOW)
    before = store.read().reservations()
    no = Refused("budget: $1.00 of $1.00 spent today", wait=False)
    assert store.reserve("api", "fix", "run-a", lambda snapshot: no, NOW) is no
    assert store_factory().read().reservations() == before


def test_the_budget_rule_sees_the_ledger_and_the_runs_in_flight_of_every_host(
    store_factory: StoreFactory,
) -> None:
    here, there = store_factory(host="h1"), store_factory(host="h2")
    there.claim("web", mine(there, "run-b"), DATE, ["triage", "fix"], False, NOW)
    there.reserve("web", "triage", "run-b", fields(0.5), NOW)
    there.record("web", "triage", agent_run("run-b", 0.4))
    there.reserve("web", "fix", "run-b", fields(0.3), NOW)
    here.claim("api", mine(here, "run-a"), DATE, ["triage"], False, NOW)
    seen: list[Snapshot] = []

    def decide(snapshot: Snapshot) -> Estimate | Refused:
        seen.append(snapshot)
        settled = sum(e["cost_usd"] for e in snapshot.spend([DATE]))
        flying = sum(e["usd"] for e in snapshot.reservations().values())
        if settled + flying + 0.5 > 1.0:
            return Refused(f"{settled:.2f} spent, {flying:.2f} in flight", wait=True)
        return Estimate("claude", DATE, 0.5, None)

    assert here.reserve("api", "triage", "run-a", decide, NOW) == Refused(
        "0.40 spent, 0.30 in flight", wait=True
    )
    [snapshot] = seen
    assert list(snapshot.reservations()) == ["run-b/web/fix"]
    assert snapshot.reservations()["run-b/web/fix"]["host"] == "h2"
    assert sorted(snapshot.claims()) == ["api", "web"]
    there.record("web", "fix", agent_run("run-b", 0.05))  # settled below its estimate
    assert isinstance(here.reserve("api", "triage", "run-a", decide, NOW), Reserved)


def test_an_outcome_settles_its_reservation_and_a_release_drops_the_rest(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    tasks = ["triage", "fix", "review"]
    store.claim("api", mine(store, "run-a"), DATE, tasks, False, NOW)
    store.claim("web", mine(store, "run-a"), DATE, tasks, False, NOW)
    for task in tasks:
        store.reserve("api", task, "run-a", fields(), NOW)
    store.reserve("web", "triage", "run-a", fields(), NOW)
    store.record("api", "triage", agent_run("run-a", 0.5))
    store.record("api", "fix", ok("run-a"))  # an agent that never started spent nothing
    assert sorted(store.read().reservations()) == ["run-a/api/review", "run-a/web/triage"]
    assert [e["task"] for e in store.read().spend([DATE])] == ["triage"]
    store.release("api", "run-a", None)
    assert sorted(store_factory().read().reservations()) == ["run-a/web/triage"]


def test_a_reservation_lapses_when_its_claim_is_taken_over_or_reaped(
    store_factory: StoreFactory,
) -> None:
    store, there = store_factory(), store_factory(host="other")
    for project in ("api", "web"):
        # A live sweep of host "other" (its own claims are checked by process there).
        there.claim(project, mine(there, "run-far"), DATE, ["triage"], False, NOW)
        there.reserve(project, "triage", "run-far", fields(), NOW)
    assert sorted(store.read().reservations()) == ["run-far/api/triage", "run-far/web/triage"]
    later = at(STALE + 1)
    taken = store.claim("api", mine(store, "run-new", later), DATE, ["triage"], False, later)
    assert isinstance(taken, Claimed)
    assert list(store.read().reservations()) == ["run-far/web/triage"]
    assert [project for project, _, _ in store.reap(later)] == ["web"]
    assert store.read().reservations() == {}
    # The new holder reserves afresh; the loser's late outcome is refused, its spend kept,
    # and the new holder's reservation stays.
    store.reserve("api", "triage", "run-new", fields(), later)
    with pytest.raises(ClaimLost):
        there.record("api", "triage", agent_run("run-far", 0.9))
    snap = store_factory().read()
    assert list(snap.reservations()) == ["run-new/api/triage"]
    assert [(e["run_id"], e["cost_usd"]) for e in snap.spend([DATE])] == [("run-far", 0.9)]


def test_a_run_that_lost_its_claim_cannot_reserve(store_factory: StoreFactory) -> None:
    """Its reservation would lapse at once: nobody would count the run it starts."""
    store, there = store_factory(), store_factory(host="other")
    there.claim("api", far("run-far"), DATE, ["triage"], False, NOW)
    later = at(STALE + 1)
    store.claim("api", mine(store, "run-new", later), DATE, ["triage"], False, later)
    with pytest.raises(ClaimLost):
        there.reserve("api", "triage", "run-far", fields(), later)
    with pytest.raises(ClaimLost):
        store.reserve("web", "triage", "run-new", fields(), later)  # never claimed
    assert store_factory().read().reservations() == {}


def test_a_dead_hosts_reservation_lapses_once_its_claim_is_stale(
    store_factory: StoreFactory,
) -> None:
    """Host A reserved an unpriced run (estimated at the whole limit) and died: once its
    claim is stale, host B's budget rule no longer counts it, though nobody has reaped
    A's claim yet (B would otherwise wait for A forever)."""
    there, here = store_factory(host="hA"), store_factory(host="hB")
    there.claim("api", far("run-a", host="hA"), DATE, ["triage"], False, NOW)
    there.reserve("api", "triage", "run-a", fields(1.0), NOW)
    seen: list[list[str]] = []

    def decide(snapshot: Snapshot) -> Estimate | Refused:
        flying = snapshot.reservations()
        seen.append(sorted(flying))
        if sum(e["usd"] for e in flying.values()) + 0.5 > 1.0:
            return Refused("the limit is reserved", wait=True)
        return Estimate("claude", DATE, 0.5, None)

    alive = at(STALE - 1)
    here.claim("web", mine(here, "run-b", alive), DATE, ["triage"], False, alive)
    assert here.reserve("web", "triage", "run-b", decide, alive) == Refused(
        "the limit is reserved", wait=True
    )
    dead = at(STALE + 1)
    assert isinstance(here.reserve("web", "triage", "run-b", decide, dead), Reserved)
    assert seen == [["run-a/api/triage"], []]
    assert sorted(store_factory(host="hB").read().reservations()) == ["run-b/web/triage"]
