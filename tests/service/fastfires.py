"""How the tests start a daemon that fires every two seconds (tests/bin/agentd-every-2s):
``[*EVERY_2S, "run", "--config", ...]`` where they would run ``agentd``."""

from __future__ import annotations

import sys
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent.parent / "bin" / "agentd-every-2s"
EVERY_2S = [sys.executable, str(LAUNCHER)]
