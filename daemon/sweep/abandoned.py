"""What a dead sweep of this host left running of projects it no longer holds.

A sweep that dies (agentd killed, the host rebooted into the same state directory) leaves
its tasks running, reparented to init. On one host the next sweep finds them when it takes
the dead sweep's claims over (engine._reap_stale_claims, project._claim). On a shared
store another host may have taken those claims over first, from a heartbeat gone stale:
then no claim of the dead run is left for this host to take over, and its tasks would run
on beside the new holder's. So every sweep, once the stale claims are reaped, looks for
task processes (by ``AGENTD_RUN_ID`` in their environment, see tasks/orphans.py) of runs
that are this state directory's, whose sweep is gone, that never finished and that hold
no claim any more, and stops them.

Whether a run's sweep is alive is asked of the kernel, not of a pid: a sweep holds an
flock on its run directory for as long as its process lives (rundirs.py), so a sweep of
this host that still runs, the daemon's or another ``run --once``'s, is never touched,
and a pid reused since, or seen through another PID namespace, cannot mislead.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from agentd.daemon.sweep import rundirs
from agentd.daemon.tasks import orphans
from agentd.state import StateError, StateStore

# The shape of a run id (rundirs.new_run_id): a hostile environment's AGENTD_RUN_ID such
# as "../x" must not name a directory outside runs/.
_RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{4,}")


def stop_abandoned(store: StateStore, state_dir: Path, grace: float, slog: Any) -> list[int]:
    """Stop the abandoned tasks (SIGTERM, ``grace``, SIGKILL) with one warning line per
    dead run; returns their pids. A store that cannot be read leaves them (said so)."""
    by_run: dict[str, list[orphans.TaskProcess]] = defaultdict(list)
    for task in orphans.every_task():
        by_run[task.run_id].append(task)
    root = rundirs.runs_dir(state_dir)
    dead = [run for run in by_run if _unfinished_and_gone(root, run)]
    if not dead:
        return []
    try:
        claimed = {holder.run_id for holder in store.read().claims().values()}
    except StateError as exc:
        slog.error("orphan.check_failed", error=str(exc))
        return []
    left = {run: by_run[run] for run in dead if run not in claimed}
    if not left:
        return []  # still claimed: reaping takes those over, and stops them then
    for run, tasks in left.items():
        slog.warning(
            "orphan.stopping",
            run=run,
            projects=sorted({t.project for t in tasks}),
            pids=[t.process.pid for t in tasks],
            why="its sweep is gone, and it holds no claim any more",
            kill_grace=grace,
        )
    found = [t.process for tasks in left.values() for t in tasks]
    orphans.stop(
        found, grace, lambda: [t.process for t in orphans.every_task() if t.run_id in left]
    )
    return [p.pid for p in found]


def _unfinished_and_gone(root: Path, run_id: str) -> bool:
    """A run of this state directory whose sweep died: its directory is here, no report
    was written (a sweep that finished waited for its tasks), and no process holds it."""
    if _RUN_ID.fullmatch(run_id) is None:
        return False
    path = root / run_id
    if not path.is_dir() or path.is_symlink():
        return False
    return not (path / "report.json").exists() and not rundirs.in_use(path)
