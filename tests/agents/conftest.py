"""The fixture of the agent tests that run sweeps of the fake CLIs."""

from __future__ import annotations

import pytest

from tests.agents.test_agents import FAKES, GIT_ENV
from tests.helpers import Workspace


@pytest.fixture
def aws(ws: Workspace) -> Workspace:
    """A workspace whose PATH finds the fake claude, codex, gemini and aider first."""
    ws.env["PATH"] = f"{FAKES}:{ws.env['PATH']}"
    (ws.root / "home").mkdir(exist_ok=True)
    ws.env.update(GIT_ENV)
    ws.env["GIT_CONFIG_GLOBAL"] = str(ws.root / "home" / ".gitconfig")
    return ws
