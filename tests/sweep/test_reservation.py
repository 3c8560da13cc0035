"""The budget as a reservation: the rule as a table over a ledger and the runs in flight,
the wait on a real file store, and real sweeps whose agent runs wait for a price."""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agentd.config.model import BudgetSection
from agentd.daemon.model.clock import SYSTEM_CLOCK
from agentd.daemon.sweep import budget
from agentd.daemon.sweep.budget import Pricing, Rule
from agentd.daemon.tasks.stop import StopToken
from agentd.state import JsonFileStore, Snapshot, TaskRecord
from agentd.state.base import Refused, Reserved
from agentd.state.claims import me
from tests.builders import ask, proj, write_config
from tests.helpers import AGENTD, DEADLINE, TEST_BIN, Workspace, wait_for

TODAY = "2026-11-22"
YESTERDAY = "2026-11-21"


def ran(agent: str, usd: float | None, tokens: int | None = None, day: str = TODAY) -> Any:
    """A settled agent run in the ledger of ``day``."""
    known = usd is not None or tokens is not None
    return day, {"agent": agent, "known": known, "cost_usd": usd, "tokens": tokens}


def held(
    agent: str, usd: float | None, tokens: float | None = None, date: str = TODAY
) -> dict[str, Any]:
    """An agent run in flight (its project's claim held by its run)."""
    return {"agent": agent, "date": date, "usd": usd, "tokens": tokens}


def snap(
    settled: list[Any] | None = None,
    flying: list[dict[str, Any]] | None = None,
    lapsed: int = 0,
) -> Snapshot:
    """A ledger of ``settled`` runs and ``flying`` reservations, the first ``lapsed`` of
    them of runs that no longer hold their project's claim."""
    spend: dict[str, dict[str, Any]] = {}
    for i, (day, entry) in enumerate(settled or []):
        spend.setdefault(day, {})[f"r{i}/p{i}/t"] = {**entry, "project": f"p{i}", "task": "t"}
    reserved: dict[str, Any] = {}
    claims: dict[str, Any] = {}
    for i, entry in enumerate(flying or []):
        project, run_id = f"f{i}", f"run{i}"
        reserved[f"{run_id}/{project}/t"] = {
            **entry,
            "project": project,
            "task": "t",
            "run_id": run_id,
            "host": "h",
            "at": "",
        }
        # A run that no longer holds its project's claim (a dead sweep) lapses.
        claims[project] = {"run_id": run_id if i >= lapsed else "someone-else"}
    return Snapshot({"spend": spend, "reserved": reserved, "claims": claims})


def rule(
    agent: str = "claude", bound: int = 0, pricing: Pricing | None = None, **limits: Any
) -> Rule:
    budget_section = BudgetSection.model_validate(limits)
    return Rule(budget_section, TODAY, agent, pricing or Pricing(), bound)


GO, SKIP, WAIT = "go", "skip", "wait"


