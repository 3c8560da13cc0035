"""Spend and budget as people read them: in ``agentd status`` and in ``report.md``.

Both show the same rows (today and the last seven days, per project and per agent), so
what the report said at the end of a sweep and what status says now are easy to compare.
They render the JSON form (report.json, ``agentd status --json``): a report read back
from disk shows as the sweep wrote it.
"""

from __future__ import annotations

from typing import Any

from agentd.daemon.model.budget import amount_text, describe


def totals_text(totals: dict[str, Any]) -> str:
    text = f"{amount_text(totals['usd'], 'usd')}, {amount_text(totals['tokens'], 'tokens')}"
    runs = totals["runs"]
    text += f" in {runs} agent run" + ("" if runs == 1 else "s")
    if totals.get("unknown"):
        text += f" ({totals['unknown']} with usage unknown, not counted)"
    return text


def rows(spend: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, name, today, week) for every project and agent that ran this week."""
    out = []
    for what, key in (("project", "by_project"), ("agent", "by_agent")):
        week = spend["week"][key]
        today = spend["today"][key]
        for name, totals in week.items():
            now = today.get(name)
            out.append((what, name, _cell(now) if now else "-", _cell(totals)))
    return out


def _cell(totals: dict[str, Any]) -> str:
    cell = f"{amount_text(totals['usd'], 'usd')} / {totals['tokens']:,} tok"
    return cell + (f" ({totals['unknown']} unknown)" if totals.get("unknown") else "")


def anything_to_show(spend: dict[str, Any], budget: dict[str, Any] | None = None) -> bool:
    """Whether a Spend section says anything: an agent ran in the last 7 days (this sweep
    included), or a budget limit is set, or kept a task from starting. Without agents it
    would be rows of zeros, so it is left out (the JSON forms keep their ``spend``)."""
    budget = budget or {}
    runs = (
        spend["week"]["total"]["runs"],
        spend["today"]["total"]["runs"],
        (spend.get("sweep") or {}).get("runs"),
    )
    return any(runs) or bool(budget.get("standing") or budget.get("skipped"))


def status_lines(spend: dict[str, Any], standing: list[dict[str, Any]]) -> list[str]:
    if not anything_to_show(spend, {"standing": standing}):
        return []
    lines = [
        f"spend:       today ({spend['date']}) {totals_text(spend['today']['total'])}",
        f"             last 7 days (since {spend['week_from']}) "
        f"{totals_text(spend['week']['total'])}",
    ]
    table = rows(spend)
    if table:
        width = max(len(name) for _, name, _, _ in table) + 10
        lines.append(f"  {'':<{width}}  {'today':<24}  last 7 days")
        for what, name, today, week in table:
            lines.append(f"  {what + ' ' + name:<{width}}  {today:<24}  {week}")
    for item in standing:
        lines.append(f"budget:      {describe(item)}")
    return lines


def markdown_lines(report: dict[str, Any]) -> list[str]:
    spend = report.get("spend")
    budget = report.get("budget") or {}
    if not spend or not anything_to_show(spend, budget):
        return []
    lines = ["", "## Spend", ""]
    if "sweep" in spend:
        lines.append(f"- this sweep: {totals_text(spend['sweep'])}")
    lines.append(f"- {spend['date']}: {totals_text(spend['today']['total'])}")
    lines.append(
        f"- last 7 days (since {spend['week_from']}): {totals_text(spend['week']['total'])}"
    )
    for item in budget.get("standing", []):
        lines.append(f"- budget: {describe(item)}")
    table = rows(spend)
    if table:
        lines += ["", "| | name | today | last 7 days |", "|---|---|---|---|"]
        lines += [f"| {what} | {name} | {today} | {week} |" for what, name, today, week in table]
    skipped = budget.get("skipped", [])
    if skipped:
        lines += ["", f"Skipped for the budget ({len(skipped)}):", ""]
        lines += [f"- {s['project']} / {s['task']}: {s['reason']}" for s in skipped]
    return lines
