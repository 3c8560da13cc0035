"""Allows ``python -m daemon`` where the console script is not on PATH."""

from daemon.entry import main

raise SystemExit(main())