@pytest.mark.parametrize(
    ("the_rule", "state", "verdict", "said"),
    [
        # No limit and no bound: always go, whatever is in flight.
        (rule(), snap([], [held("codex", None)] * 5), GO, None),
        # Settled alone at the limit: skipped, in the words of the budget as before.
        (
            rule(nightly_usd=1.0),
            snap([ran("claude", 0.5), ran("codex", 0.5)]),
            SKIP,
            "budget: nightly limit of $1.00 reached ($1.00 spent on 2026-11-22)",
        ),
        # Settled plus in flight under the limit: go.
        (rule(nightly_usd=1.0), snap([ran("claude", 0.3)], [held("claude", 0.3)]), GO, None),
        # Settled plus in flight at the limit: wait for the run in flight to settle.
        (
            rule(nightly_usd=1.0),
            snap([ran("claude", 0.4)], [held("claude", 0.3), held("claude", 0.3)]),
            WAIT,
            "budget: nightly limit of $1.00 may be reached by 2 agent runs in flight "
            "($0.4000 spent on 2026-11-22, $0.6000 reserved)",
        ),
        # A run in flight whose price is unknown counts as the rest of the limit.
        (
            rule(nightly_usd=100.0),
            snap([], [held("aider", None)]),
            WAIT,
            "budget: nightly limit of $100.00 may be reached by 1 agent run in flight "
            "($0.00 spent on 2026-11-22, $0.00 and the rest of the limit for a run of "
            "unknown cost reserved)",
        ),
        # ...but only within its limit's scope: claude's own limit ignores codex's runs.
        (rule(agents={"claude": {"nightly_usd": 1.0}}), snap([], [held("codex", None)]), GO, None),
        (
            rule(agents={"claude": {"nightly_usd": 1.0}}),
            snap([], [held("claude", None)]),
            WAIT,
            "budget: claude's nightly limit",
        ),
        # A no-cost agent's run counts 0 USD: it never holds back a USD limit.
        (rule(nightly_usd=1.0), snap([ran("claude", 0.9)], [held("codex", 0.0)]), GO, None),
        # ...but its tokens count against a tokens limit.
        (
            rule(nightly_tokens=1000),
            snap([ran("codex", None, 600, TODAY)], [held("codex", 0.0, 500)]),
            WAIT,
            "budget: nightly limit of 1,000 tokens may be reached",
        ),
        # Nightly: a run in flight of another date is not tonight's; weekly: it is this week's.
        (
            rule(nightly_usd=1.0),
            snap([ran("claude", 0.5)], [held("claude", 0.6, date=YESTERDAY)]),
            GO,
            None,
        ),
        (
            rule(weekly_usd=1.0),
            snap([ran("claude", 0.5)], [held("claude", 0.6, date=YESTERDAY)]),
            WAIT,
            "budget: weekly limit of $1.00 may be reached",
        ),
        # A reservation whose run lost its claim (a dead sweep) holds nothing.
        (rule(nightly_usd=1.0), snap([ran("claude", 0.5)], [held("claude", None)], 1), GO, None),
        # The global bound counts every run in flight, priced or not, limits or none.
        (
            rule(bound=2),
            snap([], [held("claude", 0.1), held("codex", 0.0)]),
            WAIT,
            "max_parallel_agents_global = 2 reached (2 agent runs in flight on all hosts)",
        ),
        (rule(bound=3), snap([], [held("claude", 0.1), held("codex", 0.0)]), GO, None),
        # A reached limit skips even while the bound would only make it wait.
        (rule(bound=1, nightly_usd=0), snap([], [held("claude", 0.1)]), SKIP, "budget: nightly"),
    ],
)
def test_decide(the_rule: Rule, state: Snapshot, verdict: str, said: str | None) -> None:
    answer = budget.decide(the_rule, state)
    if verdict == GO:
        assert not isinstance(answer, Refused), answer
        assert answer.agent == the_rule.agent
        assert answer.date == TODAY
        return
    assert isinstance(answer, Refused)
    assert answer.wait is (verdict == WAIT)
    assert said is not None
    assert answer.reason.startswith(said), answer.reason


def test_a_skip_says_what_exhausted_always_said() -> None:
    """Single-host behaviour: a limit reached skips the task with the same reason."""
    the_rule = rule(nightly_usd=1.0, agents={"claude": {"nightly_usd": 0.5}})
    state = snap([ran("claude", 2.0)])
    answer = budget.decide(the_rule, state)
    assert isinstance(answer, Refused)
    assert answer.reason == budget.exhausted(the_rule.budget, state, TODAY, "claude")


@pytest.mark.parametrize(
    ("settled", "agent", "pricing", "expected"),
    [
        # Its dearest known run in the ledger's 14 days, per unit.
        (
            [ran("claude", 0.2, 900), ran("claude", 0.5, 100, YESTERDAY), ran("codex", 9.0)],
            "claude",
            Pricing(),
            (0.5, 900.0),
        ),
        # No known run yet: unknown (its first run sets the price); unknown runs do not count.
        ([ran("claude", None, None), ran("codex", 1.0, 10)], "claude", Pricing(), (None, None)),
        # 14 days back is the window; the 15th day is not.
        (
            [ran("claude", 0.7, 70, "2026-11-09"), ran("claude", 0.1, 10, "2026-11-08")],
            "claude",
            Pricing(),
            (0.7, 70.0),
        ),
        ([ran("claude", 0.1, 10, "2026-11-08")], "claude", Pricing(), (None, None)),
        # A preset that reports no cost counts 0 USD; usage not read counts nothing.
        ([ran("codex", None, 500)], "codex", Pricing(usd=False), (0.0, 500.0)),
        ([], "mine", Pricing(usd=False, tokens=False), (0.0, 0.0)),
    ],
)
def test_estimate(
    settled: list[Any], agent: str, pricing: Pricing, expected: tuple[Any, Any]
) -> None:
    assert budget.estimate(snap(settled), agent, TODAY, pricing) == expected
    answer = budget.decide(rule(agent, pricing=pricing), snap(settled))
    assert not isinstance(answer, Refused)
    assert (answer.usd, answer.tokens) == expected


