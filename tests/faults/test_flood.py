"""A task that floods its output: agentd's memory stays flat, the log holds every byte up
to max_log_size, and past it the output's beginning and end, with a word on the rest."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.builders import cmd, proj, sh, write_config
from tests.helpers import AGENTD, Workspace

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
        ("one line", f"head -c {SIZE} /dev/zero | tr '\\0' x"),
    ],
)
def test_flooding_output_costs_no_memory(ws: Workspace, kind: str, shell: str) -> None:
    write_config(ws, {"t": sh("echo quiet")}, [proj("p", "t")], run={"max_log_size": "1GiB"})
    baseline, _ = _peak_rss_kib(ws)
    write_config(ws, {"t": sh(shell)}, [proj("p", "t")], run={"max_log_size": "1GiB"})
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


def test_output_past_max_log_size_keeps_the_head_and_the_tail(ws: Workspace) -> None:
    """The default cap (100 MiB) on 300 MB of numbered lines: the log keeps the first lines
    and the last ones, a marker says how much is missing, the task keeps its status, the
    report and the summary say so, and agentd's memory stays flat."""
    write_config(ws, {"t": sh("echo quiet")}, [proj("p", "t")])
    baseline, _ = _peak_rss_kib(ws)
    # 300 MB of numbered lines, then a last word: seq's lines are 8 bytes here and more.
    flood = "seq 1 40000000 | head -c 300000000; echo; echo THE-END"
    write_config(ws, {"t": sh(flood)}, [proj("p", "t")])
    peak, report = _peak_rss_kib(ws)
    task = report["projects"][0]["tasks"][0]
    assert task["status"] == "ok", task
    cut = task["log_cut"]
    assert cut["why"] == "max_log_size"
    assert cut["limit"] == 100 * 1024 * 1024
    log = ws.state / "runs" / report["run_id"] / "p" / "t.log"
    size = log.stat().st_size
    assert cut["limit"] <= size < cut["limit"] + 200  # the limit, and the marker line
    assert cut["dropped_bytes"] + cut["kept_bytes"] == 300_000_000 + len("\nTHE-END\n")
    assert "log cut at max_log_size (100MiB)" in task["reason"]
    with log.open("rb") as handle:
        head = handle.read(20)
        handle.seek(-2 * 1024 * 1024, os.SEEK_END)
        end = handle.read()
    assert head.startswith(b"1\n2\n3\n4\n")
    assert end.endswith(b"THE-END\n")
    assert f"[agentd: {cut['dropped_bytes']:,} bytes of output not kept here".encode() in end
    assert task["output_tail"].endswith("THE-END")
    markdown = (log.parent.parent / "report.md").read_text()
    assert "## Logs cut (1)" in markdown
    assert "p / t**: log cut at max_log_size (100MiB)" in markdown
    assert report["status"] == "ok"  # a configured cap is not a failure
    assert peak - baseline < 5 * 1024, f"peak RSS {baseline} KiB quiet, {peak} KiB cut"


def test_a_task_flooding_past_its_timeout_is_still_stopped(ws: Workspace) -> None:
    """The log's pump must never keep the supervisor from the task's deadline."""
    write_config(
        ws,
        {"t": cmd("yes", timeout="2s", max_log_size="1MiB")},
        [proj("p", "t")],
        run={"kill_grace": "1s"},
    )
    code, report = ws.once_json()
    task = report["projects"][0]["tasks"][0]
    assert code == 1
    assert task["status"] == "timeout"
    assert task["log_cut"]["dropped_bytes"] > 0
