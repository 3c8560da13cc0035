"""Allows ``python -m agentd`` where the console script is not on PATH."""

from agentd.daemon.cli.entry import main

raise SystemExit(main())
