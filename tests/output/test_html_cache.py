"""report.html's templates are compiled once per user, not once per sweep: jinja2's
bytecode cache, best effort (a damaged or unwritable cache is no cache, never a failed
page)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

RENDER = """
from agentd.daemon.output.html import page
page.warm()
print(page.environment().bytecode_cache is not None)
"""


def _warm(tmpdir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.run(
        [sys.executable, "-c", RENDER], cwd=ROOT, env=env, capture_output=True, text=True
    )


def _cached(tmpdir: Path) -> list[Path]:
    return sorted((tmpdir / f"_jinja2-cache-{os.getuid()}").glob("__jinja2_*.cache"))


def test_templates_compiled_by_one_process_are_kept_for_the_next(tmp_path: Path) -> None:
    first = _warm(tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "True"
    kept = _cached(tmp_path)
    templates = list((ROOT / "daemon" / "output" / "html" / "templates").glob("*.j2"))
    assert len(kept) == len(templates)
    stamps = [path.stat().st_mtime_ns for path in kept]
    again = _warm(tmp_path)
    assert again.returncode == 0, again.stderr
    assert [path.stat().st_mtime_ns for path in _cached(tmp_path)] == stamps  # read, not rewritten


def test_a_damaged_cache_is_compiled_afresh(tmp_path: Path) -> None:
    assert _warm(tmp_path).returncode == 0
    for path in _cached(tmp_path):
        path.write_bytes(b"j2\x00garbage")
    again = _warm(tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's directory needs root")
def test_another_users_directory_in_the_caches_place_means_no_cache(tmp_path: Path) -> None:
    """Its owner could plant compiled code there: jinja2 refuses it, the page is made
    without a cache, and nothing of it is read."""
    planted = tmp_path / f"_jinja2-cache-{os.getuid()}"
    planted.mkdir(mode=0o700)
    os.chown(planted, 65534, 65534)  # nobody's
    proc = _warm(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
    assert list(planted.iterdir()) == []
