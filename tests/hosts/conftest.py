"""Hosts for the several-hosts tests (tests/hosts/harness.py), stopped whatever happens."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.helpers import Workspace
from tests.hosts.harness import Host, make_hosts, require_namespaces

Boot = Callable[..., list[Host]]


@pytest.fixture
def hosts(ws: Workspace) -> Iterator[Boot]:
    """``hosts("build-1", "build-2")``: those hosts, booted, sharing the workspace ``ws``."""
    require_namespaces()
    made: list[Host] = []

    def boot(*names: str) -> list[Host]:
        new = make_hosts(ws.root, ws.env, list(names))
        made.extend(new)
        return [host.boot() for host in new]

    yield boot
    for host in made:
        host.shutdown()
