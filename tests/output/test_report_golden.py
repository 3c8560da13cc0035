"""The demo's reports, byte for byte: report.json and report.md of two real sweeps.

The report is a record other tools read, so its shape is a promise: these goldens were
written by the code before the report became dataclasses, and any change of a key, its
order, a value or a line of the Markdown fails here. Only what differs between two runs
of the same sweep is normalised: run ids, times, durations, paths, the host, the pid and
what the tasks themselves print about time (unittest's "Ran 1 test in 1.004s", the fake
agent's duration and session id).

The demo runs as shipped except for one override, ``project_parallelism = false``: with
three projects at once, which of two agent tasks waiting for the one agent slot gets it
(and so which one the budget then skips) is a race; one project at a time it is not.
It runs twice, as its comments suggest: the second sweep shows what the first left
("done today" projects and tasks, a project whose only task left is kept back by the
budget, a failure retried).

Set AGENTD_WRITE_GOLDEN=1 to write the goldens anew (then read the diff).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentd.daemon import __version__
from tests.helpers import AGENTD, EXAMPLES_BIN, ROOT

GOLDEN = Path(__file__).resolve().parent / "golden"
DEMO = ROOT / "examples" / "demo.toml"

_RUN_ID = re.compile(r"\b\d{8}T\d{6}Z-[0-9a-f]{4}\b")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_JSON_SECONDS = re.compile(r'"(duration_s|speedup)": \d+(\.\d+)?')
_AGENT_MS = re.compile(r'(duration(?:_api)?_ms\\?"?: )\d+')
_UNITTEST = re.compile(r"Ran (\d+) tests? in \d+\.\d+s")
_MD_SECONDS = re.compile(r"(\| |\()\d+\.\ds( \||\))")
_MD_SPEEDUP = re.compile(r"speedup \d+\.\dx")


def _make_demo(root: Path) -> Path:
    """The demo's config and projects in ``root`` (its paths are relative to the file)."""
    shutil.copy(DEMO, root / "demo.toml")
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import make_workspace
    finally:
        sys.path.remove(str(ROOT / "examples"))
    saved = make_workspace.ROOT
    make_workspace.ROOT = root / "workspace"
    try:
        make_workspace.main()
    finally:
        make_workspace.ROOT = saved
    return root / "demo.toml"


def _sweep(config: Path, env: dict[str, str]) -> Path:
    before = set(_runs(config))
    done = subprocess.run(
        [AGENTD, "run", "--once", "--config", str(config)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # legacy's test fails, every time
    (new,) = set(_runs(config)) - before
    return new


def _runs(config: Path) -> list[Path]:
    runs = config.parent / "workspace" / ".state" / "runs"
    return sorted(p for p in runs.iterdir() if not p.name.startswith(".")) if runs.exists() else []


def normalise(text: str, root: Path, date: str) -> str:
    """What differs between two runs of the same sweep, as placeholders; nothing else."""
    week_from = (dt.date.fromisoformat(date) - dt.timedelta(days=6)).isoformat()
    text = text.replace(str(root.resolve()), "<ROOT>").replace(str(root), "<ROOT>")
    text = _RUN_ID.sub("<RUN_ID>", text)
    text = _TIME.sub("<TIME>", text)
    text = text.replace(date, "<DATE>").replace(week_from, "<WEEK_FROM>")
    text = _UUID.sub("<UUID>", text)
    text = _JSON_SECONDS.sub(r'"\1": "<SECONDS>"', text)
    text = _AGENT_MS.sub(r"\1<MS>", text)
    text = _UNITTEST.sub(r"Ran \1 test in <SECONDS>", text)
    text = _MD_SECONDS.sub(r"\1<SECONDS>\2", text)
    return _MD_SPEEDUP.sub("speedup <X>", text)


def _normalised_json(path: Path, root: Path) -> tuple[str, str]:
    report = json.loads(path.read_text())
    assert report["host"] == os.uname().nodename
    assert report["agentd_version"] == __version__
    assert isinstance(report["pid"], int)
    text = path.read_text()
    text = text.replace(f'"host": {json.dumps(report["host"])}', '"host": "<HOST>"')
    text = text.replace(f'"pid": {report["pid"]}', '"pid": "<PID>"')
    text = text.replace(f'"agentd_version": "{__version__}"', '"agentd_version": "<VERSION>"')
    return normalise(text, root, report["date"]), report["date"]


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("demo")
    config = _make_demo(root)
    env = dict(os.environ)
    # The tasks' python3 is the suite's own, so unittest's output is the same everywhere.
    env["PATH"] = os.pathsep.join(
        (str(Path(sys.executable).parent), str(EXAMPLES_BIN), env["PATH"])
    )
    env["AGENTD_RUN__PROJECT_PARALLELISM"] = "false"
    for key in ("AGENTD_CONFIG", "AGENTD_STATE_DIR", "NO_COLOR"):
        env.pop(key, None)
    return root, [_sweep(config, env), _sweep(config, env)]


@pytest.mark.parametrize("sweep", [0, 1], ids=["first", "second"])
def test_the_demo_report_is_as_it_was(demo_runs: tuple[Path, list[Path]], sweep: int) -> None:
    root, runs = demo_runs
    report_json, date = _normalised_json(runs[sweep] / "report.json", root)
    report_md = normalise((runs[sweep] / "report.md").read_text(), root, date)
    report_md = report_md.replace(f" on host {os.uname().nodename}\n", " on host <HOST>\n")
    name = ("first", "second")[sweep]
    if os.environ.get("AGENTD_WRITE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / f"demo-{name}.report.json").write_text(report_json)
        (GOLDEN / f"demo-{name}.report.md").write_text(report_md)
    assert report_json == (GOLDEN / f"demo-{name}.report.json").read_text()
    assert report_md == (GOLDEN / f"demo-{name}.report.md").read_text()


def test_agentd_report_renders_the_json_as_the_sweep_wrote_the_markdown(
    demo_runs: tuple[Path, list[Path]],
) -> None:
    """``agentd report`` renders report.md anew from report.json: the same text."""
    from agentd.daemon.output.report import render_markdown

    _, runs = demo_runs
    for run in runs:
        report = json.loads((run / "report.json").read_text())
        assert render_markdown(report) == (run / "report.md").read_text()


def test_the_normalisation_keeps_what_a_field_says() -> None:
    """Placeholders replace only what varies between runs: a changed status, count or
    reason still shows."""
    root = Path("/tmp/x")
    one = '"status": "ok", "duration_s": 1.25, "reason": "exit status 1"'
    other = '"status": "failed", "duration_s": 3.5, "reason": "exit status 1"'
    assert normalise(one, root, "2026-01-08") != normalise(other, root, "2026-01-08")
    assert normalise(one, root, "2026-01-08") == normalise(
        one.replace("1.25", "9.75"), root, "2026-01-08"
    )
