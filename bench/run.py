"""agentd's benchmarks, each against a baseline measured in the same run.

    python bench/run.py [--quick] [--out BENCHMARKS.md]     (or: make bench)

Every figure is the median of several runs, with the minimum and maximum beside it. The
machine is shared and noisy, so only ratios and per-item costs against a baseline taken
moments apart mean anything; absolute times are shown for context.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AGENTD = str(Path(sys.executable).parent / "agentd")
TRUE = shutil.which("true") or "/bin/true"


@dataclass
class Sample:
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, scale: float = 1.0, digits: int = 2) -> str:
        lo, mid, hi = min(self.values) * scale, self.median * scale, max(self.values) * scale
        return f"{mid:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def repeat(times: int, run: Callable[[], float]) -> Sample:
    return Sample([run() for _ in range(times)])


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTD_")}
    env["AGENTD_STATE_DIR"] = str(state)
    return env


def _projects(root: Path, count: int, tasks: Sequence[str]) -> str:
    lines = []
    for i in range(count):
        name = f"p{i:04d}"
        (root / name).mkdir(exist_ok=True)
        lines.append(
            f'[[projects]]\nname = "{name}"\npath = "{name}"\ntasks = {json.dumps(list(tasks))}\n'
        )
    return "".join(lines)


class BenchmarkFailed(SystemExit):
    """A measured command did not do what it was measured doing: no figure is better than
    the figure of a sweep that failed fast."""

    def __init__(self, what: str) -> None:
        super().__init__(f"BENCHMARK FAILED: {what}")


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one command, which must exit 0."""
    took, _, rss = _measured(argv, env, cwd)
    return took, rss


def _measured(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user and system) and peak RSS (KiB) of one command,
    which must exit 0."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    errors = proc.stderr.read()  # drained while it runs, so a chatty failure cannot block it
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - started
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = errors.decode(errors="replace")[-2000:]
        raise BenchmarkFailed(f"{' '.join(argv)} exited {proc.returncode}\n{tail}")
    return took, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def _check_sweep(report: dict[str, Any], tasks: int, what: str) -> None:
    """The sweep ended ok and ran every one of its ``tasks`` tasks, each ok."""
    ran = [t for p in report["projects"] for t in p["tasks"] if t["status"] == "ok"]
    if report["status"] != "ok" or len(ran) != tasks:
        raise BenchmarkFailed(
            f"{what}: sweep status {report['status']!r}, {len(ran)} of {tasks} tasks ok"
        )


def _check_last_sweep(state: Path, tasks: int, what: str) -> None:
    """The newest sweep in ``state``: its report, and one task log on disk per task."""
    reports = sorted((state / "runs").glob("*/report.json"))
    if not reports:
        raise BenchmarkFailed(f"{what}: no report in {state / 'runs'}")
    _check_sweep(json.loads(reports[-1].read_text()), tasks, what)
    logs = len(list(reports[-1].parent.glob("*/*.log")))
    if logs != tasks:
        raise BenchmarkFailed(f"{what}: {logs} task logs for {tasks} tasks")


# -- 1 and 2: fan-out overhead and growth --------------------------------------------------


