"""The nights compared: each project's status night after night, from the run summaries
the state store keeps (``StateStore.record_run``), and what changed since the night before.

A night is a calendar date in the schedule's zone, the date a sweep is filed under. A night
with several sweeps (a manual one after the scheduled one) shows each project as its last
run that night to reach an ok or failed end left it: a later sweep that only skipped it
(done today, say) or was interrupted does not hide what the earlier one found. A night
without a sweep is a gap, and says why as far as the state and the schedule can tell: a
skipped fire, a fire that was due and never ran, or no fire due at all.

Pure: everything comes from a Snapshot, the configuration and the moment given.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from agentd.config.cron import CronSpec
from agentd.daemon.model.report import ran_nothing
from agentd.daemon.model.status import PROJECT_FAILURES, ProjectStatus, SweepStatus
from agentd.state.claims import this_host

if TYPE_CHECKING:
    from agentd.config import Config
    from agentd.state import Snapshot

NIGHTS = 14
MISSED = "missed"
NONE_DUE = "none due"
SKIPPED = "skipped: "  # followed by the reason the fires bookkeeping gives

# The statuses that say how a project fares; skipped and interrupted runs say neither.
_VERDICTS = frozenset({ProjectStatus.OK, *PROJECT_FAILURES})

Schedule = tuple[CronSpec, tzinfo]  # the cron that fires sweeps, and its zone


@dataclass(frozen=True)
class NightCell:
    """One project on one night."""

    status: str | None  # the ProjectStatus value of its last run that night; None: did not run
    duration_s: float | None  # summed over its runs that night
    spend_usd: float | None
    host: str | None = None  # the host of the run its status comes from (several share a store)


@dataclass(frozen=True)
class Night:
    date: str  # YYYY-MM-DD in the schedule's zone
    sweeps: int  # sweeps that ran that night; 0 = a gap
    # The night's sweep status: of its last sweep that ran something to an ok or failed
    # end; else (every sweep interrupted, or none ran anything) of its last one.
    status: str | None
    wall_s: float | None  # summed wall time of that night's sweeps
    spend_usd: float | None
    # When sweeps == 0: "missed" (a fire was due, nothing ran), "skipped: <reason>" (a
    # fire was skipped), "none due" (the schedule did not fire that day, or not yet), or
    # None: not known (before the history kept, or no schedule to go by).
    gap: str | None
    hosts: tuple[str, ...] = ()  # the hosts whose sweeps ran that night, by name

    def to_dict(self, hosts: bool = False) -> dict[str, Any]:
        return {
            "date": self.date,
            "count": self.sweeps,
            "status": self.status,
            "wall_s": self.wall_s,
            "spend_usd": self.spend_usd,
            "gap": self.gap,
            **({"hosts": list(self.hosts)} if hosts else {}),
        }


@dataclass(frozen=True)
class ProjectHistory:
    name: str
    nights: list[NightCell]  # aligned with History.nights


@dataclass(frozen=True)
class History:
    nights: list[Night]  # consecutive dates, oldest first, ending with the end date
    projects: list[ProjectHistory]

    def hosts(self) -> list[str]:
        """The hosts whose sweeps these nights show, by name (one for a single host)."""
        return sorted({host for night in self.nights for host in night.hosts})

    def to_dict(self) -> dict[str, Any]:
        """``agentd history --json``: ``nights`` and each project's statuses aligned with
        them, plus each project's durations and spend, and each night's sweeps. When the
        sweeps of several hosts show, also each project's host per night (the host of the
        run its status comes from) and each night's hosts; a single host's is as it was."""
        several = len(self.hosts()) > 1
        return {
            "nights": [n.date for n in self.nights],
            "projects": [
                {
                    "name": p.name,
                    "nights": [c.status for c in p.nights],
                    "duration_s": [c.duration_s for c in p.nights],
                    "spend_usd": [c.spend_usd for c in p.nights],
                    **({"hosts": [c.host for c in p.nights]} if several else {}),
                }
                for p in self.projects
            ],
            "sweeps": [n.to_dict(several) for n in self.nights],
            **({"hosts": self.hosts()} if several else {}),
        }

    def only(self, name: str) -> History:
        return History(self.nights, [p for p in self.projects if p.name == name])

    def through_last_sweep(self) -> History:
        """The nights up to the latest that had a sweep (all of them if none had): what
        ``changes`` compares on a day whose sweep has not run yet, when comparing today
        would find nothing changed until the fire."""
        ran = [i for i, night in enumerate(self.nights) if night.sweeps]
        keep = ran[-1] + 1 if ran else len(self.nights)
        return History(
            self.nights[:keep], [ProjectHistory(p.name, p.nights[:keep]) for p in self.projects]
        )


@dataclass(frozen=True)
class Changes:
    newly_failing: list[str]
    recovered: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"newly_failing": self.newly_failing, "recovered": self.recovered}


def build_history(
    snapshot: Snapshot,
    config: Config | None,
    end_date: str,
    nights: int = NIGHTS,
    *,
    now: datetime | None = None,
    schedule: Schedule | None = None,
    here: str | None = None,
) -> History:
    """The ``nights`` nights ending with ``end_date``. ``config`` None (a read command
    with a broken file): the projects are those of the history, by name, and gaps are
    told apart only with ``schedule`` (what can still be read of the file's). ``now``:
    fires after it are not due yet (None: every fire of a night is). ValueError when
    ``end_date`` is not a date (it may come from a report.json read back). ``here``: the
    host of summaries that name none (kept before several hosts shared a store); None:
    this host."""
    try:
        end = dt.date.fromisoformat(end_date)
        dates = [(end - dt.timedelta(days=n)).isoformat() for n in range(nights - 1, -1, -1)]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(
            f"{end_date!r} is not a date to count {nights} night(s) back from (YYYY-MM-DD)"
        ) from None
    # A summary whose date is not one files under no night (and must not pass for the
    # oldest the store keeps, which would make every earlier night "missed").
    here = here if here is not None else this_host()
    runs = [{**r, "host": _host(r, here)} for r in snapshot.runs() if _is_date(r.get("date"))]
    by_date: dict[str, list[dict[str, Any]]] = {d: [] for d in dates}
    for run in runs:
        if run["date"] in by_date:
            by_date[run["date"]].append(run)
    if config is not None and schedule is None:
        schedule = (config.cron, config.zone)
    gaps = _Gaps(
        schedule,
        now,
        min((r["date"] for r in runs), default=None),
        _skipped_fires(snapshot, schedule[1] if schedule else None),
    )
    configured = [spec.name for spec in config.projects] if config is not None else []
    names = _names(configured, [run for d in dates for run in by_date[d]])
    return History(
        nights=[_night(date, by_date[date], gaps) for date in dates],
        projects=[ProjectHistory(name, [_cell(name, by_date[d]) for d in dates]) for name in names],
    )


def changes(history: History) -> Changes:
    """Each project's status on the last night against the previous night it ran to an
    ok or failed end (skipped and interrupted nights are passed over). A project that
    fails the first time it runs is newly failing when the history reaches back before it
    (some earlier night has per-project statuses): a new project, not just an upgrade or
    a first night with nothing to compare."""
    newly: list[str] = []
    recovered: list[str] = []
    known = any(c.status is not None for p in history.projects for c in p.nights[:-1])
    for project in history.projects:
        if not project.nights or project.nights[-1].status not in _VERDICTS:
            continue
        now = project.nights[-1].status
        earlier = [c.status for c in project.nights[:-1] if c.status is not None]
        before = next((s for s in reversed(earlier) if s in _VERDICTS), None)
        if now in PROJECT_FAILURES:
            if before == ProjectStatus.OK or (known and not earlier):
                newly.append(project.name)
        elif before in PROJECT_FAILURES:
            recovered.append(project.name)
    return Changes(newly, recovered)


@dataclass(frozen=True)
class _Gaps:
    schedule: Schedule | None
    now: datetime | None
    first: str | None  # the date of the oldest sweep the store still keeps
    skipped: dict[str, str]  # date -> the reason of the last fire skipped that night

    def why(self, date: str) -> str | None:
        if date in self.skipped:
            return SKIPPED + self.skipped[date]
        if self.first is None or date < self.first or self.schedule is None:
            return None  # before the history kept: it may have run, and been forgotten
        return MISSED if self._safe_due(dt.date.fromisoformat(date)) else NONE_DUE

    def _due(self, day: dt.date) -> bool:
        """Whether the cron fired on ``day`` (by ``now``, when given)."""
        spec, zone = self.schedule or (None, None)
        if spec is None or zone is None:
            return False
        midnight = datetime.combine(day, dt.time.min, tzinfo=zone)
        fire = spec.next_after(midnight - dt.timedelta(microseconds=1), zone)
        if fire is None or fire.astimezone(zone).date() != day:
            return False
        return self.now is None or fire <= self.now

    def _safe_due(self, day: dt.date) -> bool:
        """As ``_due``; a night at the calendar's ends (year 1, 9999) has no fire to find."""
        try:
            return self._due(day)
        except OverflowError:
            return False


def _skipped_fires(snapshot: Snapshot, zone: tzinfo | None) -> dict[str, str]:
    """The fires bookkeeping's skipped fires by night (its stamps carry their offset). An
    entry the daemon could not have written (no stamp, or one whose night cannot be told:
    year 1 at +14:00 is before the calendar in UTC) is passed over: it must not cost the
    history, and with it every sweep's report, its nights."""
    out: dict[str, str] = {}
    skipped = snapshot.fires().get("skipped", [])
    for entry in skipped if isinstance(skipped, list) else []:
        if not isinstance(entry, dict):
            continue
        try:
            fire = datetime.fromisoformat(str(entry.get("fire")))
            if fire.tzinfo is not None and zone is not None:
                fire = fire.astimezone(zone)
        except (ValueError, OverflowError):
            continue
        out[fire.date().isoformat()] = str(entry.get("reason") or "no reason recorded")
    return out


def _night(date: str, runs: list[dict[str, Any]], gaps: _Gaps) -> Night:
    if not runs:
        return Night(date, 0, None, None, None, gaps.why(date))
    hosts = sorted({str(r["host"]) for r in runs})
    # Several hosts split one night between them: each host's sweeps are judged as one
    # host's always were, the night failed if any host's did, and its wall time is the
    # longest host's (they ran side by side).
    parts = [[r for r in runs if r["host"] == host] for host in hosts]
    statuses = [_sweeps_status(part) for part in parts]
    status = next((s for s in statuses if s == SweepStatus.FAILED), None)
    status = status or next((s for s in statuses if s == SweepStatus.OK), None)
    walls = [w for w in (_total(_wall(r) for r in part) for part in parts) if w is not None]
    return Night(
        date=date,
        sweeps=len(runs),
        status=status or _sweeps_status(runs),
        wall_s=max(walls) if walls else None,
        spend_usd=_total(r.get("spend_usd") for r in runs),
        gap=None,
        hosts=tuple(hosts),
    )


def _sweeps_status(runs: list[dict[str, Any]]) -> str | None:
    """The status of one host's sweeps of a night: of its last sweep that ran something
    to an ok or failed end; else (every sweep interrupted, or none ran anything) of its
    last one."""
    ran = [r for r in runs if not ran_nothing(r)]
    ended = [r for r in ran if r.get("status") in (SweepStatus.OK, SweepStatus.FAILED)]
    status = (ended or ran or runs)[-1].get("status")
    return status if isinstance(status, str) else None


def _host(run: dict[str, Any], here: str) -> str:
    host = run.get("host")
    return host if isinstance(host, str) and host else here


def _cell(name: str, runs: list[dict[str, Any]]) -> NightCell:
    """On a night several hosts split, the project's entries of the hosts that left it to
    another (skipped) give way to the run where it ran, and the cell names that host."""
    entries = [
        (entry, run["host"])
        for run in runs
        if isinstance(projects := run.get("projects"), dict)
        and isinstance(entry := projects.get(name), dict)
        and isinstance(entry.get("status"), str)
    ]
    if not entries:
        return NightCell(None, None, None)
    ran = [e for e in entries if e[0]["status"] != ProjectStatus.SKIPPED]
    ended = [e for e in ran if e[0]["status"] in _VERDICTS]
    entry, host = (ended or ran or entries)[-1]
    return NightCell(
        status=entry["status"],
        duration_s=_total(e.get("duration_s") for e, _ in entries),
        spend_usd=_total(e.get("spend_usd") for e, _ in entries),
        host=host,
    )


def _names(configured: list[str], runs: list[dict[str, Any]]) -> list[str]:
    """The configured projects in their order, then any other the nights show (a project
    removed since) by name: the store keeps no order of its own."""
    others = {
        name
        for run in runs
        if isinstance(projects := run.get("projects"), dict)
        for name in projects
        if isinstance(name, str) and name not in configured
    }
    return [*configured, *sorted(others)]


def _wall(run: dict[str, Any]) -> float | None:
    """A sweep's wall time; from its start and end for summaries kept without it."""
    if _number(run.get("duration_s")):
        return float(run["duration_s"])
    try:
        took = datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(
            run["started_at"]
        )
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return took.total_seconds()


def _total(values: Iterable[Any]) -> float | None:
    numbers = [float(v) for v in values if _number(v)]
    return round(sum(numbers), 6) if numbers else None


def _number(value: Any) -> bool:
    """A figure to add up: NaN or infinity (which JSON readers let through) is none, or a
    night's sum would be one too, and ``agentd history --json`` not JSON."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_date(value: Any) -> bool:
    try:
        return isinstance(value, str) and dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False
