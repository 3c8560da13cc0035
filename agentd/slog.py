"""structlog, imported the one way agentd imports it: without rich.

When rich can be imported, ``import structlog`` loads it at once (console, traceback,
pretty-printer, pygments) for its console renderer's exception format: about a third of
structlog's import time, paid by every ``agentd run`` and every daemon start
(BENCHMARKS.md, "A sweep's start"). agentd never shows an exception that way (JSON lines carry
it as text; the console renderer is given the plain format explicitly), so rich is kept
out of structlog's sight while structlog is first imported. The views that draw with
rich import it themselves, as before.
"""

import sys

if "structlog" not in sys.modules and "rich" not in sys.modules:
    sys.modules["rich"] = None  # type: ignore[assignment]  # None: "not importable"
    try:
        import structlog
    finally:
        del sys.modules["rich"]

import structlog

__all__ = ["structlog"]
