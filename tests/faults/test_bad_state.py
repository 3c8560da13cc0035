"""Bad state: a clear error naming the file, or a documented safe behaviour; never a reset."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import proj, recording, write_config
from tests.helpers import AGENTD, Workspace

VALID = {"version": 1, "projects": {}, "claims": {}, "runs": [], "fires": {}}
GOOD = json.dumps(VALID, indent=1).encode()


def _config(ws: Workspace) -> None:
    write_config(ws, {"t": recording("t")}, [proj("p", "t")])


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (GOOD[: len(GOOD) // 2], "is not valid JSON"),  # truncated mid-write by something else
        (b"", "is empty"),
        (b"\x00" * 64, "is not valid JSON"),
        (b"{'version': 1}", "is not valid JSON"),
        (json.dumps({**VALID, "version": 0}).encode(), "unknown state version 0"),
        (json.dumps({**VALID, "version": 3}).encode(), "newer agentd"),
        (json.dumps({**VALID, "version": "1"}).encode(), "unreadable version"),
        (json.dumps({**VALID, "claims": {"p": {"pid": "x"}}}).encode(), "claim on project 'p'"),
        (
            json.dumps(
                {**VALID, "claims": {"p": {"pid": 1, "heartbeat": "2026-11-22T02:30"}}}
            ).encode(),
            "claim on project 'p'",
        ),
        (json.dumps({**VALID, "projects": {"p": {"tasks": {"t": "ok"}}}}).encode(), "project 'p'"),
        (json.dumps({**VALID, "runs": [1]}).encode(), "'runs'"),
        (json.dumps({**VALID, "fires": {"last_handled": "yesterday"}}).encode(), "'fires'"),
        (
            json.dumps(
                {**VALID, "claims": {"p": {"pid": 2**70, "heartbeat": "2026-11-22T02:30+00:00"}}}
            ).encode(),
            "claim on project 'p'",
        ),
        (json.dumps({**VALID, "daemon": {"pid": "abc"}}).encode(), "'daemon'"),
        (json.dumps({**VALID, "daemon": [1]}).encode(), "'daemon'"),
        (json.dumps({**VALID, "runs": [{"run_id": "x", "counts": 5}]}).encode(), "'runs'"),
    ],
)
def test_bad_state_files_stop_every_command_and_stay_as_they_are(
    ws: Workspace, content: bytes, words: str
) -> None:
    _config(ws)
    ws.state.mkdir(mode=0o700)
    (ws.state / "state.json").write_bytes(content)
    for args in (
        ["run", "--once"],
        ["run", "--once", "--dry-run"],
        ["run"],
        ["status"],
    ):
        proc = ws.run(*args, "--config", str(ws.config), timeout=60)
        assert proc.returncode == 2, (args, proc.stderr)
        assert str(ws.state / "state.json") in proc.stderr
        assert words in proc.stderr
        assert "Traceback" not in proc.stderr
    assert (ws.state / "state.json").read_bytes() == content
    assert not ws.records.exists()
    assert sorted(p.name for p in ws.state.iterdir()) == ["state.json"]


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root (to drop capabilities, to mount)"
)
# Root without capabilities: file permissions apply to it like to anyone else.
NO_CAPS = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]


@needs_root
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux's setpriv")
def test_an_unreadable_state_file_is_a_clear_error(ws: Workspace) -> None:
    _config(ws)
    ws.state.mkdir(mode=0o700)
    (ws.state / "state.json").write_bytes(GOOD)
    (ws.state / "state.json").chmod(0o600)
    os.chown(ws.state / "state.json", 65534, 65534)  # nobody's: not ours to read
    for args in (["run", "--once"], ["status"]):
        proc = subprocess.run(
            [*NO_CAPS, AGENTD, *args, "--config", str(ws.config)],
            env=ws.env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ws.root,
        )
        assert proc.returncode == 2, proc.stderr
        assert f"cannot read {ws.state / 'state.json'}: Permission denied" in proc.stderr
    assert (ws.state / "state.json").read_bytes() == GOOD


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


@needs_root
@pytest.mark.skipif(shutil.which("mount") is None, reason="needs mount")
def test_a_read_only_state_directory(ws: Workspace) -> None:
    _config(ws)
    ws.state.mkdir(mode=0o700)
    (ws.state / "state.json").write_bytes(GOOD)
    with _read_only(ws.state):
        # Commands that write refuse before running anything ...
        proc = ws.once()
        assert proc.returncode == 2, proc.stderr
        assert f"state directory {ws.state} is not writable" in proc.stderr
        assert not ws.records.exists()
        # ... and those that only read still work.
        assert ws.run("status", "--config", str(ws.config)).returncode == 0
        assert ws.once("--dry-run").returncode == 0
    assert (ws.state / "state.json").read_bytes() == GOOD


def test_a_fifo_instead_of_the_state_file_does_not_hang_anything(ws: Workspace) -> None:
    _config(ws)
    ws.state.mkdir(mode=0o700)
    os.mkfifo(ws.state / "state.json")
    for args in (["run", "--once"], ["status"]):
        proc = ws.run(*args, "--config", str(ws.config), timeout=30)
        assert proc.returncode == 2
        assert "is not a regular file" in proc.stderr
    assert (ws.state / "state.json").is_fifo()