def test_pricing_follows_the_usage_format(tmp_path: Path) -> None:
    from tests.builders import load

    config = load(
        tmp_path,
        {"c": ask("claude", "x"), "x": ask("codex", "x"), "m": ask("mine", "x")},
        [proj("p", "c", "x", "m")],
        agents={"mine": {"command": ["mine", "{prompt}"], "usage": "none"}},
    )
    assert budget.pricing(config, "claude") == Pricing(usd=True, tokens=True)
    assert budget.pricing(config, "codex") == Pricing(usd=False, tokens=True)
    assert budget.pricing(config, "mine") == Pricing(usd=False, tokens=False)


# -- the wait, on a real file store ---------------------------------------------------------


class Said:
    """A log that tells the test when a reservation is waiting."""

    def __init__(self) -> None:
        self.waiting = threading.Event()
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))
        if event == "task.waiting":
            self.waiting.set()


def _claimed(store: JsonFileStore, project: str, run_id: str) -> None:
    now = datetime.now(UTC)
    store.claim(project, me(run_id, now), TODAY, ["t"], False, now)


def test_a_reservation_waits_for_a_run_in_flight_then_starts_once_it_settles(
    tmp_path: Path,
) -> None:
    store = JsonFileStore(tmp_path / "state")
    _claimed(store, "a", "run-a")
    _claimed(store, "b", "run-b")
    the_rule = rule(nightly_usd=1.0)
    stop = StopToken()
    first, waits = budget.reserve(store, ("a", "t", "run-a"), the_rule, stop, SYSTEM_CLOCK, Said())
    assert isinstance(first, Reserved)
    assert waits == 0
    assert first.entry["usd"] is None  # claude has no known run: the rest of the limit

    said, got = Said(), []
    waiter = threading.Thread(
        target=lambda: got.append(
            budget.reserve(store, ("b", "t", "run-b"), the_rule, stop, SYSTEM_CLOCK, said)
        )
    )
    waiter.start()
    assert said.waiting.wait(DEADLINE), "the second reservation never waited"
    assert not got  # still waiting: the first run's price is unknown
    usage = {"known": True, "cost_usd": 0.4, "tokens": 100}
    record = TaskRecord("ok", TODAY, "run-a", None, None, 1.0, 0, "claude", usage)
    store.record("a", "t", record)  # settles: $0.40 spent, the price known
    waiter.join(DEADLINE)
    [(second, waited)] = got
    assert isinstance(second, Reserved)
    assert waited >= 1
    assert second.entry["usd"] == 0.4
    assert said.lines[0][1]["reason"].startswith("budget: nightly limit of $1.00 may be reached")
    assert list(store.read().reservations()) == ["run-b/b/t"]
    stop.close()


def test_a_stop_ends_the_wait(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path / "state")
    _claimed(store, "a", "run-a")
    _claimed(store, "b", "run-b")
    the_rule = rule(bound=1)
    stop = StopToken()
    assert isinstance(
        budget.reserve(store, ("a", "t", "run-a"), the_rule, stop, SYSTEM_CLOCK, Said())[0],
        Reserved,
    )
    said, got = Said(), []
    waiter = threading.Thread(
        target=lambda: got.append(
            budget.reserve(store, ("b", "t", "run-b"), the_rule, stop, SYSTEM_CLOCK, said)
        )
    )
    waiter.start()
    assert said.waiting.wait(DEADLINE)
    stop.request()
    waiter.join(DEADLINE)
    [(answer, waited)] = got
    assert answer is None
    assert waited >= 1
    assert list(store.read().reservations()) == ["run-a/a/t"]  # nothing written for b
    stop.close()


# -- real sweeps ----------------------------------------------------------------------------


@pytest.fixture
def aws(ws: Workspace) -> Workspace:
    ws.env["PATH"] = f"{TEST_BIN / 'fake-agents'}:{ws.env['PATH']}"
    return ws


