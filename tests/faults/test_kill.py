"""SIGKILL of agentd at many points: nothing lost, nothing run twice, no orphan left behind."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from agentd.state.base import STATE_VERSION
from tests.builders import proj, recording, sh, write_config
from tests.helpers import AGENTD, DEADLINE, ROOT, Workspace, process_gone, wait_for

PROJECTS = ["p1", "p2", "p3", "p4"]
TASKS = ["t1", "t2", "t3"]
TASK_SECONDS = 1.0  # a task starts well before, and ends well after, a kill aimed at it
# Kill points, each an event of the sweep rather than a delay: "start-K" right after the
# K-th task started (it runs at the kill), "end-K" right after the K-th task ended. The
# sweep runs 12 tasks, two projects at a time, three tasks each: starts and ends come in
# pairs. Two points need agentd held still, which the test does by holding the state's
# lock (agentd takes it for every claim and every outcome): "before-any-task" holds it
# from the start, so agentd cannot claim a project, let alone start a task, and is killed
# once its run directory exists; "after-last-end" takes it at the 12th start, so agentd
# cannot record the last outcomes and is certainly still running when the 12th task ends.
POINTS = [
    "before-any-task",
    "start-1",
    "start-2",
    "end-1",
    "start-4",
    "end-3",
    "start-6",
    "end-6",
    "start-8",
    "end-8",
    "start-10",
    "start-12",
    "after-last-end",
]


def _config(ws: Workspace) -> None:
    write_config(
        ws,
        {t: recording(f"{{project}}-{t}", TASK_SECONDS) for t in TASKS},
        [proj(p, *TASKS) for p in PROJECTS],
        run={"project_parallelism": True, "max_parallel_projects": 2, "kill_grace": "1s"},
    )


def _succeeded(ws: Workspace) -> set[str]:
    doc = ws.state_doc()
    return {
        f"{project}-{task}"
        for project, entry in doc.get("projects", {}).items()
        for task, record in entry.get("tasks", {}).items()
        if record.get("status") == "ok"
    }


def _records_now(ws: Workspace) -> list[dict]:
    """The records written so far: complete lines only (one may be being written)."""
    try:
        data = ws.records.read_bytes()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def _count(records: list[dict], event: str) -> int:
    return sum(r["event"] == event for r in records)


def _wait_events(
    ws: Workspace, proc: subprocess.Popen, event: str, count: int, log: Path
) -> list[dict]:
    """Poll the records (often: the kill must follow the event closely) until ``count``
    ``event`` records are there; agentd must not end meanwhile."""
    deadline = time.monotonic() + DEADLINE
    while _count(records := _records_now(ws), event) < count:
        assert proc.poll() is None, f"agentd ended before {event} {count}: {log.read_text()}"
        assert time.monotonic() < deadline, f"no {event} {count} after {DEADLINE}s"
        time.sleep(0.002)
    return records


def _lock(ws: Workspace) -> int:
    """Take the state's lock as agentd does (flock on state.json.lock); returns its fd."""
    fd = os.open(ws.state / "state.json.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_any_point_then_the_next_sweep_runs_exactly_what_is_left(
    ws: Workspace, reap: list, point: str
) -> None:
    _config(ws)
    lock: int | None = None
    if point == "before-any-task":
        ws.state.mkdir(mode=0o700)
        lock = _lock(ws)
    log = ws.root / "agentd.log"
    with log.open("w") as stderr:
        first = subprocess.Popen(
            [AGENTD, "run", "--once", "--config", str(ws.config)],
            cwd=ws.root,
            env=ws.env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    reap.append(first)
    t_lock = None
    if point == "before-any-task":
        wait_for(lambda: list(ws.state.glob("runs/*/")), what="the run directory")
        assert _records_now(ws) == []
    elif point == "after-last-end":
        _wait_events(ws, first, "start", 12, log)
        lock = _lock(ws)
        t_lock = time.time()
        _wait_events(ws, first, "end", 12, log)
    else:
        event, k = point.split("-")
        _wait_events(ws, first, event, int(k), log)
    assert first.poll() is None, log.read_text()  # the kill lands on a running agentd
    t_kill = time.time()
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    if lock is not None:
        os.close(lock)  # releases it

    if (ws.state / "state.json").exists():
        json.loads((ws.state / "state.json").read_text())  # never torn
    done_before = _succeeded(ws)
    killed_run = {r["run_id"] for r in ws.read_records()}
    orphan_pids = {r["pid"] for r in ws.read_records() if r["event"] == "start"}

    code, report = ws.once_json()
    assert code == 0, report["failures"]
    everything = {f"{p}-{t}" for p in PROJECTS for t in TASKS}
    second_run = [r for r in ws.read_records() if r["run_id"] == report["run_id"]]
    ran_now = {r["label"] for r in second_run if r["event"] == "start"}
    assert ran_now == everything - done_before
    assert _succeeded(ws) == everything
    assert ws.state_doc()["claims"] == {}
    # A task recorded as succeeded never ran again; one in flight at the kill ran again,
    # since its outcome died with agentd. Nothing started more than twice.
    starts = Counter(r["label"] for r in ws.read_records() if r["event"] == "start")
    for label in done_before:
        assert starts[label] == 1, label
    assert set(starts) == everything
    assert max(starts.values()) <= 2
    assert len(killed_run) <= 1
    for pid in orphan_pids:
        assert process_gone(pid)

    # The kill landed where it was meant to, as the tasks' own records tell.
    first_run = [r for r in ws.read_records() if r["run_id"] != report["run_id"]]
    started = sorted((r for r in first_run if r["event"] == "start"), key=lambda r: r["t"])
    ended = {r["label"]: r["t"] for r in first_run if r["event"] == "end"}
    running = {r["label"] for r in started if ended.get(r["label"], t_kill) >= t_kill}
    # In flight at the kill: its outcome died with agentd, so it ran again.
    assert running <= ran_now, f"running at the kill, not run again: {running - ran_now}"
    if point == "before-any-task":
        assert first_run == []  # no task started
        assert done_before == set()
    elif point == "after-last-end":
        assert len(started) == 12
        assert all(t < t_kill for t in ended.values())
        assert t_lock is not None
        late = {label for label, t in ended.items() if t > t_lock}
        assert late
        assert not late & done_before  # ended under our lock: never recorded
    elif point.startswith("start-"):
        k = int(point.split("-")[1])
        assert started[k - 1]["t"] < t_kill
        assert started[k - 1]["label"] in running, "the task was meant to run at the kill"
    else:
        k = int(point.split("-")[1])
        assert sum(t < t_kill for t in ended.values()) >= k
    print(
        f"\n{point}: {len(started)} tasks started, {len(running)} running at the kill, "
        f"{len(done_before)} recorded as done"
    )


def test_an_orphaned_task_is_stopped_before_its_project_runs_again(
    ws: Workspace, reap: list
) -> None:
    ws.project_dirs("p")
    pidfile = ws.root / "stubborn.pid"
    write_config(
        ws,
        {
            "stubborn": sh(
                f"test -e {ws.root}/second && exec record again 0 || exec stubborn {pidfile}"
            )
        },
        [proj("p", "stubborn")],
        run={"kill_grace": "1s"},
    )
    first = ws.spawn("run", "--once", "--config", str(ws.config))
    reap.append(first)
    wait_for(lambda: Path(f"{pidfile}.grandchild").exists(), what="the task to start")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    leader, grandchild = int(pidfile.read_text()), int(Path(f"{pidfile}.grandchild").read_text())
    # What an operator sees after a SIGKILL: the task runs on, reparented away from agentd.
    assert not process_gone(leader)
    assert not process_gone(grandchild)

    (ws.root / "second").touch()
    proc = ws.once("--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert process_gone(leader)
    assert process_gone(grandchild)
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert (
        names.index("claim.taken_over")
        < names.index("orphan.stopping")
        < names.index("task.finish")
    )
    stopped = next(e for e in events if e["event"] == "orphan.stopping")
    assert {leader, grandchild} <= set(stopped["pids"])
    assert report["projects"][0]["tasks"][0]["status"] == "ok"


# A writer over a state of over a MB: each round records one outcome (a journal append,
# acknowledged on stdout once record() has returned) and then checkpoints, so every round
# also rewrites the whole of state.json (a temporary file, fsync, rename). The outcome's
# duration_s is a sequence number: what a later load holds shows which writes survived.
WRITER = textwrap.dedent(
    """
    import os, sys
    from datetime import datetime, UTC
    from pathlib import Path
    from agentd.state import JsonFileStore, TaskRecord
    from agentd.state.claims import me
    store = JsonFileStore(Path(sys.argv[1]))
    now = datetime.now(UTC)
    run = f"writer-{os.getpid()}"
    seq = int(store.read().doc["projects"].get("w", {}).get("tasks", {}).get("t", {}).get(
        "duration_s") or 0)
    store.claim("w", me(run, now), "2026-11-22", ["t"], True, now)  # the dead one's is stale
    while True:
        seq += 1
        store.record("w", "t", TaskRecord("ok", "2026-11-22", run, None, None, float(seq), 0))
        os.write(1, b"record %d\\n" % seq)
        store.checkpoint()
        os.write(1, b"checkpoint %d\\n" % seq)
    """
)
SEEDED_PROJECTS = 4_000  # about 1 MB of state.json: a rewrite takes milliseconds


def _seed_large_state(directory: Path) -> None:
    record = {
        "status": "ok",
        "date": "2026-11-22",
        "run_id": "20261122T023000Z-0000",
        "started_at": "2026-11-22T02:30:00.000+00:00",
        "finished_at": "2026-11-22T02:30:01.000+00:00",
        "duration_s": 1.0,
        "exit_code": 0,
        "agent": None,
        "usage": None,
    }
    projects = {f"seed-{i:05d}": {"tasks": {"t": record}} for i in range(SEEDED_PROJECTS)}
    doc = {"version": STATE_VERSION, "projects": projects, "claims": {}, "runs": [], "fires": {}}
    (directory / "state.json").write_text(json.dumps(doc, indent=1))
    assert (directory / "state.json").stat().st_size > 1_000_000


class _Writer:
    """A WRITER process, its acknowledgements read without blocking."""

    def __init__(self, directory: Path, loaded: float) -> None:
        env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(directory)], env=env, stdout=subprocess.PIPE
        )
        assert self.proc.stdout is not None
        self._out = self.proc.stdout.fileno()
        os.set_blocking(self._out, False)
        self._buffer = b""
        # The last sequence number whose record() returned: at first, what is on disk.
        self.recorded = loaded
        self.checkpoints = 0

    def poll_acks(self) -> None:
        try:
            self._take(os.read(self._out, 65536))
        except BlockingIOError:
            return

    def kill(self) -> None:
        assert self.proc.poll() is None, "the writer died by itself"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)
        os.set_blocking(self._out, True)
        while data := os.read(self._out, 65536):  # what it wrote before it died
            self._take(data)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def _take(self, data: bytes) -> None:
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        for line in lines:
            kind, number = line.split()
            if kind == b"record":
                self.recorded = float(number)
            else:
                self.checkpoints += 1


