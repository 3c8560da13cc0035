"""The shared store ``[state] backend = "postgres"``: the server reachable from this host,
and its schema the version this agentd uses. Nothing is created or changed (an empty
database gets its schema from the first sweep)."""

from __future__ import annotations

from agentd.config.model import StateSection
from agentd.daemon.output.redact import redact
from agentd.daemon.output.textout import harmless
from agentd.daemon.service.doctor.check import Check, ok, problem
from agentd.state import StateError


def database_checks(state: StateSection) -> list[Check]:
    """None for the JSON store: the state directory's checks are its checks."""
    if state.backend != "postgres" or state.url is None:
        return []
    from agentd.config.conninfo import masked, secrets
    from agentd.state.pgprobe import SCHEMA_VERSION, schema_version

    subject = harmless(masked(state.url))
    try:
        where, found = schema_version(state.url)
    except StateError as exc:
        shown = redact(str(exc), secrets(state.url))
        return [problem("state: database", subject, harmless(shown))]
    where = harmless(where)
    if found is None:
        why = f"{where} reachable, no agentd schema yet: the first sweep creates it"
        return [ok("state: database", subject, why)]
    if found < SCHEMA_VERSION:
        why = (
            f"{where} has schema version {found}, this agentd needs {SCHEMA_VERSION}: "
            "run `agentd state migrate` once every host runs this agentd"
        )
        return [problem("state: database", subject, why)]
    if found > SCHEMA_VERSION:
        why = (
            f"{where} has schema version {found}, this agentd knows only {SCHEMA_VERSION}: "
            "upgrade agentd on this host"
        )
        return [problem("state: database", subject, why)]
    return [ok("state: database", subject, f"{where} reachable, schema version {found} (current)")]
