"""The console script's first module, and nothing else in it.

Ctrl-C before a command installs its own handlers (``run --once`` and the daemon do, first
thing) has nothing to stop in order, and Python's default handler would raise
KeyboardInterrupt from whatever import it lands in, with a traceback. So SIGINT gets its
default disposition back here, at import, before argparse or anything else is loaded: the
process dies of the signal, quietly, as any program would.
"""

import signal

# Python installs its handler only where SIGINT was not ignored: an ignored one stays so.
if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def main() -> int:
    from agentd.daemon.cli.main import main as run

    return run()