def _sequence(directory: Path) -> float:
    """The last write a fresh store loads (state.json, then its journal): never torn."""
    from agentd.state import JsonFileStore

    doc = json.loads((directory / "state.json").read_bytes())  # raises on a torn file
    assert doc["version"] == STATE_VERSION
    record = JsonFileStore(directory).read().task("w", "t")
    return float(record["duration_s"]) if record else 0.0


def _check_after_kill(directory: Path, writer: _Writer) -> float:
    """Nothing acknowledged is lost; at most the one write in flight is there besides."""
    loaded = _sequence(directory)
    assert loaded >= writer.recorded, (
        f"write {writer.recorded:.0f} was acknowledged, but a fresh load has {loaded:.0f}"
    )
    assert loaded <= writer.recorded + 1, (writer.recorded, loaded)
    return loaded


def _temporaries(directory: Path, pattern: str) -> set[str]:
    return {p.name for p in directory.glob(pattern)}


def test_sigkill_during_state_writes_never_leaves_a_torn_file(tmp_path: Path) -> None:
    """40 SIGKILLs aimed at the moment state.json is being replaced: the watcher kills the
    writer as soon as its temporary `.state.json.*.tmp` shows. A kill that leaves that file
    behind provably landed before the rename (a rename would have taken the name away),
    that is, in the middle of a rewrite. At least half of them must land there."""
    rounds, needed, patience = 40, 20, 10  # patience: checkpoints without a temporary seen
    _seed_large_state(tmp_path)
    landed = 0
    loaded = 0.0
    leftovers: set[str] = set()
    for round_ in range(rounds):
        writer = _Writer(tmp_path, loaded)
        target = None
        deadline = time.monotonic() + 60
        while target is None and writer.checkpoints < patience:
            fresh = _temporaries(tmp_path, ".state.json.*.tmp") - leftovers
            if fresh:
                target = fresh.pop()
                break
            writer.poll_acks()
            assert writer.proc.poll() is None, "the writer died by itself"
            assert time.monotonic() < deadline, "the writer made no progress in 60 s"
        writer.kill()
        if target is not None and (tmp_path / target).exists():
            landed += 1
        loaded = _check_after_kill(tmp_path, writer)
        leftovers |= _temporaries(tmp_path, ".state.*.tmp")
        if landed + (rounds - round_ - 1) < needed:
            break  # cannot reach the minimum any more: fail now, not after every round
    size = (tmp_path / "state.json").stat().st_size / 1e6
    print(f"\n{landed} of {rounds} kills landed mid-rewrite of a {size:.1f} MB state.json")
    assert landed >= needed, (
        f"only {landed} of {round_ + 1} kills landed while a temporary state.json existed: "
        "is state.json still replaced by rename?"
    )
    assert leftovers, "a kill mid-rewrite leaves its temporary file behind"
    # The next writer removes what killed writers left: any write will do.
    from agentd.state import JsonFileStore

    JsonFileStore(tmp_path).set_daemon(None)
    JsonFileStore(tmp_path).checkpoint()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "state.journal",
        "state.json",
        "state.json.lock",
    ]


