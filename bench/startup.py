"""Start-up of the read commands, and of a one-task sweep, as ratios to ``python -c pass``
of the same venv.

    python bench/startup.py [--tree LABEL=DIR ...] [--reps N] [--out FILE]

Without ``--tree`` it measures the agentd the venv has installed. Each ``--tree
LABEL=DIR`` measures the agentd source tree in DIR instead (a ``git worktree`` of some
commit: ``git worktree add /tmp/before d7c6293``) through the same venv, with DIR first on
``PYTHONPATH``, so the figures of several trees come from one run on one machine. Each
tree gets its own workspace (a configuration naming its state directory, and one finished
sweep so that ``agentd report`` has a report to show), and its own baseline, run with the
same environment. Commands are interleaved, so noise falls on all of them alike.

Two more rows show the floor while the file is validated by pydantic: importing pydantic,
and importing the schema (pydantic imported, the models built). A read command that
validates the file cannot start faster than the second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

AGENTD = str(Path(sys.executable).parent / "agentd")
BASELINE = "python -c pass"


@dataclass
class Tree:
    """One agentd source tree, measured in its own workspace."""

    label: str
    pythonpath: str | None
    env: dict[str, str] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)


def _environ(pythonpath: str | None, root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("AGENTD_")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    env["AGENTD_CONFIG"] = str(root / "config.toml")
    env["HOME"] = str(root)
    return env


def _workspace(tree: Tree, root: Path) -> None:
    root.mkdir()
    (root / "p").mkdir()
    (root / "config.toml").write_text(
        '[paths]\nstate_dir = "state"\n'
        '[tasks.t]\ncommand = ["true"]\n[[projects]]\nname = "p"\npath = "p"\ntasks = ["t"]\n'
    )
    tree.env = _environ(tree.pythonpath, root)
    # The sweep is run by the installed agentd, whichever tree is measured: only the read
    # commands are, and a tree checked out mid-change may not run a sweep.
    sweep = subprocess.run(
        [AGENTD, "run", "--once"],
        check=False,
        env=_environ(None, root),
        cwd=root,
        capture_output=True,
        text=True,
    )
    if sweep.returncode != 0:
        raise SystemExit(f"{tree.label}: the sweep failed\n{sweep.stderr[-2000:]}")
    py = sys.executable
    tree.commands = {
        BASELINE: [py, "-c", "pass"],
        "agentd --help": [AGENTD, "--help"],
        "agentd status": [AGENTD, "status"],
        "agentd schedule": [AGENTD, "schedule"],
        "agentd config check": [AGENTD, "config", "check"],
        "agentd report": [AGENTD, "report"],
        "agentd report --state-dir DIR": [AGENTD, "report", "--state-dir", str(root / "state")],
        # Not a read command: a whole sweep of one `true` task, for what every sweep and
        # daemon start pays (structlog, the engine, the HTML report's jinja2).
        "agentd run --once --force": [AGENTD, "run", "--once", "--force", "--log-level", "warning"],
        "floor: import pydantic": [py, "-c", "from pydantic import BaseModel"],
        "floor: import the schema": [py, "-c", "import agentd.config.model"],
    }
    tree.wall = {name: [] for name in tree.commands}
    tree.cpu = {name: [] for name in tree.commands}


def _once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one command, which must exit 0."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"BENCHMARK FAILED: {' '.join(argv)} exited {status}")
    return took, usage.ru_utime + usage.ru_stime


def measure(trees: list[Tree], work: Path, reps: int) -> None:
    for tree in trees:
        _workspace(tree, work / tree.label)
    for rep in range(reps + 1):  # the first round warms the caches and is not counted
        for tree in trees:
            for name, argv in tree.commands.items():
                wall, cpu = _once(argv, tree.env, work / tree.label)
                if rep:
                    tree.wall[name].append(wall)
                    tree.cpu[name].append(cpu)


def render(trees: list[Tree], reps: int, command: str) -> str:
    heads = " | ".join(
        f"{t.label}: wall ms | {t.label}: ratio | {t.label}: CPU ms | {t.label}: CPU ratio"
        for t in trees
    )
    lines = [f"| command | {heads} |", "|---|" + "---|" * (4 * len(trees))]
    for name in trees[0].commands:
        cells = []
        for t in trees:
            wall, cpu = t.wall[name], t.cpu[name]
            base_wall = statistics.median(t.wall[BASELINE])
            base_cpu = statistics.median(t.cpu[BASELINE])
            cells += [
                f"{statistics.median(wall) * 1000:.1f} "
                f"({min(wall) * 1000:.1f}–{max(wall) * 1000:.1f})",
                f"{statistics.median(wall) / base_wall:.1f}",
                f"{statistics.median(cpu) * 1000:.1f}",
                f"{statistics.median(cpu) / base_cpu:.1f}",
            ]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return (
        f"Measured with `{command}` on {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}, {reps} runs each (median, with min–max).\n\n"
        + "\n".join(lines)
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--tree", action="append", default=[], metavar="LABEL=DIR", help="a source tree"
    )
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--out", type=Path, help="write the Markdown table here")
    args = parser.parse_args(argv)
    trees = []
    for spec in args.tree:
        label, _, directory = spec.partition("=")
        if not label or not directory or not Path(directory, "agentd").is_dir():
            parser.error(f"--tree {spec}: expected LABEL=DIR, DIR an agentd source tree")
        trees.append(Tree(label, str(Path(directory).resolve())))
    trees = trees or [Tree("installed", None)]
    shown = " ".join(["python bench/startup.py", *(argv or sys.argv[1:])])
    with tempfile.TemporaryDirectory(prefix="agentd-startup-") as tmp:
        measure(trees, Path(tmp), args.reps)
    text = render(trees, args.reps, shown)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
