"""report.html: the sweep's page, rendered by Jinja2 from the templates beside this module.

Autoescaping is on for every template and an undefined name is an error, not an empty
string: project names, prompts, task output and agents' answers are untrusted, and a
misspelt variable must fail the tests rather than leave a hole in the page. The page is
one file (styles and the charts inline, no network), so it can be mailed, copied off a
server or opened years later.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from agentd.daemon.model.report import Report
from agentd.daemon.output.html import view
from agentd.daemon.output.html.document import report_from_doc

if TYPE_CHECKING:
    from agentd.config import Config
    from agentd.daemon.model.history import History
    from agentd.state import StateStore

TEMPLATES = Path(__file__).parent / "templates"
PAGE = "report.html.j2"
# The charts' partials: drawn only by templates that exist (another part of the page
# provides them; a page without them still says everything else).
TIMELINE = "_timeline.svg.j2"
HISTORY = "_history.html.j2"
HISTORY_NIGHTS = 14


@dataclass(frozen=True)
class PageModel:
    run_id: str
    verdict: view.Verdict
    needs: view.NeedsYou
    agents: list[view.AgentRun]
    projects: list[view.ProjectRow]
    tasks: int


@functools.cache
def environment() -> jinja2.Environment:
    """One per process: the daemon renders a page every night from templates compiled once."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    report: Report, history: History | None, config: Config | None, run_dir: Path
) -> str:
    """The page of a sweep that has just ended (the report as the sweep made it)."""
    return _render(report.to_dict(), report, history, config, run_dir)


def render_document(
    doc: dict[str, Any], history: History | None, config: Config | None, run_dir: Path
) -> str:
    """The page of a report read back from report.json; ValueError (or KeyError,
    TypeError) when the file is not a report of this agentd."""
    return _render(doc, report_from_doc(doc), history, config, run_dir)


def _render(
    doc: dict[str, Any],
    report: Report,
    history: History | None,
    config: Config | None,
    run_dir: Path,
) -> str:
    model = PageModel(
        run_id=view.text(doc["run_id"]),
        verdict=view.verdict(doc, history),
        needs=view.needs_you(doc, doc.get("changes")),
        agents=view.agent_runs(doc),
        projects=view.project_rows(doc),
        tasks=sum(len(p["tasks"]) for p in doc["projects"]),
    )
    timeline, history_view = _charts(report, history, config)
    return (
        environment()
        .get_template(PAGE)
        .render(
            page=model,
            timeline=timeline,
            history_view=history_view,
            run_dir=view.text(run_dir),
        )
    )


def _charts(report: Report, history: History | None, config: Config | None) -> tuple[Any, Any]:
    """The timeline and history values the partials draw, None for a partial not there."""
    if not (TEMPLATES / TIMELINE).is_file() and not (TEMPLATES / HISTORY).is_file():
        return None, None
    from agentd.daemon.output.html import charts

    timeline = None
    if (TEMPLATES / TIMELINE).is_file():
        zone = config.zone if config is not None else _zone_of(report)
        agents = report.max_parallel_agents or 0
        timeline = charts.timeline(report, zone, report.mode.max_parallel_projects, agents)
    shown = None
    if history is not None and (TEMPLATES / HISTORY).is_file():
        shown = charts.history_view(history)
    return timeline, shown


def _zone_of(report: Report) -> tzinfo:
    """Without the configuration, the zone the sweep's times were written in."""
    zone = datetime.fromisoformat(report.started_at).tzinfo
    if zone is None:
        raise ValueError("started_at has no zone")
    return zone


def sweep_history(store: StateStore, config: Config | None, date: str) -> History | None:
    """The nights up to ``date``, from the store; None without a configuration (its zone
    and schedule say which nights there were)."""
    if config is None:
        return None
    from agentd.daemon.model.history import build_history

    return build_history(store.read(), config, date, HISTORY_NIGHTS)
