"""report.html: the sweep's page, rendered by Jinja2 from the templates beside this module.

Autoescaping is on for every template and an undefined name is an error, not an empty
string: project names, prompts, task output and agents' answers are untrusted, and a
misspelt variable must fail the tests rather than leave a hole in the page. The page is
one file (styles and the charts inline, no network), so it can be mailed, copied off a
server or opened years later.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from agentd.daemon.model.report import Report
from agentd.daemon.output.html import charts, view
from agentd.daemon.output.html.needs import FailureView, NeedsYou, needs_you

if TYPE_CHECKING:
    from agentd.config import Config
    from agentd.daemon.model.history import History
    from agentd.state import StateStore

TEMPLATES = Path(__file__).parent / "templates"
PAGE = "report.html.j2"
HISTORY_NIGHTS = 14


@dataclass(frozen=True)
class PageModel:
    run_id: str
    verdict: view.Verdict
    needs: NeedsYou
    agents: list[view.AgentRun]
    projects: list[view.ProjectRow]
    tasks: int


class _BestEffortCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept between processes (jinja2's own cache, in a directory of
    this user's only, which it checks): compiling them cost every ``run --once`` about
    0.2 s of CPU, more than rendering a page of 300 projects. Only ever a speed-up: a
    cache that cannot be read or written (a full disk, a damaged file) is no cache, never
    a failed page."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError, TypeError):
            bucket.reset()  # compiled afresh

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    try:
        return _BestEffortCache()
    except (OSError, RuntimeError):  # no private directory to be had under $TMPDIR
        return None


@functools.cache
def environment() -> jinja2.Environment:
    """One per process: the daemon renders a page every night from templates compiled once
    (compiling them all costs more than rendering a page of 300 projects). Not reloaded
    when the files change: an upgrade under a running daemon must not pair new templates
    with the old code that fills them in."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        bytecode_cache=_bytecode_cache(),
    )


@functools.cache
def warm() -> None:
    """Compile every template now. The daemon does it as it starts, so that a night's page
    costs only its rendering (BENCHMARKS.md, "The HTML report"), and so that the templates
    it renders are the ones installed with the code it runs: a partial compiled on first
    use could come from files an upgrade replaced meanwhile."""
    env = environment()
    for name in env.list_templates(filter_func=lambda name: name.endswith(".j2")):
        env.get_template(name)


def template() -> jinja2.Template:
    """The page's template, compiled on first use; its partials are compiled on the first
    render that includes them, and cached by the environment."""
    return environment().get_template(PAGE)


def render_html(
    report: Report, history: History | None, config: Config | None, run_dir: Path
) -> str:
    """The page of a sweep that has just ended (the report as the sweep made it)."""
    return render_document(report.to_dict(), history, config, run_dir)


def render_document(
    doc: dict[str, Any],
    history: History | None,
    config: Config | None,
    run_dir: Path,
    elsewhere: str | None = None,
) -> str:
    """The page of a report in its JSON form, also one read back from report.json; KeyError,
    TypeError, ValueError or AttributeError when it is not a report of this agentd.
    ``config`` (None when it does not load) gives the axis's zone and the dependencies.
    ``elsewhere``: the host that ran the sweep, when it is not this one (the page is made
    away from its run directory): its logs are named by their path there, not linked."""
    model = PageModel(
        run_id=view.text(doc["run_id"]),
        verdict=view.verdict(doc, history),
        needs=needs_you(doc, doc.get("changes")),
        agents=view.agent_runs(doc),
        projects=view.project_rows(doc),
        tasks=sum(len(p["tasks"]) for p in doc["projects"]),
    )
    if elsewhere is not None:
        model = _logs_elsewhere(model, view.logs_elsewhere(doc, elsewhere, run_dir))
    return template().render(
        page=model,
        timeline=_timeline(doc, config),
        history_view=charts.history_view(history) if history is not None else None,
        run_dir=view.text(run_dir),
        elsewhere=view.text(elsewhere or ""),
    )


def _logs_elsewhere(model: PageModel, where: dict[tuple[str, str], str]) -> PageModel:
    """The page's log links made text: "on build-2: /var/lib/agentd/runs/R/p/lint.log"."""

    def failure(f: FailureView) -> FailureView:
        found = where.get((f.project, f.task), "") if f.log else ""
        return replace(f, log=view.Link(found, "") if found else None)

    def row(p: view.ProjectRow) -> view.ProjectRow:
        tasks = [
            t._replace(
                href="", note="; ".join(x for x in (where.get((p.name, t.name)), t.note) if x)
            )
            if t.href
            else t
            for t in p.tasks
        ]
        return replace(p, tasks=tasks)

    needs = model.needs
    needs = replace(
        needs,
        failures=[failure(f) for f in needs.failures],
        more_failures=[failure(f) for f in needs.more_failures],
    )
    return replace(model, needs=needs, projects=[row(p) for p in model.projects])


def _timeline(doc: dict[str, Any], config: Config | None) -> charts.Timeline:
    """Under the bounds the sweep ran with (the report's), in the schedule's zone."""
    bound, agents = charts.bounds_of(doc)
    if config is None:
        return charts.timeline(doc, None, bound, agents)
    depends = {spec.name: list(spec.depends_on) for spec in config.projects}
    return charts.timeline(doc, config.zone, bound, agents, depends)


def sweep_history(store: StateStore, config: Config | None, date: str) -> History:
    """The nights up to ``date``, from the store (without a configuration, its projects
    are those the history names, and missed nights are not told from quiet ones)."""
    from agentd.daemon.model.history import build_history

    return build_history(store.read(), config, date, HISTORY_NIGHTS)
