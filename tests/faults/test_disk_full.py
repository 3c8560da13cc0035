"""A full disk under the state directory: the sweep says so, the state file stays whole."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.builders import proj, sh, write_config
from tests.helpers import Workspace

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mount") is None, reason="needs root to mount a small tmpfs"
)


@pytest.fixture
def small_disk(ws: Workspace) -> Iterator[Workspace]:
    ws.state.mkdir(mode=0o700)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(ws.state)], check=True
    )
    try:
        yield ws
    finally:
        subprocess.run(["umount", "-l", str(ws.state)], check=True)


def _config(ws: Workspace, output_bytes: int) -> None:
    write_config(
        ws,
        {"small": sh("echo fine"), "big": sh(f"head -c {output_bytes} /dev/zero | tr '\\0' x")},
        [proj("a", "small"), proj("b", "big", "small")],
    )


def test_disk_full_during_a_sweep(small_disk: Workspace) -> None:
    ws = small_disk
    _config(ws, 100)
    code, _first = ws.once_json()
    assert code == 0
    before = (ws.state / "state.json").read_bytes()

    _config(ws, 4_000_000)  # four times the room there is
    proc = ws.once("--json", "--force")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    messages = [f["message"] for f in report["failures"]]
    # The task itself wrote into a pipe and succeeded; it is agentd that could not keep
    # its output, and says so, as a failure of the sweep.
    big = report["projects"][1]["tasks"][0]
    assert big["status"] == "ok"
    assert big["log_cut"]["why"] == "disk full"
    assert any(m.startswith("log incomplete: the file system of its log is full") for m in messages)
    assert "report not written: No space left on device" in messages
    # `agentd report` says why the latest sweep has no report, and what it shows instead.
    shown = ws.run("report", "--config", str(ws.config))
    assert shown.returncode == 0, shown.stderr
    assert f"the latest sweep, {report['run_id']}, has no report: " in shown.stderr
    assert "report not written" in shown.stderr or "file system is full" in shown.stderr
    assert _first["run_id"] in shown.stdout
    # The state file was never torn: the old one survives, or a whole newer one.
    after = json.loads((ws.state / "state.json").read_bytes())
    assert after["version"] == 2
    assert json.loads(before)["projects"].keys() <= after["projects"].keys()
    # Once there is room again, the next sweep recovers: the dead claim is taken over and
    # everything not yet recorded as a success runs.
    shutil.rmtree(ws.state / "runs" / report["run_id"], ignore_errors=True)
    _config(ws, 100)
    code, third = ws.once_json()
    assert code == 0, third["failures"]
    assert json.loads((ws.state / "state.json").read_bytes())["claims"] == {}


def test_a_disk_already_full_when_the_sweep_starts(small_disk: Workspace) -> None:
    ws = small_disk
    _config(ws, 100)
    code, _ = ws.once_json()
    assert code == 0
    before = (ws.state / "state.json").read_bytes()
    filler = ws.state / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
    proc = ws.once("--json", "--force")
    assert "Traceback" not in proc.stderr
    if proc.returncode == 2:
        # Caught before anything ran: the write probe could not even create a file.
        assert "is not writable: No space left on device" in proc.stderr
    else:
        assert proc.returncode == 1, proc.stderr
        messages = [f["message"] for f in json.loads(proc.stdout)["failures"]]
        assert any("No space left on device" in m for m in messages), messages
        assert any(m.startswith(("cannot claim", "run history not saved")) for m in messages), (
            messages
        )
    assert (ws.state / "state.json").read_bytes() == before  # untouched, not half-written
    assert not ws.read_records()  # no claim could be written, so no task ran
    filler.unlink()
    code, report = ws.once_json("--force")
    assert code == 0, report["failures"]


def test_a_full_disk_clears_itself_by_retention(small_disk: Workspace) -> None:
    """keep_runs = 1 and each sweep's log takes most of the disk: the old run directory is
    deleted before the new sweep writes, not after a history save that a full disk would
    refuse, so every sweep finds its room."""
    ws = small_disk
    write_config(
        ws,
        {"big": sh("head -c 700000 /dev/zero | tr '\\0' x")},
        [proj("a", "big")],
        run={"keep_runs": 1},
    )
    for _ in range(3):
        code, report = ws.once_json("--force")
        assert code == 0, report["failures"]
        task = report["projects"][0]["tasks"][0]
        assert task["log_cut"] is None
        log = ws.state / "runs" / report["run_id"] / "a" / "big.log"
        assert log.stat().st_size == 700_000
        assert [p.name for p in (ws.state / "runs").iterdir()] == [report["run_id"]]


def test_the_summary_never_names_a_report_that_was_not_written(small_disk: Workspace) -> None:
    ws = small_disk
    _config(ws, 4_000_000)
    proc = ws.once("--force")
    assert proc.returncode == 1, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("report: not written"), proc.stdout
