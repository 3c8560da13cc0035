"""A sweep that cannot open its store (a server refusing or not there, a corrupt state
file) exits 2 and leaves the state directory as it found it: not made, not chmodded, no
run directory in it."""

from __future__ import annotations

import os
import socket
import stat

import pytest

from tests.builders import proj, recording, write_config
from tests.helpers import Workspace


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _mode(path: os.PathLike[str]) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("store", ["postgres", "json"])
def test_a_store_that_cannot_be_opened_leaves_the_state_directory_alone(
    ws: Workspace, store: str
) -> None:
    write_config(ws, {"t": recording()}, [proj("p", "t")])
    ws.state.mkdir(mode=0o755)
    os.chmod(ws.state, 0o755)  # whatever the umask: group and others may read it
    if store == "postgres":
        url = f"postgresql://agentd:wrong@127.0.0.1:{_closed_port()}/nightly"
        ws.env |= {"AGENTD_STATE__BACKEND": "postgres", "AGENTD_STATE__URL": url}
    else:
        (ws.state / "state.json").write_text("{ not json")
    before = sorted(p.name for p in ws.state.iterdir())

    proc = ws.once("--state-dir", str(ws.state))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "permissions_changed" not in proc.stderr
    assert _mode(ws.state) == 0o755, "the failed start tightened the state directory"
    assert sorted(p.name for p in ws.state.iterdir()) == before
    assert ws.read_records() == []


def test_a_missing_state_directory_is_not_made_by_a_failed_start(ws: Workspace) -> None:
    write_config(ws, {"t": recording()}, [proj("p", "t")])
    url = f"host=127.0.0.1 port={_closed_port()} dbname=nightly"
    ws.env |= {"AGENTD_STATE__BACKEND": "postgres", "AGENTD_STATE__URL": url}
    proc = ws.once()
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach PostgreSQL at 127.0.0.1" in proc.stderr
    assert not ws.state.exists()
