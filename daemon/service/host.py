"""What the daemon asks of whoever starts it, and what it answers when it ends.

The daemon re-reads its configuration (SIGHUP, and at each fire) and must then set logging
up again and find its state directory as the command line did at start: with the same
``--log-level``, ``--state-dir`` and environment. Those rules belong to the command line,
so the daemon receives them as a ``Setup`` rather than knowing about options. It reports
why it ended as an ``Ending``; turning that into an exit status is the command line's
business.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from agentd.config import Config


class Setup(Protocol):
    def read_config(self) -> Config:
        """The configuration file as it is now; ConfigError if it is not valid."""

    def set_up_logging(self, config: Config) -> None:
        """Logging as ``config`` and the command line's options say."""

    def state_dir(self, config: Config) -> Path:
        """The state directory ``config`` would use (the running daemon keeps its own)."""


class Ending(enum.Enum):
    STOPPED = "stopped"  # by a stop signal, in order: the running sweep reported
    CRASHED = "crashed"  # an internal error; stopped in order all the same
