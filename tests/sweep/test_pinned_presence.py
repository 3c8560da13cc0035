"""A project pinned to hosts that all lack its directory is failed once, like any project
no host has: the hosts it is not pinned to say it is missing there too, so that they are
not counted as hosts that may have it (they never run it)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import structlog

from agentd.daemon.sweep.presence import ask_hosts, settle_later
from agentd.daemon.sweep.selection import Absence, Absent
from tests.builders import cmd, load, proj

TODAY = "2026-11-22"


def test_a_pinned_project_its_hosts_all_lack_is_failed(tmp_path: Path, pg_url: str) -> None:
    from agentd.state.postgres import PostgresStore

    config = load(tmp_path, {"a": cmd("true")}, [proj("cuda", "a", hosts=["gpu-*"])])
    now = datetime.now(UTC)
    log = structlog.get_logger("test")
    build, gpu = PostgresStore(pg_url, host="build-1"), PostgresStore(pg_url, host="gpu-1")
    try:
        # build-1 never runs cuda and asks nothing of it, but says it has none.
        assert ask_hosts(config, build, None, TODAY, now, log) == {}
        # gpu-1 lacks it too: no host is left that may have it.
        assert ask_hosts(config, gpu, None, TODAY, now, log) == {"cuda": Absent(Absence.LATER)}
        gone = f"project directory {tmp_path / 'cuda'} does not exist on any host"
        assert settle_later(config, gpu, ["cuda"], TODAY, now, log) == {
            "cuda": (True, f"{gone} (asked: build-1, gpu-1)")
        }
    finally:
        build.close()
        gpu.close()


def test_a_pinned_project_its_host_has_is_left_to_it(tmp_path: Path, pg_url: str) -> None:
    """The other way round: a host it is pinned to and that has it runs it; a pinned host
    that lacks it leaves it to another pinned host that has not said it lacks it."""
    from agentd.state.postgres import PostgresStore

    config = load(tmp_path, {"a": cmd("true")}, [proj("cuda", "a", hosts=["gpu-*"])])
    now = datetime.now(UTC)
    log = structlog.get_logger("test")
    stores = [PostgresStore(pg_url, host=h) for h in ("build-1", "gpu-1", "gpu-2")]
    build, gpu1, gpu2 = stores
    try:
        assert ask_hosts(config, build, None, TODAY, now, log) == {}
        (tmp_path / "cuda").mkdir()  # gpu-2 has it (the hosts share tmp_path here)
        assert ask_hosts(config, gpu2, None, TODAY, now, log) == {}
        (tmp_path / "cuda").rmdir()
        assert ask_hosts(config, gpu1, None, TODAY, now, log) == {
            "cuda": Absent(Absence.ELSEWHERE, ("gpu-2",))
        }
    finally:
        for store in stores:
            store.close()
