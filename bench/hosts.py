"""Several hosts on PostgreSQL (issue 14): what the shared store costs per task against
the JSON file, and how much faster three hosts sweep than one.

    python bench/hosts.py [--quick] [--out FILE]

A throwaway PostgreSQL cluster (tests/pgcluster.py: initdb and pg_ctl under a temporary
directory, a Unix socket), with PostgreSQL's durable defaults rather than the tests' fsync
off, serves every run, each on a fresh database whose schema is made before the clock
starts.

- Per-task store cost: 300 projects (100 with --quick) of one ``true`` task, one project
  at a time, swept by ``agentd run --once`` on the JSON store and on PostgreSQL, taking
  turns. Each side's fixed cost (start-up, the store opened, the report written; no
  projects) is measured right before each of its runs, and the cost per task is what each
  task adds beyond it: ``(wall - fixed) / tasks``. Per task, a sweep claims the project,
  records the outcome and releases the claim: three transactions on PostgreSQL, three
  journal appends with an fdatasync each on the JSON file. CPU time is agentd's with its
  tasks', plus the server's on PostgreSQL.
- 1 host against 3 hosts: 60 projects of one ``sleep 1`` task, at most 2 projects at once
  per host, on one database. The three hosts are three ``agentd run --once`` processes
  started together on this machine, each with its own ``[state] host`` and state
  directory (a sleeping task needs no CPU, so sharing the machine's two cores costs them
  little). Wall time from the first start to the last exit.

Every sweep must end ok with every task run exactly once (counted over the hosts' reports),
or the benchmark fails rather than print a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import tomli_w

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.pgcluster: the tests' throwaway server
AGENTD = str(Path(sys.executable).parent / "agentd")
TRUE = shutil.which("true") or "/bin/true"
SLEEP = shutil.which("sleep") or "/bin/sleep"
STORE_GOAL_MS = 5.0
SPEEDUP_GOAL = 2.7
DURABLE = "-c listen_addresses='' -c max_connections=50"


@dataclass
class Sample:
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, scale: float = 1.0, digits: int = 2) -> str:
        lo, mid, hi = min(self.values) * scale, self.median * scale, max(self.values) * scale
        return f"{mid:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


class BenchmarkFailed(SystemExit):
    def __init__(self, what: str) -> None:
        super().__init__(f"BENCHMARK FAILED: {what}")


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTD_")}
    env["AGENTD_STATE_DIR"] = str(state)
    return env


def _write_config(
    path: Path, tasks: dict[str, Any], projects: int, bound: int, state: dict[str, str]
) -> None:
    (name,) = tasks
    doc: dict[str, Any] = {
        "run": {"project_parallelism": bound > 1, "max_parallel_projects": bound},
        "log": {"level": "warning"},
        "state": state,
        "tasks": tasks,
        "projects": [
            {"name": f"p{i:03d}", "path": f"p{i:03d}", "tasks": [name]} for i in range(projects)
        ],
    }
    for i in range(projects):
        (path.parent / f"p{i:03d}").mkdir(exist_ok=True)
    path.write_text(tomli_w.dumps(doc))


def _reports(state: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((state / "runs").glob("*/report.json"))]


def _check(reports: list[dict[str, Any]], tasks: int, what: str) -> None:
    """Every report ok, and the ``tasks`` tasks each ok in exactly one of them."""
    ran = [
        (p["name"], t["name"])
        for r in reports
        for p in r["projects"]
        for t in p["tasks"]
        if t["status"] == "ok"
    ]
    bad = [r["status"] for r in reports if r["status"] != "ok"]
    if bad or len(ran) != tasks or len(set(ran)) != tasks:
        raise BenchmarkFailed(
            f"{what}: statuses {bad or 'ok'}, {len(ran)} task runs ok "
            f"({len(set(ran))} distinct) for {tasks} tasks"
        )


def _start(config: Path, state: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [AGENTD, "run", "--once", "--config", str(config)],
        env=_env(state),
        cwd=config.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _finish(proc: subprocess.Popen[bytes]) -> float:
    """Wait for a sweep, which must exit 0; its CPU seconds (user and system, with its
    tasks': wait4 counts the descendants it waited for)."""
    assert proc.stderr is not None
    errors = proc.stderr.read()  # drained while it runs: a chatty failure cannot block it
    _, status, usage = os.wait4(proc.pid, 0)
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = errors.decode(errors="replace")[-2000:]
        raise BenchmarkFailed(f"agentd run --once exited {proc.returncode}\n{tail}")
    return usage.ru_utime + usage.ru_stime


def _sweeps(pairs: list[tuple[Path, Path]]) -> tuple[float, float]:
    """Wall seconds of ``agentd run --once`` on each (config, state dir), all at once, and
    the CPU seconds of them all."""
    started = time.perf_counter()
    procs = [_start(config, state) for config, state in pairs]
    cpu = sum(_finish(proc) for proc in procs)
    return time.perf_counter() - started, cpu


class Server:
    """The throwaway cluster, and a fresh database on it with agentd's schema made."""

    def __init__(self) -> None:
        from tests import pgcluster

        # PostgreSQL's durable defaults (fsync and synchronous_commit on), not the tests'
        # settings: every commit waits for its flush, as the JSON store's fdatasync does.
        pgcluster.SERVER_OPTIONS = DURABLE
        self.cluster = pgcluster.start_cluster()

    def fresh(self) -> str:
        from agentd.state.postgres import PostgresStore

        url = self.cluster.conninfo(self.cluster.new_database())
        store = PostgresStore(url, host="bench")
        try:
            store.read()  # the schema is made on first use: not part of any sweep measured
        finally:
            store.close()
        return url

    def cpu(self) -> float:
        """CPU seconds the server has used so far: the postmaster's, with its children's
        (the backends of agentd's connections, once they have ended, and its helpers).
        Waits for the backends of past sweeps to end, so each is counted."""
        ticks = os.sysconf("SC_CLK_TCK")
        main = int((self.cluster.data / "postmaster.pid").read_text().split()[0])

        def backends() -> list[list[str]]:
            found = []
            for name in os.listdir("/proc"):
                stat = _stat(name)
                if stat and int(stat[1]) == main:
                    found.append(stat)
            return found

        deadline = time.monotonic() + 10
        while any(s[-1].startswith("postgres: agentd_test") for s in backends()):
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        own = _stat(str(main)) or []
        total = sum(int(v) for v in own[11:15])  # utime stime cutime cstime
        total += sum(int(v) for s in backends() for v in s[11:13])
        return total / ticks

    def close(self) -> None:
        self.cluster.destroy()


def _stat(pid: str) -> list[str] | None:
    """Fields 3 on of /proc/PID/stat (state, ppid, ...; utime at [11]), then its command
    line; None if it is not a process."""
    if not pid.isdigit():
        return None
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return [*data[data.rfind(b")") + 2 :].decode().split(), cmdline.strip()]


# -- per-task store cost -------------------------------------------------------------------


def store_cost(work: Path, server: Server, projects: int, reps: int) -> dict[str, Any]:
    root = work / "store"
    root.mkdir()
    state = root / "state"
    keys = [f"{side}{part}" for side in ("json", "pg") for part in ("", "_fixed")]
    wall: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}

    def one(key: str, count: int) -> None:
        shutil.rmtree(state, ignore_errors=True)
        config = root / f"{key}.toml"
        backend = {"backend": "postgres", "url": server.fresh()} if key.startswith("pg") else {}
        _write_config(config, {"t": {"command": [TRUE]}}, count, 1, backend)
        before = server.cpu()
        took, used = _sweeps([(config, state)])
        wall[key].append(took)
        cpu[key].append(used + server.cpu() - before)
        _check(_reports(state), count, f"{key}, {count} projects")

    for _ in range(reps):  # taking turns: each pair of sweeps sees the same load
        for side in ("json", "pg"):
            one(f"{side}_fixed", 0)
            one(side, projects)
    out: dict[str, Any] = {"projects": projects, "reps": reps}
    for side in ("json", "pg"):
        for name, figures in (("wall", wall), ("cpu", cpu)):
            full, fixed = figures[side], figures[f"{side}_fixed"]
            out[f"{side}_{name}"] = Sample(full)
            out[f"{side}_{name}_fixed"] = Sample(fixed)
            per_task = [(f - z) / projects for f, z in zip(full, fixed, strict=True)]
            out[f"{side}_{name}_per_task"] = Sample(per_task)
    for name in ("wall", "cpu"):
        pg, js = out[f"pg_{name}_per_task"].median, out[f"json_{name}_per_task"].median
        out[f"{name}_difference_ms"] = (pg - js) * 1000
    return out


