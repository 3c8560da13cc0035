"""``agentd`` with projects started in file order: the benchmark's baseline for the
critical-path order.

Not a setting of agentd: the order is replaced in this process only, before agentd's own
``main`` runs, so the product carries no switch for the benchmark's sake. Run as
``python bench/file_order.py run --once ...`` with the arguments of ``agentd``.
"""

from __future__ import annotations

import sys

import agentd.daemon.cli.entry  # noqa: F401 - Ctrl-C's default disposition, as agentd's own
from agentd.daemon.sweep import ordering
from agentd.daemon.sweep.selection import Planned


def file_order(planned: list[Planned], durations: dict[str, float]) -> list[Planned]:
    """The projects as the file lists them, whatever their expected durations."""
    return list(planned)


if __name__ == "__main__":
    ordering.rank = file_order
    from agentd.daemon.cli.entry import main

    sys.exit(main())