def fanout(work: Path, sizes: Sequence[int], reps: dict[int, int]) -> dict[str, Any]:
    """N projects x 3 trivial tasks at bound 4: agentd against xargs -P 4 (and parallel)."""
    tasks = ["t1", "t2", "t3"]
    task_defs = "".join(f'[tasks.{t}]\ncommand = ["{TRUE}"]\n' for t in tasks)
    head = (
        '[run]\nproject_parallelism = true\nmax_parallel_projects = 4\n[log]\nlevel = "warning"\n'
    )
    out: dict[str, Any] = {"sizes": {}, "rss": {}}
    has_parallel = shutil.which("parallel") is not None

    def agentd_run(root: Path, projects: int) -> float:
        state = root / "state"
        shutil.rmtree(state, ignore_errors=True)
        took, rss = _timed(
            [AGENTD, "run", "--once", "--config", str(root / "config.toml")], _env(state), root
        )
        _check_last_sweep(state, projects * len(tasks), f"fan-out, {projects} projects")
        out["rss"].setdefault(root.name, []).append(rss)
        return took

    empty = work / "empty"
    empty.mkdir()
    (empty / "config.toml").write_text(head + task_defs)

    def xargs_empty() -> float:
        started = time.perf_counter()
        subprocess.run(["xargs", "-P", "4", "-n", "1", TRUE], input=b"", check=True)
        return time.perf_counter() - started

    out["fsync"] = fsync_latency(work)
    for n in sizes:
        root = work / f"n{n}"
        root.mkdir()
        (root / "config.toml").write_text(head + task_defs + _projects(root, n, tasks))
        names = "\n".join(f"p{i:04d}" for i in range(n)) + "\n"
        chain = f'cd "$1" && {TRUE} && {TRUE} && {TRUE}'

        def xargs(root: Path = root, names: str = names, chain: str = chain) -> float:
            started = time.perf_counter()
            subprocess.run(
                ["xargs", "-P", "4", "-n", "1", "sh", "-c", chain, "sh"],
                input=names.encode(),
                cwd=root,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            return time.perf_counter() - started

        def gnu_parallel(root: Path = root, names: str = names, chain: str = chain) -> float:
            started = time.perf_counter()
            subprocess.run(
                ["parallel", "-j", "4", "sh", "-c", chain, "sh", ":::", *names.split()],
                cwd=root,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            return time.perf_counter() - started

        runs: dict[str, list[float]] = {"agentd": [], "agentd_fixed": [], "xargs": []}
        runs.update({"xargs_fixed": [], **({"parallel": []} if has_parallel else {})})
        for _ in range(reps[n]):  # each run right after its fixed cost: both see the same load
            runs["agentd_fixed"].append(agentd_run(empty, 0))
            runs["agentd"].append(agentd_run(root, n))
            runs["xargs_fixed"].append(xargs_empty())
            runs["xargs"].append(xargs())
            if has_parallel:
                runs["parallel"].append(gnu_parallel())
        out["sizes"][n] = {k: Sample(v) for k, v in runs.items()}
    for side, key in (("agentd_fixed", "empty"), ("xargs_fixed", "xargs_empty")):
        out[key] = Sample([v for entry in out["sizes"].values() for v in entry[side].values])
    out["has_parallel"] = has_parallel
    return out


def fsync_latency(work: Path, count: int = 200) -> Sample:
    """What one durable write costs on this file system: append a line, fdatasync."""
    path = work / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    values = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            os.write(fd, b"x" * 200 + b"\n")
            os.fdatasync(fd)
            values.append(time.perf_counter() - started)
    finally:
        os.close(fd)
    return Sample(values)


# -- 3: makespan ----------------------------------------------------------------------------


def makespan_workload(seed: int = 7) -> tuple[dict[str, float], dict[str, list[str]]]:
    """30 projects: mostly short, a few long ones late in the file, and a dependency chain."""
    rng = random.Random(seed)
    durations: dict[str, float] = {}
    deps: dict[str, list[str]] = {}
    for i in range(30):
        name = f"m{i:02d}"
        durations[name] = round(rng.uniform(0.2, 0.8), 2)
        deps[name] = []
    for name in ("m25", "m26", "m27", "m28", "m29"):  # the long ones come last in the file
        durations[name] = round(rng.uniform(2.5, 3.5), 2)
    chain = ["m20", "m21", "m22", "m23", "m24"]  # a chain of 5 dependants, also late
    for before, after in itertools.pairwise(chain):
        deps[after] = [before]
    for name in chain:
        durations[name] = round(rng.uniform(0.5, 0.9), 2)
    return durations, deps


def lower_bound(durations: dict[str, float], deps: dict[str, list[str]], bound: int) -> float:
    longest: dict[str, float] = {}

    def path(name: str) -> float:
        if name not in longest:
            longest[name] = durations[name] + max((path(d) for d in deps[name]), default=0.0)
        return longest[name]

    return max(sum(durations.values()) / bound, *(path(n) for n in durations))


def makespan(work: Path, reps: int) -> dict[str, Any]:
    durations, deps = makespan_workload()
    root = work / "makespan"
    root.mkdir()
    lines = [
        '[run]\nproject_parallelism = true\nmax_parallel_projects = 5\n[log]\nlevel = "warning"\n'
    ]
    for name, seconds in durations.items():
        (root / name).mkdir()
        lines.append(f'[tasks.{name}]\ncommand = ["sleep", "{seconds}"]\n')
    for name in durations:
        lines.append(
            f'[[projects]]\nname = "{name}"\npath = "{name}"\ntasks = ["{name}"]\n'
            f"depends_on = {json.dumps(deps[name])}\n"
        )
    (root / "config.toml").write_text("".join(lines))

    speedups: dict[str, list[float]] = {}

    def sweep(history: bool, file_order: bool = False, label: str = "") -> float:
        state = root / "state"
        if not history:
            shutil.rmtree(state, ignore_errors=True)
        env = _env(state)
        # File order: agentd with its start order replaced in-process (bench/file_order.py).
        agentd = [sys.executable, str(ROOT / "bench" / "file_order.py")] if file_order else [AGENTD]
        proc = subprocess.run(
            [*agentd, "run", "--once", "--force", "--json", "--config", str(root / "config.toml")],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise BenchmarkFailed(f"makespan sweep exited {proc.returncode}\n{proc.stderr}")
        report = json.loads(proc.stdout)
        _check_sweep(report, len(durations), "makespan sweep")
        speedups.setdefault(label, []).append(report["speedup"])
        projects = report["projects"]
        first = min(datetime.fromisoformat(p["started_at"]) for p in projects)
        last = max(datetime.fromisoformat(p["finished_at"]) for p in projects)
        return (last - first).total_seconds()

    file_order = repeat(reps, lambda: sweep(history=True, file_order=True, label="file"))
    unknown = repeat(reps, lambda: sweep(history=False, label="first"))  # nothing known yet
    sweep(history=False)
    known = repeat(reps, lambda: sweep(history=True, label="known"))  # durations known
    return {
        "bound": lower_bound(durations, deps, 5),
        "work": sum(durations.values()),
        "rows": [
            ("file order", file_order, Sample(speedups["file"])),
            ("agentd's, first sweep (no durations known yet)", unknown, Sample(speedups["first"])),
            ("agentd's, durations known from the previous sweep", known, Sample(speedups["known"])),
        ],
    }


# -- 4: start-up ----------------------------------------------------------------------------


def startup(work: Path, reps: int) -> dict[str, Sample]:
    root = work / "startup"
    root.mkdir()
    (root / "p").mkdir()
    (root / "config.toml").write_text(
        '[tasks.t]\ncommand = ["true"]\n[[projects]]\nname = "p"\npath = "p"\ntasks = ["t"]\n'
    )
    env = _env(root / "state")
    env["AGENTD_CONFIG"] = str(root / "config.toml")

    commands = {
        "python3 -c pass": [sys.executable, "-c", "pass"],
        "agentd --help": [AGENTD, "--help"],
        "agentd status": [AGENTD, "status"],
        "agentd config check": [AGENTD, "config", "check"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():  # warm the caches first, for every command alike
        _timed(argv, env, root)
    for _ in range(reps):  # interleaved, so that noise falls on all of them alike
        for name, argv in commands.items():
            times[name].append(_timed(argv, env, root)[0])
    return {name: Sample(values) for name, values in times.items()}


# -- 5: the idle daemon ---------------------------------------------------------------------


def idle_daemon(work: Path, seconds: float, count: int) -> dict[str, Any]:
    """``count`` daemons idle side by side over the same window: an idle daemon uses no
    CPU, so they do not disturb each other, and the runs cost one window, not ``count``."""
    root = work / "idle"
    root.mkdir()
    (root / "p").mkdir()
    config = root / "config.toml"
    config.write_text(
        '[schedule]\ncron = "0 0 1 1 *"\n[tasks.t]\ncommand = ["true"]\n'
        '[[projects]]\nname = "p"\npath = "p"\ntasks = ["t"]\n'
    )
    procs = [
        subprocess.Popen(
            [AGENTD, "run", "--config", str(config)],
            env=_env(root / f"state-{i}"),
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]
    time.sleep(3)  # start-up is not idling
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss(pid: int) -> float:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

    before, started = [cpu(p.pid) for p in procs], time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    if any(p.poll() is not None for p in procs):
        raise BenchmarkFailed("an idle daemon exited while it was measured")
    used = [cpu(p.pid) - b for p, b in zip(procs, before, strict=True)]
    out = {
        "cpu_s_per_hour": Sample([u / elapsed * 3600 for u in used]),
        "rss_mib": Sample([rss(p.pid) for p in procs]),
        "threads": Sample([float(len(os.listdir(f"/proc/{p.pid}/task"))) for p in procs]),
    }
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        if p.wait() != 0:
            raise BenchmarkFailed(f"an idle daemon exited {p.returncode} on SIGTERM")
    return {
        **out,
        "resolution_s_per_hour": 1 / ticks / elapsed * 3600,  # one clock tick in the window
        "seconds": elapsed,
        "count": count,
    }


# -- 6: peak memory of a flood ----------------------------------------------------------------


def flood(work: Path, size: int, reps: int) -> dict[str, Sample]:
    root = work / "flood"
    root.mkdir()
    (root / "p").mkdir()
    body = '[[projects]]\nname = "p"\npath = "p"\ntasks = ["t"]\n'
    quiet = root / "quiet.toml"
    quiet.write_text(f'[tasks.t]\nshell = "echo quiet"\n{body}')
    loud = root / "loud.toml"
    loud.write_text(f"[tasks.t]\nshell = \"head -c {size} /dev/zero | tr '\\\\0' x\"\n{body}")
    peaks: dict[str, list[float]] = {"quiet": [], "flood": []}
    for _ in range(reps):  # interleaved, so that drifting load hits both alike
        for name, config in (("quiet", quiet), ("flood", loud)):
            state = root / f"state-{name}"
            shutil.rmtree(state, ignore_errors=True)
            _, peak = _timed([AGENTD, "run", "--once", "--config", str(config)], _env(state), root)
            _check_last_sweep(state, 1, f"flood, {name} task")
            peaks[name].append(peak / 1024)
    return {name: Sample(values) for name, values in peaks.items()}


# -- the report -----------------------------------------------------------------------------


# -- 7: agent bookkeeping -----------------------------------------------------------------

CLAUDE_RESULT = {
    "type": "result",
    "subtype": "success",
    "is_error": False,
    "result": "done",
    "total_cost_usd": 0.0312,
    "usage": {"input_tokens": 18, "cache_read_input_tokens": 1812, "output_tokens": 412},
}


def agents(work: Path, count: int, reps: int, ledger_days: int, per_day: int) -> dict[str, Any]:
    """The same program run as a plain command and as an agent task (usage read from its
    output, spend recorded, budget checked before it starts), with and without a week of
    spend already in the ledger."""
    root = work / "agents"
    root.mkdir()
    result = root / "result.json"
    result.write_text(json.dumps(CLAUDE_RESULT) + "\n")
    fake = root / "fake-agent"
    fake.write_text(f"#!/bin/sh\nexec cat {result}\n")
    fake.chmod(0o755)
    head = (
        '[run]\nproject_parallelism = true\nmax_parallel_projects = 4\n[log]\nlevel = "warning"\n'
        "[budget]\nnightly_usd = 1000000\nweekly_tokens = 1000000000000\n"
        f'[agents.fake]\ncommand = ["{fake}", "{{prompt}}"]\nusage = "claude"\n'
        f'[tasks.plain]\ncommand = ["{fake}", "x"]\n'
        '[tasks.agent]\nagent = "fake"\nprompt = "x"\n'
    )
    projects = _projects(root, count, ["TASK"])
    for kind in ("plain", "agent"):
        (root / f"{kind}.toml").write_text(head + projects.replace('"TASK"', f'"{kind}"'))
    today = time.strftime("%Y-%m-%d", time.gmtime())

    def seed(state: Path) -> None:
        day0 = date.fromisoformat(today)
        spend = {
            (day0 - timedelta(days=d)).isoformat(): {
                f"old-{d}-{i}": {
                    "project": f"p{i % 50:04d}",
                    "task": "agent",
                    "agent": "fake",
                    "run_id": f"old-{d}",
                    "finished_at": None,
                    "known": True,
                    "cost_usd": 0.01,
                    "tokens": 1000,
                }
                for i in range(per_day)
            }
            for d in range(1, ledger_days + 1)
        }
        doc = {"version": 2, "projects": {}, "claims": {}, "runs": [], "fires": {}}
        state.mkdir(mode=0o700)
        (state / "state.json").write_text(json.dumps({**doc, "spend": spend}))
        (state / "state.json").chmod(0o600)

    def sweep(kind: str, ledger: bool) -> float:
        state = root / "state"
        shutil.rmtree(state, ignore_errors=True)
        if ledger:
            seed(state)
        env = {**_env(state), "TZ": "UTC"}
        took, _ = _timed(
            [AGENTD, "run", "--once", "--config", str(root / f"{kind}.toml")], env, root
        )
        _check_last_sweep(state, count, f"agents, {kind} sweep")
        return took

    out: dict[str, Any] = {"count": count, "ledger": ledger_days * per_day}
    samples: dict[str, list[float]] = {k: [] for k in ("plain", "agent", "agent_ledger")}
    for _ in range(reps):  # interleaved, so that drifting load hits all three alike
        samples["plain"].append(sweep("plain", False))
        samples["agent"].append(sweep("agent", False))
        samples["agent_ledger"].append(sweep("agent", True))
    out.update({k: Sample(v) for k, v in samples.items()})
    return out


# -- 8: planning and dispatch at scale ------------------------------------------------------

SCALE_HEAD = (
    '[run]\nproject_parallelism = true\nmax_parallel_projects = 4\n[tasks.t]\ncommand = ["true"]\n'
)


def _scale_config(root: Path, count: int, chained: bool) -> Path:
    """``count`` projects of one task; chained: each depends on the one before it."""
    lines = [SCALE_HEAD]
    for i in range(count):
        after = f'depends_on = ["p{i - 1:05d}"]\n' if chained and i else ""
        lines.append(f'[[projects]]\nname = "p{i:05d}"\npath = "p{i:05d}"\ntasks = ["t"]\n{after}')
    path = root / f"{'chain' if chained else 'flat'}-{count}.toml"
    path.write_text("".join(lines))
    return path


def planning(work: Path, sizes: Sequence[int], reps: int) -> dict[str, Any]:
    """``run --once --dry-run`` against ``config check`` on the same file, at each size."""
    root = work / "planning"
    root.mkdir()
    for i in range(max(sizes)):
        (root / f"p{i:05d}").mkdir()
    env = _env(root / "state")  # a dry run writes nothing, not even the state directory
    commands: dict[tuple[str, int], dict[str, list[str]]] = {}
    for shape, n in [(shape, n) for shape in ("chain", "flat") for n in (0, *sizes)]:
        config = _scale_config(root, n, shape == "chain")
        dry = [AGENTD, "run", "--once", "--dry-run", "--config", str(config)]
        commands[(shape, n)] = {
            "dry": dry,
            "check": [AGENTD, "config", "check", "--config", str(config)],
        }
        # Once untimed, to warm the caches and to see that the plan is the one meant.
        plan = subprocess.run([*dry, "--json"], env=env, cwd=root, capture_output=True, check=False)
        started = [p["name"] for p in json.loads(plan.stdout or b"{}").get("to_run", [])]
        if plan.returncode != 0 or len(started) != n:
            raise BenchmarkFailed(f"dry run of {config.name}: exit {plan.returncode}, {started=}")
        if shape == "chain" and started != [f"p{i:05d}" for i in range(n)]:
            raise BenchmarkFailed(f"dry run of {config.name}: not in chain order")
        _measured(commands[(shape, n)]["check"], env, root)
    wall: dict[tuple[str, int, str], list[float]] = {}
    cpu: dict[tuple[str, int, str], list[float]] = {}
    for _ in range(reps):  # every size in every round, so that drifting load hits all alike
        for (shape, n), argvs in commands.items():
            for kind, argv in argvs.items():
                took, used, _ = _measured(argv, env, root)
                wall.setdefault((shape, n, kind), []).append(took)
                cpu.setdefault((shape, n, kind), []).append(used)
    return {
        "sizes": list(sizes),
        "wall": {k: Sample(v) for k, v in wall.items()},
        "cpu": {k: Sample(v) for k, v in cpu.items()},
        "configs": {key: Path(argvs["dry"][-1]) for key, argvs in commands.items()},
    }


def dispatch(
    configs: dict[tuple[str, int], Path], sizes: Sequence[int], reps: int
) -> dict[str, Any]:
    """In process, the file already loaded: the dry run's planning (select, order, simulate,
    the plan and its text), and ``executor.fan_out`` with a run_project that does nothing,
    against the bare thread-and-queue hand-off it is built on."""
    import gc
    import queue
    import threading

    from agentd.config import load_config
    from agentd.daemon.model.results import ProjectResult
    from agentd.daemon.output.plan import render_plan
    from agentd.daemon.sweep.dryrun import dry_run
    from agentd.daemon.sweep.executor import fan_out
    from agentd.daemon.sweep.ordering import order
    from agentd.daemon.sweep.selection import Planned, select
    from agentd.daemon.tasks.stop import StopToken
    from agentd.state import Snapshot

    empty, day = Snapshot({}), "2026-01-01"

    def plan_once(config: Any, collect: bool = True) -> tuple[float, float]:
        if not collect:
            gc.collect()
            gc.disable()
        try:
            clocks = time.perf_counter(), time.process_time()
            selection = order(select(config, empty, day), empty)
            text = render_plan(dry_run(config, selection, Path(), day, empty), "UTC")
            took = time.perf_counter() - clocks[0], time.process_time() - clocks[1]
        finally:
            gc.enable()
        n = len(config.projects)
        if len(selection.chosen) != n or text.count("\n") < n:
            raise BenchmarkFailed(f"planning {config.path.name}: {len(selection.chosen)} of {n}")
        return took

    def execute_once(projects: list[Planned], chained: bool) -> tuple[float, float]:
        calls = []

        def run_project(project: Planned) -> ProjectResult:
            calls.append(project.name)  # list.append is atomic under the GIL
            return ProjectResult(project.name, "ok")

        stop = StopToken()
        clocks = time.perf_counter(), time.process_time()
        results = fan_out(projects, 4, run_project, stop)
        took = time.perf_counter() - clocks[0], time.process_time() - clocks[1]
        stop.close()
        ok = sum(r.status == "ok" for r in results.values())
        if ok != len(projects) or len(calls) != len(projects):
            raise BenchmarkFailed(f"execute: {ok} ok, {len(calls)} run, of {len(projects)}")
        if chained and calls != [p.name for p in projects]:
            raise BenchmarkFailed("execute: a chain run out of its order")
        return took

    def bare_once(n: int, bound: int) -> tuple[float, float]:
        done: queue.SimpleQueue[int] = queue.SimpleQueue()
        clocks = time.perf_counter(), time.process_time()
        running = given = finished = 0
        while finished < n:
            while running < bound and given < n:
                threading.Thread(target=done.put, args=(given,), daemon=True).start()
                given += 1
                running += 1
            done.get()
            running -= 1
            finished += 1
        return time.perf_counter() - clocks[0], time.process_time() - clocks[1]

    wall: dict[tuple[str, int, str], list[float]] = {}
    cpu: dict[tuple[str, int, str], list[float]] = {}
    cases = []
    for shape, n in [(shape, n) for shape in ("chain", "flat") for n in sizes]:
        config = load_config(configs[(shape, n)], {})
        cases.append((shape, n, config, order(select(config, empty, day), empty).chosen))
    for _ in range(reps):  # every case in every round, so that drifting load hits all alike
        for shape, n, config, projects in cases:
            bound = 1 if shape == "chain" else 4  # a chain lets one project run at a time
            for kind, (took, used) in (
                ("plan", plan_once(config)),
                ("plan_nogc", plan_once(config, collect=False)),
                ("execute", execute_once(projects, shape == "chain")),
                ("bare", bare_once(n, bound)),
            ):
                wall.setdefault((shape, n, kind), []).append(took)
                cpu.setdefault((shape, n, kind), []).append(used)
    return {
        "sizes": list(sizes),
        "wall": {k: Sample(v) for k, v in wall.items()},
        "cpu": {k: Sample(v) for k, v in cpu.items()},
    }


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    python = platform.python_version()
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, Python {python}"


def render(results: dict[str, Any], command: str) -> str:
    parts = [
        _header(command),
        _fanout(results["fanout"]),
        _makespan(results["makespan"]),
        _startup(results["startup"]),
        _idle(results["idle"]),
        _flood(results["flood"], results["flood_size"], results["flood_reps"]),
        _agents(results["agents"]),
        _scale(results["planning"], results["dispatch"]),
    ]
    return "\n".join(parts)


def _header(command: str) -> str:
    return f"""# Benchmarks

Machine: {machine()}.
Reproduce with `{command}`{"" if "quick" in command else " (about ten minutes)"}; `--quick`
runs smaller sizes and fewer repetitions in about three minutes.
Each figure is the median of several runs, with the minimum and maximum in parentheses.
The machine is shared, so what counts are the ratios and per-item costs against a
baseline measured in the same run.
"""


def _beyond(runs: Sample, fixed: Sample, count: int) -> Sample:
    """What each of ``count`` items adds to a run, beyond the fixed cost measured just
    before that run."""
    return Sample([(v - f) / count for v, f in zip(runs.values, fixed.values, strict=True)])


def _fanout(fan: dict[str, Any]) -> str:
    others = ", and GNU `parallel -j 4`" if fan["has_parallel"] else ""
    rows = []
    per_task: dict[int, float] = {}
    for n, entry in fan["sizes"].items():
        tasks = 3 * n
        mine = _beyond(entry["agentd"], entry["agentd_fixed"], tasks)
        base = _beyond(entry["xargs"], entry["xargs_fixed"], tasks)
        per_task[n] = mine.median
        gap = (mine.median - base.median) * 1000
        rows.append(
            f"| {n} | {tasks} | {entry['agentd'].show()} | {entry['xargs'].show()} "
            f"| {mine.show(1000)} | {base.show(1000)} | {gap:.2f} |"
        )
        if "parallel" in entry:
            other = Sample([v / tasks for v in entry["parallel"].values])
            rows.append(f"| | (parallel) | | {entry['parallel'].show()} | | {other.show(1000)} | |")
    small, large = min(per_task), max(per_task)
    rss = statistics.median(fan["rss"][f"n{large}"]) / 1024
    rss_empty = statistics.median(fan["rss"]["empty"]) / 1024
    return f"""
## 1. Fan-out overhead against the process-spawn limit

N projects of 3 tasks each (`true`), at most 4 projects at once. Baseline: `xargs -P 4`
running each project's chain (`sh -c 'cd p && true && true && true'`){others}: the cost
of spawning the same processes with nothing else to do
{"" if fan["has_parallel"] else "(GNU `parallel` is not installed on this machine)"}.
Each side's fixed cost is measured with no projects right before each of its runs
(agentd: start-up, loading the configuration, writing the report: {fan["empty"].show()} s;
xargs: {fan["xargs_empty"].show(1000)} ms), and the cost per task is what each task adds
beyond it, run by run: `(wall - fixed) / tasks`.

Every task outcome is written durably: per project, a claim, one record per task and a
release, each one append and one fdatasync to the state journal, so 5 flushes for 3 tasks
(1.67 per task). On this file system one flush takes {fan["fsync"].show(1000, 3)} ms; on a
disk with slower flushes, add 1.67 times its flush latency to agentd's cost per task.

| N | tasks | agentd wall (s) | xargs wall (s) | agentd per task (ms) | xargs per task (ms) \
| difference (ms) |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

## 2. Growth

agentd's cost per task at {large} projects is {per_task[large] / per_task[small]:.2f}x its
cost at {small} projects (target: within 1.5x). Peak RSS of the {large}-project sweep:
{rss:.1f} MiB (with no projects: {rss_empty:.1f} MiB).
"""


TABLE_HEAD = (
    "| N | tasks | agentd wall (s) | xargs wall (s) | agentd per task (ms) "
    "| xargs per task (ms) | difference (ms) |\n|---|---|---|---|---|---|---|"
)


def _makespan(mk: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {name} | {sample.show()} | {sample.median / mk['bound']:.2f} | {speedup.show()} |"
        for name, sample, speedup in mk["rows"]
    )
    return f"""
## 3. Makespan

30 projects of one `sleep` task each (seeded durations, {mk["work"]:.1f} s of work in all;
five long ones and a chain of five dependants come last in the file), at most 5 at once.
Lower bound: max(total work / 5, longest dependency chain) = {mk["bound"]:.2f} s. File
order is measured with agentd's start order replaced in-process (`bench/file_order.py`).

The last column is the report's `speedup` (task time over wall time; at most 5 here).

| start order | makespan (s) | makespan / lower bound | speedup |
|---|---|---|---|
{rows}
"""


def _startup(st: dict[str, Sample]) -> str:
    base = st["python3 -c pass"].median
    rows = "\n".join(
        f"| `{name}` | {sample.show(1000, 1)} | {sample.median / base:.1f} |"
        for name, sample in st.items()
    )
    return f"""
## 4. Start-up

| command | wall (ms) | ratio to `python3 -c pass` |
|---|---|---|
{rows}
"""


def _idle(idle: dict[str, Any]) -> str:
    cpu = idle["cpu_s_per_hour"]
    resolution = idle["resolution_s_per_hour"]
    used = (
        f"{cpu.show()} CPU seconds per hour"
        if max(cpu.values)
        else f"no CPU time at all (not one clock tick: below {resolution:.2f} CPU seconds per hour)"
    )
    return f"""
## 5. The idle daemon

`agentd run` waiting for its next fire, measured for {idle["seconds"]:.0f} s after start-up,
{idle["count"]} daemons side by side in the same window (one run each; idle, they do not
disturb each other): {used}; {idle["rss_mib"].show(digits=1)} MiB resident;
{idle["threads"].median:.0f} threads (the main thread waiting for signals, APScheduler's
waiting for the next fire time: no polling loop).
Targets: below 1 CPU second per hour, and below 80 MiB.
"""


def _flood(fl: dict[str, Sample], size: int, reps: int) -> str:
    return f"""
## 6. Peak memory

A task printing {size / 1e6:.0f} MB on one line: agentd's peak RSS
{fl["flood"].show(digits=1)} MiB, against {fl["quiet"].show(digits=1)} MiB for a task
printing one word ({reps} sweeps of each, interleaved). The peak of the largest sweep is
in section 2.
"""


def _agents(ag: dict[str, Any]) -> str:
    n = ag["count"]
    plain, agent, ledger = ag["plain"].median, ag["agent"].median, ag["agent_ledger"].median
    per = (agent - plain) / n * 1000
    per_ledger = (ledger - plain) / n * 1000
    return f"""
## 7. Agent bookkeeping

{n} projects of one task each, at most 4 at once. The task runs the same program (a
script printing a Claude Code JSON result) as a plain `command`, and as an agent task:
its usage read from the log, its spend written to the ledger in the same journal line as
its outcome, and the budget (overall nightly and weekly limits) checked before it starts.
The difference is what agent bookkeeping costs per task.

| sweep | wall (s) | per task above the plain sweep (ms) |
|---|---|---|
| plain command | {ag["plain"].show()} | |
| agent task, empty ledger | {ag["agent"].show()} | {per:.2f} |
| agent task, {ag["ledger"]:,} earlier runs in the ledger | {ag["agent_ledger"].show()} \
| {per_ledger:.2f} |
"""


SHAPES = (("chain", "one chain"), ("flat", "independent"))


def _scale(pl: dict[str, Any], dp: dict[str, Any]) -> str:
    cpu, wall = pl["cpu"], pl["wall"]
    rows = []
    for shape, label in SHAPES:
        fixed = cpu[(shape, 0, "dry")].median
        for n in pl["sizes"]:
            dry, check = cpu[(shape, n, "dry")], cpu[(shape, n, "check")]
            per = Sample([(v - fixed) / n for v in dry.values])
            rows.append(
                f"| {n:,} | {label} | {wall[(shape, n, 'dry')].show()} | {dry.show()} "
                f"| {check.show()} | {per.show(1000, 3)} | {dry.median / check.median:.2f} |"
            )
    small, large = min(dp["sizes"]), max(dp["sizes"])
    inner = []
    for shape, label in SHAPES:
        for n in dp["sizes"]:
            per = {
                k: Sample([v / n for v in dp["cpu"][(shape, n, k)].values])
                for k in ("plan", "plan_nogc", "execute", "bare")
            }
            inner.append(
                f"| {n:,} | {label} | {per['plan'].show(1e6, 1)} | {per['plan_nogc'].show(1e6, 1)} "
                f"| {per['execute'].show(1e6, 1)} | {per['bare'].show(1e6, 1)} "
                f"| {per['execute'].median / per['bare'].median:.2f} |"
            )

    def grew(shape: str, kind: str) -> str:
        at = {n: dp["cpu"][(shape, n, kind)].median for n in (small, large)}
        return f"{at[large] / at[small]:.1f}x"

    times = large // small
    return f"""
## 8. Planning and dispatch at scale

`agentd run --once --dry-run` on N projects of one task each (`true`), either all in one
dependency chain (each after the one before it) or independent. The dry run reads the
file, selects, orders (critical path), simulates the sweep and prints the plan. Baseline:
`agentd config check` on the same file, which reads and validates it but plans nothing.
Both in CPU seconds (user and system, from `wait4`), which the other load on this shared
machine moves much less than wall time; the dry run's wall time is shown for context. The
fixed cost (start-up, an empty configuration: {cpu[("chain", 0, "dry")].show()} CPU s) is
measured too, and the cost per project is what each project adds beyond it. Were
planning quadratic, the last column would grow with N; reading the file dominates both.

| N | projects | dry run wall (s) | dry run CPU (s) | config check CPU (s) \
| dry run CPU per project (ms) | dry run / config check |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

In process, the file already loaded, without start-up: the dry run's planning (selection,
order, simulation, the plan and its text), also with Python's cyclic garbage collector
paused, and dispatch: `executor.fan_out` with a `run_project` that returns an ok result
at once. Baseline for the dispatch: the bare mechanism it is built on, one thread started
per project and its result handed back through a queue, as many at once as the executor
runs (4 independent projects; 1 in a chain, which allows no more). CPU time of the whole
process (all its threads).

| N | projects | planning per project (µs) | collector paused (µs) \
| execute per project (µs) | bare threads per project (µs) | execute / bare |
|---|---|---|---|---|---|---|
{chr(10).join(inner)}

Growth from {small:,} to {large:,} projects ({times}x the projects): planning takes
{grew("chain", "plan")} the CPU time in one chain and {grew("flat", "plan")} independent
({grew("chain", "plan_nogc")} and {grew("flat", "plan_nogc")} with the collector paused);
execute {grew("chain", "execute")} and {grew("flat", "execute")}, against
{grew("chain", "bare")} and {grew("flat", "bare")} for the bare threads. Linear is
{times}x, n log n a little more (about {times}-{times * 13 // 10}x); what is left above
that is the cost of a larger working set (slower memory, and with the collector on,
collections over more live objects), not a pass over the projects per event: planning or
dispatch that rescans the pending projects on every event would take {times**2}x.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and runs")
    parser.add_argument("--out", type=Path, help="write the Markdown here (default: stdout)")
    args = parser.parse_args(argv)
    sizes = [10, 100] if args.quick else [10, 100, 1000]
    reps = {10: 5, 100: 5, 1000: 3} if not args.quick else {10: 3, 100: 3}
    with tempfile.TemporaryDirectory(prefix="agentd-bench-") as tmp:
        work = Path(tmp)
        results: dict[str, Any] = {}
        print("fan-out...", file=sys.stderr)
        results["fanout"] = fanout(work, sizes, reps)
        print("makespan...", file=sys.stderr)
        results["makespan"] = makespan(work, 1 if args.quick else 3)
        print("start-up...", file=sys.stderr)
        results["startup"] = startup(work, 5 if args.quick else 20)
        print("idle daemon...", file=sys.stderr)
        results["idle"] = idle_daemon(work, 10 if args.quick else 60, 3)
        print("flood...", file=sys.stderr)
        results["flood_size"] = 100_000_000 if args.quick else 300_000_000
        results["flood_reps"] = 2 if args.quick else 3
        results["flood"] = flood(work, results["flood_size"], results["flood_reps"])
        print("agents...", file=sys.stderr)
        results["agents"] = (
            agents(work, 100, 3, 7, 200) if args.quick else agents(work, 300, 5, 7, 1000)
        )
        print("planning and dispatch...", file=sys.stderr)
        scale = [1000, 3000, 10000]  # smaller sizes drown in the fixed cost, even for --quick
        results["planning"] = planning(work, scale, 2 if args.quick else 5)
        results["dispatch"] = dispatch(
            results["planning"]["configs"], [scale[0], scale[-1]], 3 if args.quick else 7
        )
    command = "make bench" if not args.quick else "python bench/run.py --quick"
    text = render(results, command)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
