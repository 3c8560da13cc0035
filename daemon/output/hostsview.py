"""``agentd status`` on a shared store: every host, its daemon, and what it runs now.

A daemon of another host cannot be checked by its pid from here: what it published is all
there is. It republishes as each sweep starts and ends, so a daemon whose next fire is long
past (by more than its jitter and the claims' stale time) and that holds no live claim has
not been heard of since it should have swept: it is shown as stale, most likely dead.
This host's daemon is checked as ever, by its pid (``daemon_state``).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agentd.state import Snapshot
from agentd.state.claims import Holder, this_host, why_stale
from agentd.state.daemonlock import daemon_state, stopped_state


def gather_hosts(
    snapshot: Snapshot, directory: Path, now: datetime, stale_after: float
) -> list[dict[str, Any]]:
    """One entry per host the shared store knows (and per host holding a claim), this
    host first, then by name; empty for a store of one host."""
    known = snapshot.hosts()
    if not known:
        return []
    claims = snapshot.claims()
    me = this_host()
    names = set(known) | {holder.host for holder in claims.values()}
    ordered = sorted(names, key=lambda name: (name != me, name))
    return [
        _host(
            name,
            _entry(known.get(name)),
            [(p, h) for p, h in sorted(claims.items()) if h.host == name],
            snapshot,
            directory,
            now,
            stale_after,
        )
        for name in ordered
    ]


def _entry(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _host(
    name: str,
    entry: dict[str, Any],
    claims: list[tuple[str, Holder]],
    snapshot: Snapshot,
    directory: Path,
    now: datetime,
    stale_after: float,
) -> dict[str, Any]:
    me = name == this_host()
    running = [_claim(project, holder, now, stale_after) for project, holder in claims]
    published = _entry(entry.get("daemon")) or None
    if me:
        # Checked by pid, and with the lock file's holder, as the single-host status does.
        daemon = daemon_state(snapshot.daemon() or published, directory)
    else:
        live = any(claim["stale"] is None for claim in running)
        daemon = _remote_daemon(published, now, stale_after, live)
    return {
        "host": name,
        "this_host": me,
        "daemon": daemon,
        "next_fire": daemon.get("next_fire") if daemon.get("running") is not False else None,
        "seen": entry.get("seen"),
        "running": running,
    }


def _claim(project: str, holder: Holder, now: datetime, stale_after: float) -> dict[str, Any]:
    return {
        "project": project,
        "run_id": holder.run_id,
        "pid": holder.pid,
        "started_at": holder.started_at,
        "heartbeat": holder.heartbeat,
        "heartbeat_age_s": _age(holder.heartbeat, now),
        "stale": why_stale(holder, now, this_host(), stale_after),
    }


def _remote_daemon(
    info: dict[str, Any] | None, now: datetime, stale_after: float, live_claims: bool
) -> dict[str, Any]:
    """What another host's daemon published, judged by its dates only: ``running`` None
    (cannot be checked), or False once it said it stopped; ``stale`` says why it looks
    dead."""
    if not info:
        return {"running": False}
    if info.get("stopped_at"):
        return stopped_state(info)
    stale = None
    fire = _moment(info.get("next_fire"))
    jitter = info.get("jitter_s")
    if not (isinstance(jitter, (int, float)) and math.isfinite(jitter) and 0 <= jitter < 1e6):
        jitter = 0  # hostile or from another version: judged without it
    late = timedelta(seconds=float(jitter) + stale_after)
    if fire is not None and now - fire > late and not live_claims:
        stale = (
            f"its next fire, {info.get('next_fire')}, is {_span((now - fire).total_seconds())} "
            "past and it holds no live claim: it has not published since (dead?)"
        )
    return {**info, "running": None, "stale": stale}


def _moment(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _age(stamp: str, now: datetime) -> float | None:
    moment = _moment(stamp)
    return None if moment is None else round((now - moment).total_seconds(), 1)


def _span(seconds: float) -> str:
    from agentd.config.durations import format_duration

    return format_duration(max(0, int(seconds)))


def host_lines(hosts: list[dict[str, Any]]) -> list[str]:
    """The Hosts section of ``agentd status``'s text; nothing for a store of one host."""
    if not hosts:
        return []
    lines = [f"hosts:       {len(hosts)} share this state"]
    for host in hosts:
        mark = " (this host)" if host["this_host"] else ""
        seen = f"; last seen {host['seen']}" if host.get("seen") else ""
        lines.append(f"  {host['host']}{mark}: {_daemon_words(host)}{seen}")
        for claim in host["running"]:
            age = claim["heartbeat_age_s"]
            beat = f"heartbeat {_span(age)} ago" if age is not None else "heartbeat unreadable"
            stale = f"  [stale: {claim['stale']}]" if claim["stale"] else ""
            lines.append(
                f"    runs {claim['project']}: run {claim['run_id']}, pid {claim['pid']}, "
                f"since {claim['started_at']}, {beat}{stale}"
            )
        if not host["running"]:
            lines.append("    runs nothing now")
    return lines


def _daemon_words(host: dict[str, Any]) -> str:
    daemon = host["daemon"]
    fire = f"; next fire {daemon.get('next_fire') or 'never'}"
    if daemon["running"]:
        return f"daemon running, pid {daemon.get('pid')}{fire}"
    if daemon["running"] is None and daemon.get("stale"):
        return f"daemon stale (pid {daemon.get('pid')}): {daemon['stale']}"
    if daemon["running"] is None:
        return (
            f"daemon as published: pid {daemon.get('pid')}, started {daemon.get('started_at')} "
            f"(cannot be checked from here){fire}"
        )
    note = f" ({daemon['note']})" if daemon.get("note") else ""
    return f"no daemon running{note}"
