"""Exit statuses (SPEC section 3) and the error that means "bad usage": the command line's own.

Below the command line nothing knows an exit status: the engine and the daemon say what
happened (typed), and the command that called them turns that into one of these.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3


class UsageError(Exception):
    """Bad usage, configuration or state: exit status 2, nothing run."""
