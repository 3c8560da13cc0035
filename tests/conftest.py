"""Fixtures only: a scratch workspace with a config file, and the processes a test started.
What they are built on (Workspace, the paths, the polling helpers) is in tests/helpers.py."""

from __future__ import annotations

import compileall
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, Workspace, kill_leftovers, workspace_env
from tests.pgcluster import Cluster, NoServer, start_cluster

# Started in the background of a script, or by nohup, the suite would hand its agentd
# processes an ignored SIGINT or SIGHUP, which agentd rightly keeps ignored: the tests
# that send them need them to act, however the suite was started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile agentd's modules once, before any test starts an agentd: the agentd
    processes the tests start may not write bytecode (workspace_env), so without it each of
    them, hundreds in a run, compiles every module it imports again (about 0.2 s each on a
    fresh clone). Done by the controller only; xdist's workers find the files in place."""
    if hasattr(session.config, "workerinput"):
        return
    for package in ("daemon", "config", "state"):
        compileall.compile_dir((ROOT / "agentd" / package).resolve(), quiet=1)
    compileall.compile_dir(ROOT / "agentd", maxlevels=0, quiet=1)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    env = workspace_env(tmp_path)
    yield Workspace(tmp_path, env)
    kill_leftovers(f"RECORD_FILE={env['RECORD_FILE']}".encode())


@pytest.fixture
def reap() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test started; any still running at the end are killed."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """This worker's throwaway PostgreSQL server (tests/pgcluster.py), stopped at the end.
    Without server binaries the tests that need it are skipped, saying why; not on CI,
    which always has them: there a missing server is a failure, never a silent pass."""
    try:
        cluster = start_cluster()
    except NoServer as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {exc}")
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """A libpq conninfo string of a fresh empty database on the worker's server (started
    again first if a previous test left it stopped)."""
    if not pg_cluster.running():
        pg_cluster.start()
    return pg_cluster.conninfo(pg_cluster.new_database())