def _trace(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class Sweep:
    """``agentd run --once --json`` of one project, its log lines read as they come."""

    def __init__(self, ws: Workspace, project: str) -> None:
        argv = [AGENTD, "run", "--once", "--json", "--config", str(ws.config)]
        self.proc = subprocess.Popen(
            [*argv, "--project", project],
            cwd=ws.root,
            env=ws.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.waiting = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if "task.waiting" in line:
                self.waiting.set()

    def report(self) -> dict[str, Any]:
        # stdout alone here: communicate() would read stderr too, taking lines from the
        # reader thread (then the test misses the task's finish line).
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        self.proc.wait(DEADLINE)
        self.reader.join(DEADLINE)
        assert out, "".join(self.lines)
        report: dict[str, Any] = json.loads(out)
        return report


def test_a_second_sweep_waits_for_the_first_agent_run_to_set_the_price(aws: Workspace) -> None:
    """Two sweeps on one state directory: the second's agent run waits (holding its agent
    slot) until the first's run, of no known price yet, has settled; then it starts, and
    its log says it waited."""
    trace, gate = aws.root / "trace", aws.root / "gate"
    env = {"FAKE_COST": "0.3", "FAKE_TRACE": str(trace), "GATE": str(gate)}
    write_config(
        aws,
        {"c": ask("claude", "fix it")},
        [proj("p1", "c", env=env), proj("p2", "c", env=env)],
        budget={"nightly_usd": 1.0},
    )
    # p1's claude answers only once the test lets it (the gate file appears).
    wrapper = aws.root / "slowbin"
    wrapper.mkdir()
    (wrapper / "claude").write_text(
        "#!/bin/sh\n"
        'if [ "$AGENTD_PROJECT" = p1 ]; then\n'
        '  while [ ! -e "$GATE" ]; do sleep 0.05; done\n'
        "fi\n"
        f'exec {TEST_BIN / "fake-agents" / "claude"} "$@"\n'
    )
    (wrapper / "claude").chmod(0o755)
    aws.env["PATH"] = f"{wrapper}:{aws.env['PATH']}"
    sweeps: list[Sweep] = []
    try:
        sweeps.append(Sweep(aws, "p1"))
        wait_for(lambda: _reserved(aws), DEADLINE, "p1's reservation")
        sweeps.append(Sweep(aws, "p2"))
        assert sweeps[1].waiting.wait(DEADLINE), "".join(sweeps[1].lines)
        assert _trace(trace) == []  # no agent has started: p1's waits for the gate
        gate.touch()
        one, two = (sweep.report() for sweep in sweeps)
    finally:
        gate.touch()
        for sweep in sweeps:
            if sweep.proc.poll() is None:
                sweep.proc.kill()
                sweep.proc.wait()
    assert one["status"] == two["status"] == "ok", (one["failures"], two["failures"])
    # p2's agent started only once p1's had ended: one at a time, both ran.
    events = _trace(trace)
    assert [e["event"] for e in events] == ["start", "end", "start", "end"]
    assert [e.get("project_dir") for e in events[::2]] == [str(aws.root / p) for p in ("p1", "p2")]
    finish = next(json.loads(line) for line in sweeps[1].lines if "task.finish" in line)
    assert finish["reservation_waits"] >= 1
    assert two["spend"]["today"]["total"]["usd"] == pytest.approx(0.6)


def _reserved(ws: Workspace) -> bool:
    if not (ws.state / "state.json").exists():
        return False
    return bool(JsonFileStore(ws.state).read().reservations())


def test_a_store_that_cannot_reserve_fails_the_task_and_starts_no_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unchecked budget could be overspent on every host: the agent does not start."""
    import os

    from agentd.daemon.output.progress import Observer
    from agentd.daemon.sweep.engine import SweepRequest, run_sweep
    from agentd.state import StateError
    from tests.builders import load

    (tmp_path / "p").mkdir()
    trace = tmp_path / "trace"
    config = load(
        tmp_path,
        {"c": ask("claude", "fix it")},
        [proj("p", "c", env={"FAKE_TRACE": str(trace)})],
        budget={"nightly_usd": 1.0},
    )
    store = JsonFileStore(tmp_path / "state")

    def refuse(*args: Any) -> None:
        raise StateError("state.json: No space left on device")

    monkeypatch.setattr(store, "reserve", refuse)
    environ = {**os.environ, "PATH": f"{TEST_BIN / 'fake-agents'}:{os.environ['PATH']}"}
    stop = StopToken()
    report = run_sweep(
        config, store, tmp_path / "state", SweepRequest(), stop, [Observer()], environ
    ).to_dict()
    stop.close()
    [task] = report["projects"][0]["tasks"]
    assert task["status"] == "error"
    assert task["reason"] == "budget not checked: state.json: No space left on device"
    assert report["status"] == "failed"
    assert not trace.exists()
    assert store.read().claims() == {}  # the project's claim was still given back
