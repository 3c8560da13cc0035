"""A Report value back from report.json, for pages made after the sweep (``agentd report
--html`` on a run from before report.html existed): the charts take the value the sweep
had, and this is that value as far as the file holds it.

report.json is input like any other: a field of the wrong type is a ValueError naming it,
never a chart drawn from nonsense.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from agentd.daemon.model.report import Mode, Report
from agentd.daemon.model.results import Counts, Failure, ProjectResult, TaskResult
from agentd.daemon.model.status import ProjectStatus, SweepStatus, TaskStatus

_TASK_FIELDS = {f.name for f in fields(TaskResult)} - {"cause"}
_TASK_TEXT = ("reason", "started_at", "finished_at", "log", "output_tail", "agent")


def report_from_doc(doc: dict[str, Any]) -> Report:
    """The Report of a report.json's contents (spend and budget left out: the page shows
    them from the JSON form itself)."""
    mode = _dict(doc, "mode")
    return Report(
        run_id=_str(doc, "run_id"),
        trigger=_str(doc, "trigger"),
        date=_str(doc, "date"),
        started_at=_str(doc, "started_at"),
        finished_at=_str(doc, "finished_at"),
        duration_s=_number(doc, "duration_s") or 0.0,
        status=SweepStatus(_str(doc, "status")),
        mode=Mode(
            bool(mode.get("project_parallelism")), int(mode.get("max_parallel_projects") or 1)
        ),
        speedup=_number(doc, "speedup"),
        max_parallel_agents=_int(doc, "max_parallel_agents"),
        projects=[_project(p) for p in _list(doc, "projects")],
        failures=[_failure(f) for f in _list(doc, "failures")],
        counts=Counts(**{k: int(v) for k, v in _dict(doc, "counts").items()}),
        selected=doc.get("selected"),
        force=bool(doc.get("force")),
        config=str(doc.get("config", "")),
        host=str(doc.get("host", "")),
        pid=int(doc.get("pid") or 0),
        agentd_version=str(doc.get("agentd_version", "")),
        run_dir=doc.get("run_dir"),
        config_errors=doc.get("config_errors"),
    )


def _project(item: Any) -> ProjectResult:
    if not isinstance(item, dict):
        raise ValueError("a project that is not an object")
    return ProjectResult(
        name=_str(item, "name"),
        status=ProjectStatus(_str(item, "status")),
        reason=str(item.get("reason") or ""),
        started_at=_opt_str(item, "started_at"),
        finished_at=_opt_str(item, "finished_at"),
        tasks=[_task(t) for t in _list(item, "tasks")],
    )


def _task(item: Any) -> TaskResult:
    if not isinstance(item, dict):
        raise ValueError("a task that is not an object")
    known = {k: v for k, v in item.items() if k in _TASK_FIELDS}
    for key in _TASK_TEXT:
        if key in known and known[key] is not None and not isinstance(known[key], str):
            raise ValueError(f"task {key} is not text")
    known["name"] = _str(item, "name")
    known["status"] = TaskStatus(_str(item, "status"))
    known["duration_s"] = _number(item, "duration_s")
    known["exit_code"] = _int(item, "exit_code")
    known["reason"] = known.get("reason") or ""
    known["output_tail"] = known.get("output_tail") or ""
    return TaskResult(**known)


def _failure(item: Any) -> Failure:
    if not isinstance(item, dict):
        raise ValueError("a failure that is not an object")
    status = _str(item, "status")
    kind: TaskStatus | ProjectStatus = (
        TaskStatus(status) if status in set(TaskStatus) else ProjectStatus(status)
    )
    return Failure(
        _opt_str(item, "project"), _opt_str(item, "task"), kind, str(item.get("message"))
    )


def _str(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} is not text")
    return value


def _opt_str(item: dict[str, Any], key: str) -> str | None:
    return None if item.get(key) is None else _str(item, key)


def _number(item: dict[str, Any], key: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} is not a number")
    return float(value)


def _int(item: dict[str, Any], key: str) -> int | None:
    value = _number(item, key)
    return None if value is None else int(value)


def _dict(item: dict[str, Any], key: str) -> dict[str, Any]:
    value = item.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{key} is not an object")
    return value


def _list(item: dict[str, Any], key: str) -> list[Any]:
    value = item.get(key)
    if not isinstance(value, list):
        raise ValueError(f"{key} is not a list")
    return value
