"""Which projects no host has: a shared store's hosts tell each other what is missing.

A project directory may exist on some hosts only (a GPU project on the GPU boxes). Each
sweep on a shared store says, as it starts, which of its projects are missing here; a
project missing here is left to the hosts that have not said so. Whether no host has it is
decided only when this host's sweep ends, asking again: a host is known once it has swept
or published lately, so hosts that start together on their first night would otherwise
not know each other yet. The first sweep of the night to find that every known host lacks
it fails it, with the hosts asked, and the others leave it: one failure a night, not one
per host.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from agentd.config import Config
from agentd.daemon.sweep.selection import (
    Absence,
    Absent,
    absent_verdict,
    missing_here,
    pinned_away,
)
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
    """On a shared store, say as the sweep starts which projects have no directory here
    (so that the other hosts know early), and learn, for each, whether another host may run
    it; one that no other host is known to have is left until this sweep ends
    (``Absence.LATER``, see ``settle_later``). None: a store of one host."""
    if not store.shared:
        return None
    missing = missing_here(config, only, store.host)
    # A project pinned to other hosts is never run here: said to be missing here too, so
    # that one all its own hosts lack is failed, not left to hosts that never run it.
    away = [s.name for s in config.projects if s.enabled and pinned_away(s, store.host)]
    try:
        others = store.publish_presence(date, [*missing, *away], now)
    except StateError as exc:
        slog.error("hosts.presence_failed", error=str(exc), missing=sorted(missing)[:10])
        return {name: Absent(Absence.UNANSWERED, detail=str(exc)) for name in missing}
    return {
        name: Absent(Absence.ELSEWHERE, tuple(sorted(found)))
        if (found := others.get(name))
        else Absent(Absence.LATER)
        for name in missing
    }


def settle_later(
    config: Config,
    store: StateStore,
    names: Collection[str],
    date: str,
    now: datetime,
    slog: Any,
) -> dict[str, tuple[bool, str]]:
    """(failed, reason) of each project left until this sweep's end (``Absence.LATER``),
    asked again now that this host's own projects have run: done today (on any host) is
    done; else left for a host known by now that may have it; else failed as missing on
    every host by the first sweep of the night to find that."""
    if not names:
        return {}
    try:
        snapshot = store.read()
        missing: list[str] = []
        verdicts: dict[str, tuple[bool, str]] = {}
        for name in names:
            spec = config.project(name)
            tasks = config.task_names(spec)
            if tasks and all(snapshot.done_today(name, t, date) for t in tasks):
                verdicts[name] = (False, f"done today: finished by another host on {date}")
            else:
                missing.append(name)
        others = store.publish_presence(date, missing, now)
        asked = _known_hosts(store, now)
        for name in missing:
            absent = _absence(store, name, date, others.get(name) or [], asked)
            path = config.project_dir(config.project(name))
            verdicts[name] = absent_verdict(path, store.host, absent)
        return verdicts
    except StateError as exc:
        slog.error("hosts.presence_failed", error=str(exc), missing=sorted(names)[:10])
        gone = Absent(Absence.UNANSWERED, detail=str(exc))
        return {
            name: absent_verdict(config.project_dir(config.project(name)), store.host, gone)
            for name in names
        }


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