# -- 1 host against 3 hosts ----------------------------------------------------------------


def _task_span(reports: list[dict[str, Any]]) -> float:
    """Seconds from the first task's start to the last task's end, over the reports."""
    stamps = [
        (datetime.fromisoformat(t["started_at"]), datetime.fromisoformat(t["finished_at"]))
        for r in reports
        for p in r["projects"]
        for t in p["tasks"]
        if t["status"] == "ok"
    ]
    return (max(e for _, e in stamps) - min(s for s, _ in stamps)).total_seconds()


def spread(work: Path, server: Server, projects: int, reps: int) -> dict[str, Any]:
    root = work / "spread"
    root.mkdir()
    wall: dict[int, list[float]] = {1: [], 3: []}
    span: dict[int, list[float]] = {1: [], 3: []}
    for rep in range(reps):
        for count in (1, 3):
            url = server.fresh()
            pairs = []
            for k in range(count):
                config = root / f"host{k}.toml"
                state = root / f"state-{rep}-{count}-{k}"
                host = {"backend": "postgres", "url": url, "host": f"bench-{k + 1}"}
                _write_config(config, {"s": {"command": [SLEEP, "1"]}}, projects, 2, host)
                pairs.append((config, state))
            wall[count].append(_sweeps(pairs)[0])
            reports = [r for _, state in pairs for r in _reports(state)]
            _check(reports, projects, f"{count} host(s), {projects} projects")
            if count == 3 and not all(
                any(t["status"] == "ok" for p in r["projects"] for t in p["tasks"]) for r in reports
            ):
                raise BenchmarkFailed("3 hosts: a host ran nothing")
            span[count].append(_task_span(reports))
    out: dict[str, Any] = {"projects": projects, "reps": reps}
    for name, figures in (("wall", wall), ("span", span)):
        out[name] = {count: Sample(values) for count, values in figures.items()}
        pairs_ = zip(figures[1], figures[3], strict=True)
        out[f"{name}_ratio"] = Sample([a / b for a, b in pairs_])
    return out


