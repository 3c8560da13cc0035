"""A configuration that puts the state in PostgreSQL but names it invalidly: the read
commands exit 2 with the message `run --once` gives, never showing the state directory's
JSON file instead (empty, or another setup's: either way not the night's state)."""

from __future__ import annotations

import pytest

from tests.builders import proj, recording, write_config
from tests.helpers import Workspace

PASSWORD = "Pw-41c9"
BAD_URL = f"host=db1 password={PASSWORD} bogus"


def _configure(ws: Workspace, in_file: bool) -> None:
    state = {"backend": "postgres", "url": BAD_URL} if in_file else {}
    write_config(ws, {"t": recording()}, [proj("p", "t")], **({"state": state} if state else {}))
    if not in_file:  # the environment names the database instead
        ws.env |= {"AGENTD_STATE__BACKEND": "postgres", "AGENTD_State__Url": BAD_URL}


@pytest.mark.parametrize("in_file", [True, False], ids=["file", "environment"])
@pytest.mark.parametrize("command", ["status", "history", "report"])
def test_a_read_command_on_an_invalid_database_url_is_exit_2(
    ws: Workspace, command: str, in_file: bool
) -> None:
    _configure(ws, in_file)
    once = ws.once()
    assert once.returncode == 2, once.stderr
    assert "state.url" in once.stderr
    read = ws.run(command, "--config", str(ws.config), "--state-dir", str(ws.state))
    assert read.returncode == 2, read.stdout + read.stderr
    assert read.stdout == ""
    # The same message as run --once's, and the password in none of it.
    assert read.stderr.replace(f"agentd {command}", "agentd") == once.stderr, read.stderr
    assert PASSWORD not in read.stderr
    assert not ws.state.exists(), "a failed read created the state directory"