def test_sigkill_during_state_writes_after_a_journal_append_loses_nothing(
    tmp_path: Path,
) -> None:
    """20 SIGKILLs aimed right after an outcome's line reached the journal, before the
    rewrite that folds it into state.json. A kill landed there when, afterwards, the
    journal still belongs to state.json and holds that line: a fresh load finds the write
    in the journal alone. When the writer had not yet been told its write succeeded
    (record() had not returned: the fdatasync or the lock release was under way), the
    kill landed in the middle of the append itself."""
    rounds, needed = 20, 10
    _seed_large_state(tmp_path)
    journal = tmp_path / "state.journal"
    landed = mid_append = 0
    loaded = 0.0
    for _ in range(rounds):
        writer = _Writer(tmp_path, loaded)
        deadline = time.monotonic() + 60
        while True:  # one whole round first, so the line seen is an outcome's, not the claim's
            writer.poll_acks()
            if writer.checkpoints:
                break
            assert writer.proc.poll() is None, "the writer died by itself"
            assert time.monotonic() < deadline, "the writer made no progress in 60 s"
        while True:
            try:
                lines = journal.read_bytes().count(b"\n")
            except FileNotFoundError:
                lines = 0
            if lines >= 2:  # the header and an outcome
                break
            assert writer.proc.poll() is None, "the writer died by itself"
            assert time.monotonic() < deadline, "no journal append in 60 s"
        writer.kill()
        loaded = _check_after_kill(tmp_path, writer)
        snapshot = json.loads((tmp_path / "state.json").read_bytes())
        header, *ops = journal.read_bytes().splitlines()
        in_snapshot = snapshot["projects"]["w"]["tasks"]["t"]["duration_s"]
        if json.loads(header)["journal"] == snapshot["journal"] and ops and loaded > in_snapshot:
            landed += 1
            mid_append += loaded > writer.recorded
    print(
        f"\n{landed} of {rounds} kills landed after a journal append, before its rewrite "
        f"({mid_append} of them before record() returned)"
    )
    assert landed >= needed, f"only {landed} of {rounds} kills landed after an append"
