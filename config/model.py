"""The schema of ``config.toml`` (SPEC section 2), as pydantic models.

Every model forbids unknown keys, because pydantic ignores them by default and a typo such
as ``max_paralel_projects`` would otherwise silently keep the default. Every model is strict:
TOML has real types, so ``max_parallel_projects = "4"`` is a mistake worth reporting, not
coercing. Environment overrides arrive as strings and are typed before validation (see
``config.loader``).

Checks that need the whole file (does a task exist, is there a cycle) live in
``config.crossref``; this module checks what one table can know about itself.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from agentd.config.cron import CronError, parse_cron
from agentd.config.fields import (
    DEFAULT_MAX_LOG_SIZE,
    PLACEHOLDER_RE,
    Argv,
    Duration,
    Fits,
    HostName,
    HostPattern,
    LogSize,
    NoNul,
    PositiveDuration,
    Strict,
    check_env,
    check_name,
    lowercase,
)
from agentd.config.presets import USAGE_FORMATS


class ScheduleSection(Strict):
    cron: str = "30 2 * * *"
    timezone: str | None = None
    catch_up: Annotated[Literal["once", "none"], BeforeValidator(lowercase)] = "once"
    catch_up_window: PositiveDuration = 12 * 3600.0
    jitter: Annotated[Duration, Field(ge=0)] = 0.0

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            parse_cron(value)
        except CronError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'"
            ) from None
        return value


class RunSection(Strict):
    project_parallelism: bool = False
    # Upper bounds catch typos; nobody runs a thousand projects at once on one host.
    max_parallel_projects: Annotated[int, Field(ge=1, le=1024)] = 4
    max_projects: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    task_timeout: PositiveDuration = 30 * 60.0
    kill_grace: Annotated[Duration, Field(ge=0)] = 10.0
    on_task_failure: Annotated[Literal["continue", "stop"], BeforeValidator(lowercase)] = "continue"
    keep_runs: Annotated[int, Field(ge=1, le=1_000_000)] = 30
    # Agent tasks running at once across the sweep, to stay under the providers' rate
    # limits; 0 leaves them bounded by max_parallel_projects alone.
    max_parallel_agents: Annotated[int, Field(ge=0, le=1024)] = 0
    # The same across every host of a shared store ([state] backend = "postgres"); 0: no
    # bound but each host's own.
    max_parallel_agents_global: Annotated[int, Field(ge=0, le=1024)] = 0
    # A task's output kept in its log: one that prints gigabytes must not fill the disk,
    # thirty runs over (keep_runs).
    max_log_size: LogSize = DEFAULT_MAX_LOG_SIZE
    # Every task's environment: a system unit starts with systemd's bare PATH, without
    # ~/.local/bin or npm's bin where linters and agent CLIs live. A project's own env wins
    # over ``env``; ``path`` is put in front of PATH (``env``'s PATH or the inherited one).
    env: dict[str, str] = Field(default_factory=dict)
    path: list[Annotated[str, Field(min_length=1), NoNul]] = Field(default_factory=list)

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        return check_env(value)

    @field_validator("path")
    @classmethod
    def _path(cls, value: list[str]) -> list[str]:
        for item in value:
            if ":" in item:
                raise ValueError(f"{item!r}: one directory per element; ':' separates PATH")
        return value

    @property
    def bound(self) -> int:
        """How many projects may run at once: the toggle off means exactly one."""
        return self.max_parallel_projects if self.project_parallelism else 1


class MetricsSection(Strict):
    """Prometheus metrics for node_exporter's textfile collector, which reads only files
    named ``*.prom``."""

    textfile: Annotated[str, Field(min_length=1), NoNul] | None = None

    @field_validator("textfile")
    @classmethod
    def _prom(cls, value: str | None) -> str | None:
        if value is not None and not value.endswith(".prom"):
            raise ValueError("node_exporter's textfile collector reads only files ending in .prom")
        return value


class StateSection(Strict):
    """Where the skip guard, claims, ledger and history live: the state directory's JSON
    file (one host), or a PostgreSQL database that several hosts share."""

    backend: Annotated[Literal["json", "postgres"], BeforeValidator(lowercase)] = "json"
    # A secret: masked by `config show`, never in a message (config.conninfo).
    url: Annotated[str, NoNul] | None = None
    # None: the machine's hostname, read when the store opens.
    host: HostName | None = None
    claim_stale_after: PositiveDuration = 300.0
    retry_for: Annotated[Duration, Field(ge=0)] = 60.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            from agentd.config.conninfo import parse

            parse(value)
        return value

    @model_validator(mode="after")
    def _url_with_postgres(self) -> StateSection:
        if self.backend == "postgres" and self.url is None:
            raise ValueError(
                'backend = "postgres" needs a url (or AGENTD_STATE__URL), '
                "e.g. 'postgresql://agentd@db1/agentd'"
            )
        if self.backend == "json" and self.url is not None:
            raise ValueError(
                'url is used only with backend = "postgres"; the JSON store lives in the '
                "state directory"
            )
        return self


class PathsSection(Strict):
    state_dir: Annotated[str, NoNul] | None = None


class LogSection(Strict):
    level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(lowercase)] = (
        "info"
    )
    format: Annotated[Literal["auto", "json", "console"], BeforeValidator(lowercase)] = "auto"


Isolation = Annotated[Literal["none", "worktree"], BeforeValidator(lowercase)]


class DefaultsSection(Strict):
    tasks: list[str] = Field(default_factory=list)
    # What a project that does not say gets; off by default so that a plain command such
    # as a linter keeps working in a checkout that is not a git repository.
    require_clean: bool = False
    isolation: Isolation = "none"


Money = Annotated[float, Field(ge=0, le=1_000_000)]
Tokens = Annotated[int, Field(ge=0, le=10**15)]


class Limits(Strict):
    """Spend limits; None means no limit, 0 means no agent task at all."""

    nightly_usd: Money | None = None
    weekly_usd: Money | None = None
    nightly_tokens: Tokens | None = None
    weekly_tokens: Tokens | None = None

    def items(self) -> list[tuple[str, float]]:
        keys = ("nightly_usd", "weekly_usd", "nightly_tokens", "weekly_tokens")
        return [(k, float(v)) for k in keys if (v := getattr(self, k)) is not None]


class BudgetSection(Limits):
    """Overall limits, and per agent (``[budget.agents.claude]``)."""

    agents: dict[str, Limits] = Field(default_factory=dict)


_URL_RE = re.compile(r"^https?://[^/\s?#]+", re.IGNORECASE)


class NotifySection(Strict):
    """Alerts after a sweep: a command (the alert as JSON on stdin) and/or a webhook."""

    when: Annotated[Literal["failure", "always"], BeforeValidator(lowercase)] = "failure"
    command: Argv | None = None
    webhook: Annotated[str, NoNul] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: PositiveDuration = 30.0
    # A dead-man's switch in the healthchecks.io convention: <url>/start as a sweep
    # starts, <url> or <url>/fail as it ends. A night with no ping at all is then noticed
    # by the ping service even when agentd itself is down.
    ping_url: Annotated[str, NoNul] | None = None

    @property
    def configured(self) -> bool:
        return self.command is not None or self.webhook is not None

    @field_validator("webhook", "ping_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not _URL_RE.match(value):
            raise ValueError("expected an http:// or https:// URL with a host")
        if value is not None and "@" in value.split("/", 3)[2]:
            # urllib would not send them (it reads them as part of the host) and they would
            # end up in error messages: an Authorization header does this job.
            raise ValueError(
                "credentials in the URL are not supported; "
                'use headers = { Authorization = "Basic ..." } instead'
            )
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not re.match(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", key):
                raise ValueError(f"{key!r} is not a valid HTTP header name")
            if any(c in item for c in "\r\n\x00"):
                raise ValueError(f"the value of header {key} contains a line break or NUL")
        return value


if TYPE_CHECKING:
    UsageFormat = str
else:
    # The presets' names, so that naming a new agent there admits its format here too.
    UsageFormat = Literal[USAGE_FORMATS]


class AgentSpec(Strict):
    command: Argv
    # How to read cost and tokens from the agent's output (agentd.daemon.agents.registry). Unset: a
    # built-in preset's own format, or "auto" (each known format tried) for others.
    usage: Annotated[UsageFormat, BeforeValidator(lowercase)] | None = None

    @field_validator("command")
    @classmethod
    def _has_prompt(cls, value: list[str]) -> list[str]:
        if not any("{prompt}" in part for part in value):
            raise ValueError("an agent command must pass the prompt: put '{prompt}' in it")
        return value


class TaskSpec(Strict):
    command: Argv | None = None
    shell: Annotated[str, Field(min_length=1), NoNul, Fits] | None = None
    agent: str | None = None
    prompt: Annotated[str, Field(min_length=1), NoNul, Fits] | None = None
    timeout: PositiveDuration | None = None
    max_log_size: LogSize | None = None

    @field_validator("shell")
    @classmethod
    def _no_placeholders(cls, value: str | None) -> str | None:
        # Substituting into a shell string would let a project name or prompt inject code.
        if value is not None and (found := PLACEHOLDER_RE.search(value)):
            name = found.group(1)
            raise ValueError(
                f"placeholders are not substituted in shell strings; "
                f'use "$AGENTD_{name.upper()}" instead of {found.group(0)}'
            )
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> TaskSpec:
        kinds = [k for k in ("command", "shell", "agent") if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = " and ".join(kinds) if kinds else "none"
            raise ValueError(f"a task needs exactly one of command, shell or agent (found {found})")
        if self.agent is not None and self.prompt is None:
            raise ValueError("an agent task needs a prompt")
        if self.agent is None and self.prompt is not None:
            raise ValueError('prompt is only used by agent tasks; add agent = "..."')
        return self

    @property
    def kind(self) -> str:
        return "command" if self.command else "shell" if self.shell else "agent"


# A project's run directory sits next to these files of the run (report.html: the HTML
# report to come; reserved now so that no configuration has to change then).
RESERVED_PROJECT_NAMES = frozenset(
    {"report.json", "report.md", "report.html", "alert.json", "alert-command.log"}
)


class ProjectSpec(Strict):
    name: str
    path: Annotated[str, Field(min_length=1), NoNul]
    tasks: list[str] | None = None
    depends_on: list[str] = Field(default_factory=list)
    enabled: bool = True
    env: dict[str, str] = Field(default_factory=dict)
    # None: as [defaults] says.
    require_clean: bool | None = None
    isolation: Isolation | None = None
    # The branch require_clean expects and worktrees start from; found from the remote's
    # HEAD (or a local main/master) when not given.
    default_branch: Annotated[str, Field(min_length=1), NoNul] | None = None
    # fnmatch patterns of the hosts that may run it (a shared store); empty: any host.
    hosts: list[HostPattern] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value in RESERVED_PROJECT_NAMES:
            raise ValueError(f"project name {value!r} is reserved (runs/<run_id>/{value} is taken)")
        return check_name(value, "project")

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        return check_env(value)


def _check_table_names(value: dict[str, Any], what: str) -> dict[str, Any]:
    for key in value:
        check_name(key, what)
    return value


# Keys and their scalar types that AGENTD_<SECTION>__<KEY> may override.
SECTIONS: dict[str, type[Strict]] = {
    "schedule": ScheduleSection,
    "run": RunSection,
    "paths": PathsSection,
    "log": LogSection,
    "budget": BudgetSection,
    "notify": NotifySection,
    "metrics": MetricsSection,
    "state": StateSection,
}


class Settings(Strict):
    """The whole file. Loaded through ``config.loader.load_config``, never built directly:
    it merges the environment's overrides into the file's tables first."""

    # As pydantic-settings validated it (agentd used it until the read commands had to
    # start fast): defaults validated too.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True)

    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    run: RunSection = Field(default_factory=RunSection)
    paths: PathsSection = Field(default_factory=PathsSection)
    log: LogSection = Field(default_factory=LogSection)
    defaults: DefaultsSection = Field(default_factory=DefaultsSection)
    budget: BudgetSection = Field(default_factory=BudgetSection)
    notify: NotifySection = Field(default_factory=NotifySection)
    metrics: MetricsSection = Field(default_factory=MetricsSection)
    state: StateSection = Field(default_factory=StateSection)
    agents: dict[str, AgentSpec] = Field(default_factory=dict)
    tasks: dict[str, TaskSpec] = Field(default_factory=dict)
    projects: list[ProjectSpec] = Field(default_factory=list)

    @field_validator("agents")
    @classmethod
    def _agent_names(cls, value: dict[str, AgentSpec]) -> dict[str, AgentSpec]:
        return _check_table_names(value, "agent")

    @field_validator("tasks")
    @classmethod
    def _task_names(cls, value: dict[str, TaskSpec]) -> dict[str, TaskSpec]:
        return _check_table_names(value, "task")
