"""Which projects no host has: a shared store's hosts tell each other what is missing.

A project directory may exist on some hosts only (a GPU project on the GPU boxes). Each
sweep on a shared store says which of its projects are missing here; a project missing
here is left to the hosts that have not said so, and when every known host lacks it, the
first sweep of the night to find that fails it, with the hosts asked, and the others
leave it: one failure a night, not one per host.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from agentd.config import Config
from agentd.daemon.sweep.selection import Absence, Absent, missing_here
from agentd.state import StateError, StateStore

# A host that has not swept or published for this long is no longer asked about projects
# (a shared store counts its hosts the same way).
HOSTS_KNOWN_FOR = timedelta(days=2)


def ask_hosts(
    config: Config,
    store: StateStore,
    only: Collection[str] | None,
    date: str,
    now: datetime,
    slog: Any,
) -> dict[str, Absent] | None:
    """On a shared store, say which projects have no directory here and learn, for each,
    whether another host may run it, or whether this sweep fails it as missing on every
    host (once a night, whichever host finds that first). None: a store of one host."""
    if not store.shared:
        return None
    missing = missing_here(config, only, store.host)
    try:
        others = store.publish_presence(date, list(missing), now)
        asked = _known_hosts(store, now)
        return {
            name: _absence(store, name, date, others.get(name) or [], asked) for name in missing
        }
    except StateError as exc:
        slog.error("hosts.presence_failed", error=str(exc), missing=sorted(missing)[:10])
        return {name: Absent(Absence.UNANSWERED, detail=str(exc)) for name in missing}


def _absence(
    store: StateStore, name: str, date: str, others: list[str], asked: tuple[str, ...]
) -> Absent:
    if others:
        return Absent(Absence.ELSEWHERE, tuple(sorted(others)))
    if store.claim_nowhere(name, date, asked):
        return Absent(Absence.NOWHERE, asked)
    return Absent(Absence.FAILED_ELSEWHERE)


def _known_hosts(store: StateStore, now: datetime) -> tuple[str, ...]:
    """This host and those the store has seen lately (the hosts that were asked)."""
    known = {store.host}
    for name, info in store.read().hosts().items():
        try:
            seen = datetime.fromisoformat(str((info or {}).get("seen")))
        except ValueError:
            continue
        if seen.tzinfo is not None and now - seen <= HOSTS_KNOWN_FOR:
            known.add(name)
    return tuple(sorted(known))
