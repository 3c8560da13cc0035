"""Budget arithmetic over the spend ledger: pure, with the date passed in."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from agentd.config.model import BudgetSection
from agentd.daemon.sweep import budget
from agentd.daemon.tasks.stop import StopToken
from agentd.state import Snapshot

TODAY = "2026-11-22"


def entry(
    agent: str, usd: float | None, tokens: int | None, project: str = "api"
) -> dict[str, Any]:
    return {
        "project": project,
        "task": "triage",
        "agent": agent,
        "run_id": "r",
        "finished_at": None,
        "known": usd is not None or tokens is not None,
        "cost_usd": usd,
        "tokens": tokens,
    }


def ledger(days: dict[str, list[dict[str, Any]]]) -> Snapshot:
    return Snapshot({"spend": {d: {str(i): e for i, e in enumerate(es)} for d, es in days.items()}})


def limits(**values: Any) -> BudgetSection:
    return BudgetSection.model_validate(values)


def test_week_is_today_and_the_six_days_before_across_a_month_end() -> None:
    assert budget.week_of("2026-12-03") == [
        "2026-11-27",
        "2026-11-28",
        "2026-11-29",
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
        "2026-12-03",
    ]


@pytest.mark.parametrize(
    ("config", "days", "agent", "expected"),
    [
        # nothing configured: never exhausted
        ({}, {TODAY: [entry("claude", 100.0, 10**9)]}, "claude", None),
        # nightly money: below, exactly at, above
        ({"nightly_usd": 1.0}, {TODAY: [entry("claude", 0.99, 1)]}, "claude", None),
        (
            {"nightly_usd": 1.0},
            {TODAY: [entry("claude", 0.5, 1), entry("codex", 0.5, 1)]},
            "claude",
            "budget: nightly limit of $1.00 reached ($1.00 spent on 2026-11-22)",
        ),
        # yesterday's spend does not count against tonight's limit...
        ({"nightly_usd": 1.0}, {"2026-11-21": [entry("claude", 5.0, 1)]}, "claude", None),
        # ...but it does against the week's
        (
            {"weekly_usd": 5.0},
            {"2026-11-16": [entry("claude", 3.0, 1)], "2026-11-21": [entry("claude", 2.0, 1)]},
            "claude",
            "budget: weekly limit of $5.00 reached ($5.00 spent since 2026-11-16)",
        ),
        # eight days ago is outside the rolling week
        ({"weekly_usd": 5.0}, {"2026-11-15": [entry("claude", 9.0, 1)]}, "claude", None),
        # tokens
        (
            {"nightly_tokens": 1000},
            {TODAY: [entry("gemini", None, 600), entry("gemini", None, 400)]},
            "gemini",
            "budget: nightly limit of 1,000 tokens reached (1,000 tokens spent on 2026-11-22)",
        ),
        # a limit of zero: no agent task at all
        ({"nightly_usd": 0}, {}, "claude", "budget: nightly limit of $0.00 reached ($0.00 spent"),
        # per agent: claude's own limit stops claude, not codex
        (
            {"agents": {"claude": {"nightly_usd": 0.1}}},
            {TODAY: [entry("claude", 0.2, 1)]},
            "claude",
            "budget: claude's nightly limit of $0.1000 reached ($0.2000 spent on 2026-11-22)",
        ),
        (
            {"agents": {"claude": {"nightly_usd": 0.1}}},
            {TODAY: [entry("claude", 0.2, 1)]},
            "codex",
            None,
        ),
        # codex's spend does not count against claude's own limit
        (
            {"agents": {"claude": {"nightly_usd": 0.1}}},
            {TODAY: [entry("codex", 9.0, 1)]},
            "claude",
            None,
        ),
        # runs with usage unknown add nothing (they are listed as unknown instead)
        ({"nightly_usd": 0.1}, {TODAY: [entry("claude", None, None)] * 5}, "claude", None),
    ],
)
def test_exhausted(
    config: dict[str, Any], days: dict[str, Any], agent: str, expected: str | None
) -> None:
    found = budget.exhausted(limits(**config), ledger(days), TODAY, agent)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(expected)


def test_overall_limit_is_reported_before_an_agent_limit() -> None:
    config = limits(nightly_usd=1.0, agents={"claude": {"nightly_usd": 0.5}})
    found = budget.exhausted(config, ledger({TODAY: [entry("claude", 2.0, 1)]}), TODAY, "claude")
    assert found is not None
    assert found.startswith("budget: nightly limit")


def test_standing_lists_every_limit_with_its_spend_and_unknown_runs() -> None:
    config = limits(weekly_tokens=10_000, agents={"codex": {"nightly_tokens": 500}})
    snap = ledger(
        {
            "2026-11-20": [entry("codex", None, 4000)],
            TODAY: [entry("codex", None, 300), entry("claude", None, None)],
        }
    )
    rows = [s.to_dict() for s in budget.standing(config, snap, TODAY)]
    assert [(r["agent"], r["limit"], r["spent"], r["reached"]) for r in rows] == [
        (None, "weekly_tokens", 4300, False),
        ("codex", "nightly_tokens", 300, False),
    ]
    assert rows[0]["unknown_runs"] == 1
    assert rows[0]["since"] == "2026-11-16"


def test_summary_totals_per_project_and_agent_today_and_this_week() -> None:
    snap = ledger(
        {
            "2026-11-18": [{**entry("codex", None, 1000, project="web"), "run_id": "old"}],
            TODAY: [
                entry("claude", 0.25, 100, project="api"),
                entry("claude", 0.5, 200, project="web"),
                {**entry("claude", None, None, project="web"), "run_id": "other"},
            ],
        }
    )
    out = budget.summary(snap, TODAY, run_id="r").to_dict()
    assert out["today"]["total"] == {"usd": 0.75, "tokens": 300, "runs": 3, "unknown": 1}
    assert out["today"]["by_agent"] == {
        "claude": {"usd": 0.75, "tokens": 300, "runs": 3, "unknown": 1}
    }
    assert out["week"]["by_project"]["web"] == {"usd": 0.5, "tokens": 1200, "runs": 3, "unknown": 1}
    assert out["week"]["by_agent"]["codex"]["tokens"] == 1000
    assert out["sweep"] == {"usd": 0.75, "tokens": 300, "runs": 2, "unknown": 0}
    assert out["week_from"] == "2026-11-16"


def test_a_slot_freed_by_a_stop_does_not_start_the_waiting_agent() -> None:
    """The task holding the only slot is killed by the stop and gives the slot back; the
    task waiting for it must see the stop, not start an agent that is killed at once."""
    stop = StopToken()
    slots = budget.AgentSlots(1, stop)
    assert slots.acquire()
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(slots.acquire()))
    waiter.start()
    stop.request()
    slots.release()
    waiter.join(60)
    assert got == [False]
    assert slots.acquire() is False  # and none after the stop either
    stop.close()


def test_no_bound_means_no_waiting() -> None:
    stop = StopToken()
    slots = budget.AgentSlots(0, stop)
    assert all(slots.acquire() for _ in range(100))
    stop.close()


def test_an_entry_without_an_agent_counts_once_overall() -> None:
    snap = ledger({TODAY: [entry(None, 1.0, 10), entry("claude", 1.0, 10)]})
    [row] = [s.to_dict() for s in budget.standing(limits(nightly_usd=5), snap, TODAY)]
    assert row["spent"] == 2.0


def test_the_limit_says_what_it_could_not_count() -> None:
    snap = ledger({TODAY: [entry("claude", 0.5, 10), entry("claude", None, None)]})
    [row] = budget.standing(limits(nightly_usd=5), snap, TODAY)
    assert budget.describe(row) == (
        "nightly limit of $5.00 not reached ($0.5000 spent on 2026-11-22); "
        "1 agent run with usage unknown not counted"
    )
