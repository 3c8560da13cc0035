"""A task that floods its output: agentd's memory stays flat, the log holds every byte."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import AGENTD, Workspace

SIZE = 300_000_000  # bytes of output per flooding task


def _peak_rss_kib(ws: Workspace) -> tuple[int, dict]:
    """Run one sweep; return agentd's peak resident set size (KiB) and its report."""
    proc = subprocess.Popen(
        [AGENTD, "run", "--once", "--force", "--json", "--config", str(ws.config)],
        cwd=ws.root,
        env=ws.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss, json.loads(out)


@pytest.mark.parametrize(
    ("kind", "shell"),
    [
        (
            "lines",
            f"yes 'a line of ordinary log output, like a chatty test runner' | head -c {SIZE}",
        ),
        ("one line", f"head -c {SIZE} /dev/zero | tr '\\\\0' x"),
    ],
)
def test_flooding_output_costs_no_memory(ws: Workspace, kind: str, shell: str) -> None:
    ws.project_dirs("p")
    base = '[[projects]]\nname = "p"\npath = "p"\ntasks = ["t"]\n'
    ws.write_config(f'[tasks.t]\nshell = "echo quiet"\n{base}')
    baseline, _ = _peak_rss_kib(ws)
    ws.write_config(f'[tasks.t]\nshell = "{shell}"\n{base}')
    flood, report = _peak_rss_kib(ws)
    task = report["projects"][0]["tasks"][0]
    assert task["status"] == "ok", task
    log = ws.state / "runs" / report["run_id"] / "p" / "t.log"
    assert log.stat().st_size == SIZE  # every byte reached the log file
    assert len(task["output_tail"]) <= 2000  # the report quotes a bounded tail
    with log.open("rb") as handle:
        handle.seek(-4096, os.SEEK_END)
        end = handle.read().decode()
    assert task["output_tail"]
    assert end.endswith(task["output_tail"])  # the tail really is the end of the output
    # Flat: the output never passes through agentd (allow 5 MiB of noise).
    assert flood - baseline < 5 * 1024, f"peak RSS {baseline} KiB quiet, {flood} KiB flooding"
    print(f"{kind}: peak RSS {baseline} KiB for a quiet task, {flood} KiB for {SIZE} bytes")