def measure(work: Path, quick: bool) -> dict[str, Any]:
    server = Server()
    try:
        print("store cost...", file=sys.stderr)
        cost = store_cost(work, server, 100 if quick else 300, 3 if quick else 5)
        print("1 host against 3...", file=sys.stderr)
        hosts = spread(work, server, 60, 1 if quick else 3)
    finally:
        server.close()
    return {"cost": cost, "hosts": hosts}


def render(r: dict[str, Any], command: str) -> str:
    c, h = r["cost"], r["hosts"]
    ms = 1000.0
    store = "within" if c["wall_difference_ms"] <= STORE_GOAL_MS else "OVER"
    speed = "met" if h["wall_ratio"].median >= SPEEDUP_GOAL else "NOT met"
    rows = "\n".join(
        f"| {label} | {c[f'{side}_wall_fixed'].show()} | {c[f'{side}_wall'].show()} | "
        f"{c[f'{side}_wall_per_task'].show(ms)} | {c[f'{side}_cpu_per_task'].show(ms)} |"
        for side, label in (("json", "JSON file"), ("pg", "PostgreSQL"))
    )
    one, three = h["wall"][1], h["wall"][3]
    one_fixed = one.median - h["span"][1].median
    three_fixed = three.median - h["span"][3].median
    return f"""## Several hosts on PostgreSQL (issue 14)

Not regenerated by `make bench`: reproduce with `{command}` (about five minutes).
A throwaway PostgreSQL 15 cluster on this machine (the tests' `tests/pgcluster.py`, on a
Unix socket, but with PostgreSQL's durable defaults: fsync and synchronous_commit on, as
the JSON store fdatasyncs each write), a fresh database for each sweep with agentd's
schema made before the clock starts.

**Per-task store cost.** {c["projects"]} projects of one `true` task, one project at a time,
{c["reps"]} sweeps on each store, taking turns. Each side's fixed cost (start-up, the store
opened, the report written; no projects) is measured right before each of its sweeps, and
the cost per task is what each task adds beyond it, sweep by sweep: `(wall - fixed) /
tasks`. A task costs a claim, an outcome and a release: three transactions on PostgreSQL,
three journal appends with an fdatasync each on the JSON file. CPU counts agentd with its
tasks and, on PostgreSQL, the server's processes too.

| store | fixed (s) | sweep (s) | per task, wall (ms) | per task, CPU (ms) |
|---|---|---|---|---|
{rows}

PostgreSQL costs {c["wall_difference_ms"]:.2f} ms more wall time per task (medians), and
{c["cpu_difference_ms"]:.2f} ms more CPU; the goal, at most {STORE_GOAL_MS:.0f} ms more:
{store}.

**1 host against 3.** {h["projects"]} projects of one `sleep 1` task, at most 2 projects at
once per host, on one database; the three hosts are three `agentd run --once` started
together on this machine, each with its own `[state] host` and state directory (sleeping
tasks leave the two cores to the three agentd). Wall time from the first start to the
last exit, {h["reps"]} sweeps of each, taking turns; and the tasks' span, from the first
task's start to the last task's end (the reports' times), which leaves out what every
`agentd run --once` pays once whatever its share of the work: start-up and the report.

| hosts | wall (s) | tasks' span (s) | lower bound (s) |
|---|---|---|---|
| 1 | {one.show()} | {h["span"][1].show()} | {h["projects"] / 2:.0f} |
| 3 | {three.show()} | {h["span"][3].show()} | {h["projects"] / 6:.0f} |

Three hosts finish {h["wall_ratio"].show()} times faster than one, wall time (the goal, at
least {SPEEDUP_GOAL}x: {speed}); over the tasks' span, {h["span_ratio"].show()} times.
What each side pays beyond its tasks' span (wall minus span, medians: start-up and the
report): one host {one_fixed:.2f} s, three hosts {three_fixed:.2f} s (the three pay it at
the same time on this machine's two cores).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer sweeps of each")
    parser.add_argument("--out", type=Path, help="write the Markdown here (default: stdout)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="agentd-bench-hosts-") as tmp:
        results = measure(Path(tmp), args.quick)
    command = "python bench/hosts.py" + (" --quick" if args.quick else "")
    text = render(results, command)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
