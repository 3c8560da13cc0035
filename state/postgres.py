"""The shared state store on PostgreSQL: several hosts, one sweep.

Each method is one transaction (``pgconn.Connections.transact``). A project's row is the
lock of its claim: ``claim``, ``record`` and ``release`` take it with SELECT ... FOR
UPDATE, so two hosts claiming one project queue on the row and the second sees the first's
claim (and the skip guard as it is then). Budget reservations take one advisory lock for
the whole ledger instead, the check spans every project; ``record`` and ``release``, which
settle and drop reservations, take it first too, so a check never reads the ledger half
way through one of them. The answers are the JSON store's
(``state.jsonfile``), which is the reference; the document ``read`` builds has its shape,
plus ``hosts`` (every host's daemon, fires and last sighting).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from datetime import datetime
from typing import Any

import psycopg

from agentd.state.base import (
    AllDone,
    Blocked,
    Claimed,
    ClaimLost,
    ClaimResult,
    Decide,
    ProjectRecord,
    Refused,
    Reserved,
    Snapshot,
    StateError,
    StateStore,
    TaskRecord,
)
from agentd.state.claims import STALE_AFTER, Holder, this_host, why_stale
from agentd.state.pgconn import Connections, Cursor
from agentd.state.pgdoc import (
    build_document,
    finished,
    jsonb,
    ledger,
    lock_project,
    mark_nowhere,
    others_having,
    set_claim,
    set_doc,
    touch_host,
)
from agentd.state.pgschema import (
    LEDGER_LOCK,
    ensure,
    migrate_database,
)
from agentd.state.rules import (
    SPEND_DAYS_KEPT,
    blocked_entry,
    check_holder,
    claim_answer,
    cutoff,
    fires_after,
    outcome,
    reserve_step,
)

__all__ = ["PostgresStore", "migrate_database"]  # the latter for `agentd state migrate`

KNOWN_FOR = dt.timedelta(days=2)  # a host not seen for this long is not asked for projects
PRESENCE_DAYS_KEPT = 7  # missing/nowhere rows are about one night: a week is plenty


class PostgresStore(StateStore):
    shared = True

    def __init__(
        self,
        url: str,
        *,
        host: str | None = None,
        stale_after: float = STALE_AFTER,
        retry_for: float = 60.0,
    ) -> None:
        self.host = host or this_host()
        self.stale_after = stale_after
        self.db = Connections(url, retry_for)
        conn = self.db.open()
        try:
            ensure(conn, self.db.where)
        except psycopg.Error as exc:
            conn.close()
            raise StateError(
                f"{self.where}: the agentd schema cannot be read or created: {self.db.reason(exc)}"
            ) from None
        except BaseException:
            conn.close()
            raise
        self.db.give_back(conn)

    @property
    def where(self) -> str:
        """The server and database, for messages: "PostgreSQL at db1:5432, database agentd"."""
        return self.db.where

    def close(self) -> None:
        self.db.close()

    # -- reading ---------------------------------------------------------------------------

    def read(self) -> Snapshot:
        doc = self.db.transact(
            "state not read",
            lambda cur: build_document(cur, self.host, self.where),
            write=False,
            snapshot=True,
        )
        return Snapshot(doc)

    def last_run(self, project: str) -> dict[str, Any] | None:
        def body(cur: Cursor) -> dict[str, Any] | None:
            row = cur.execute(
                "SELECT doc->'last_run' FROM agentd.projects WHERE name = %s", (project,)
            ).fetchone()
            found = row[0] if row else None
            return found if isinstance(found, dict) else None

        return self.db.transact(f"project {project} not read", body, write=False)

    def report_document(self, run_id: str) -> dict[str, Any] | None:
        def body(cur: Cursor) -> dict[str, Any] | None:
            row = cur.execute(
                "SELECT report FROM agentd.runs WHERE run_id = %s AND report IS NOT NULL"
                " ORDER BY host = %s DESC, host LIMIT 1",
                (run_id, self.host),
            ).fetchone()
            report = row[0] if row else None
            return report if isinstance(report, dict) else None

        return self.db.transact(f"report of run {run_id} not read", body, write=False)

    # -- claims ----------------------------------------------------------------------------

    def claim(
        self, project: str, holder: Holder, date: str, tasks: list[str], force: bool, now: datetime
    ) -> ClaimResult:
        def body(cur: Cursor) -> ClaimResult:
            touch_host(cur, self.host, now)
            cur.execute(
                "INSERT INTO agentd.projects (name) VALUES (%s) ON CONFLICT DO NOTHING", (project,)
            )
            doc, claim = lock_project(cur, project)
            known = doc.get("tasks") or {}
            answer = claim_answer(
                claim, known, tasks, date, force, now, self.host, self.stale_after
            )
            if isinstance(answer, Claimed):
                set_claim(cur, project, holder.to_dict())
            elif isinstance(answer, AllDone) and claim is not None:
                set_claim(cur, project, None)  # the stale claim it replaced
            return answer

        return self.db.transact(f"claim of project {project} not taken", body)

    def reap(self, now: datetime) -> list[tuple[str, Holder, str]]:
        def body(cur: Cursor) -> list[tuple[str, Holder, str]]:
            rows = cur.execute(
                "SELECT name, claim FROM agentd.projects WHERE claim IS NOT NULL"
                " ORDER BY name FOR UPDATE"
            ).fetchall()
            reaped = []
            for name, data in rows:
                holder = Holder.from_dict(data if isinstance(data, dict) else {})
                why = why_stale(holder, now, self.host, self.stale_after)
                if why is not None:
                    set_claim(cur, name, None)
                    reaped.append((name, holder, why))
            return reaped

        return self.db.transact("stale claims not dropped", body)

    def heartbeat(self, run_id: str, now: datetime) -> None:
        stamp = now.isoformat(timespec="seconds")

        def body(cur: Cursor) -> None:
            touch_host(cur, self.host, now)
            cur.execute(
                "UPDATE agentd.projects"
                " SET claim = jsonb_set(claim, '{heartbeat}', to_jsonb(%s::text))"
                " WHERE claim->>'run_id' = %s",
                (stamp, run_id),
            )

        self.db.transact(f"heartbeat of run {run_id} not written", body)

    # -- outcomes --------------------------------------------------------------------------

    def record(self, project: str, task: str, record: TaskRecord) -> None:
        key = f"{record.run_id}/{project}/{task}"

        def body(cur: Cursor) -> ClaimLost | None:
            # The ledger's lock, as reserve takes it: a budget check sees this run either
            # reserved or settled, never neither (taken before the project's row, as there).
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LEDGER_LOCK,))
            cur.execute("DELETE FROM agentd.reserved WHERE key = %s", (key,))
            if record.usage is not None:
                # Money spent stays spent: counted even from a sweep whose claim was taken
                # over, whose outcome no longer counts (as the JSON store does).
                entry = jsonb(record.spend_entry(project, task))
                cur.execute(
                    "INSERT INTO agentd.spend (date, key, entry) VALUES (%s, %s, %s)"
                    " ON CONFLICT (date, key) DO UPDATE SET entry = EXCLUDED.entry",
                    (record.date, key, entry),
                )
                expired = cutoff(record.date, SPEND_DAYS_KEPT)  # as rules.expired_days
                if expired is not None:
                    cur.execute("DELETE FROM agentd.spend WHERE date <= %s", (expired,))
            doc, claim = lock_project(cur, project)
            try:
                check_holder(claim, project, record.run_id)
            except ClaimLost as lost:
                return lost
            tasks = {**(doc.get("tasks") or {}), task: record.to_dict()}
            set_doc(cur, project, {**doc, "tasks": tasks})
            return None

        lost = self.db.transact(f"task {task} of project {project} not recorded", body)
        if lost is not None:
            raise lost

    def release(self, project: str, run_id: str, record: ProjectRecord | None) -> None:
        def body(cur: Cursor) -> None:
            # The ledger's lock (see record): the claim and the reservations go together.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LEDGER_LOCK,))
            doc, claim = lock_project(cur, project)
            check_holder(claim, project, run_id)  # raised: rolled back, nothing written
            cur.execute(
                "DELETE FROM agentd.reserved"
                " WHERE entry->>'project' = %s AND entry->>'run_id' = %s",
                (project, run_id),
            )
            set_claim(cur, project, None)
            if record is not None:
                set_doc(cur, project, {**doc, **outcome(record)})

        what = f"outcome of project {project} not recorded (its claim is kept)"
        self.db.transact(what, body)

    def record_blocked(self, blocked: dict[str, Blocked], date: str, run_id: str, at: str) -> None:
        if not blocked:
            return

        def body(cur: Cursor) -> None:
            for name, block in sorted(blocked.items()):  # one lock order: no deadlock
                cur.execute(
                    "INSERT INTO agentd.projects (name) VALUES (%s) ON CONFLICT DO NOTHING",
                    (name,),
                )
                doc, _ = lock_project(cur, name)
                current = Snapshot({"projects": {name: doc}}).blocked(name)
                set_doc(
                    cur, name, {**doc, "blocked": blocked_entry(current, block, date, run_id, at)}
                )

        what = f"blocked projects ({', '.join(sorted(blocked))}) not recorded"
        self.db.transact(what, body)

    def forget_absent(self, configured: Collection[str], sweeps: int) -> list[str]:
        wanted = sorted(set(configured))

        def body(cur: Cursor) -> list[str]:
            cur.execute(
                "UPDATE agentd.projects SET absent = 0 WHERE absent <> 0 AND name = ANY(%s)",
                (wanted,),
            )
            rows = cur.execute(
                "UPDATE agentd.projects SET absent = absent + 1"
                " WHERE doc <> '{}' AND NOT name = ANY(%s) RETURNING name, absent",
                (wanted,),
            ).fetchall()
            forgotten = sorted(name for name, count in rows if count >= sweeps)
            cur.execute(
                "UPDATE agentd.projects SET doc = '{}', absent = 0 WHERE name = ANY(%s)",
                (forgotten,),
            )
            cur.execute("DELETE FROM agentd.projects WHERE doc = '{}' AND claim IS NULL")
            return forgotten

        return self.db.transact("absent projects not counted", body)

    def record_run(
        self, summary: dict[str, Any], keep: int, report: dict[str, Any] | None = None
    ) -> None:
        host = str(summary.get("host") or self.host)
        run_id = str(summary.get("run_id", ""))
        stored = {**summary, "host": host}

        def body(cur: Cursor) -> None:
            cur.execute(
                "INSERT INTO agentd.runs (host, run_id, finished, summary, report)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (host, run_id) DO UPDATE"
                " SET finished = EXCLUDED.finished, summary = EXCLUDED.summary,"
                " report = COALESCE(EXCLUDED.report, agentd.runs.report)",
                (
                    host,
                    run_id,
                    finished(summary),
                    jsonb(stored),
                    None if report is None else jsonb(report),
                ),
            )
            cur.execute(  # the newest ``keep`` of this host, in the history's order
                "DELETE FROM agentd.runs WHERE host = %s AND run_id NOT IN"
                " (SELECT run_id FROM agentd.runs WHERE host = %s"
                " ORDER BY finished DESC NULLS LAST, run_id DESC LIMIT %s)",
                (host, host, max(keep, 1)),
            )
            # Housekeeping, once a sweep: retry ids outlive any retry, presence one night.
            cur.execute("DELETE FROM agentd.applied WHERE at < now() - interval '1 day'")
            old = cutoff(str(summary.get("date") or ""), PRESENCE_DAYS_KEPT)
            if old is not None:
                cur.execute("DELETE FROM agentd.missing WHERE date < %s", (old,))
                cur.execute("DELETE FROM agentd.nowhere WHERE date < %s", (old,))

        self.db.transact(f"summary of run {run_id} not recorded", body)

    # -- the daemon ------------------------------------------------------------------------

    def record_fire(self, fire: str, handled: bool, reason: str | None, now: datetime) -> None:
        def body(cur: Cursor) -> None:
            touch_host(cur, self.host, now)
            row = cur.execute(
                "SELECT fires FROM agentd.hosts WHERE host = %s FOR UPDATE", (self.host,)
            ).fetchone()
            fires = row[0] if row and isinstance(row[0], dict) else {}
            after = fires_after(fires, fire, handled, reason, now)
            if after is not None:
                cur.execute(
                    "UPDATE agentd.hosts SET fires = %s WHERE host = %s", (jsonb(after), self.host)
                )

        self.db.transact(f"fire {fire} not recorded", body)

    def set_daemon(self, info: dict[str, Any]) -> None:
        def body(cur: Cursor) -> None:
            cur.execute(
                # seen only for a host new to the store: a daemon that has not swept yet
                "INSERT INTO agentd.hosts (host, daemon, seen) VALUES (%s, %s, now())"
                " ON CONFLICT (host) DO UPDATE SET daemon = EXCLUDED.daemon",
                (self.host, jsonb(info)),
            )

        self.db.transact("the daemon's status not published", body)

    # -- budgets ---------------------------------------------------------------------------

    def reserve(
        self, project: str, task: str, run_id: str, decide: Decide, now: datetime
    ) -> Reserved | Refused:
        def body(cur: Cursor) -> Reserved | Refused:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LEDGER_LOCK,))
            # A run that lost its claim would hold a reservation nobody counts.
            check_holder(lock_project(cur, project)[1], project, run_id)
            key = (project, task, run_id)
            answer, kept = reserve_step(
                ledger(cur, self.where), decide, key, self.host, now, self.stale_after
            )
            if isinstance(answer, Reserved) and kept is not None:
                # Lapsed ones go as this one is written.
                cur.execute("DELETE FROM agentd.reserved WHERE NOT key = ANY(%s)", (list(kept),))
                new = f"{run_id}/{project}/{task}"
                cur.execute(
                    "INSERT INTO agentd.reserved (key, entry) VALUES (%s, %s)"
                    " ON CONFLICT (key) DO UPDATE SET entry = EXCLUDED.entry",
                    (new, jsonb(kept[new])),
                )
            return answer

        return self.db.transact(f"task {task} of project {project} not reserved", body)

    # -- hosts -----------------------------------------------------------------------------

    def publish_presence(
        self, date: str, missing: Collection[str], now: datetime
    ) -> dict[str, list[str]]:
        names = sorted(set(missing))

        def body(cur: Cursor) -> dict[str, list[str]]:
            touch_host(cur, self.host, now)
            return others_having(cur, self.host, date, names, now - KNOWN_FOR)

        return self.db.transact(f"missing projects of {self.host} not published", body)

    def claim_nowhere(self, project: str, date: str, hosts: Collection[str]) -> bool:
        def body(cur: Cursor) -> bool:
            return mark_nowhere(cur, date, project, self.host)

        return self.db.transact(f"project {project} not marked missing everywhere", body)
