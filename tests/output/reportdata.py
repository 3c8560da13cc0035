"""Reports worth looking at, made by real sweeps: the demo's, a few projects over 14 nights,
and 300 projects of 3 tasks each over 14 nights.

Shared by the browser tests (tests/output/test_html_browser.py), `make screenshot` and the
benchmark (bench/html_report.py), so all three look at the same pages.

Every night is a real sweep (``run_sweep``, real task processes, the real file store, the
report writers the CLI uses) run in this process on a clock set to 02:30 of that night in
the schedule's zone; the daemon's fire bookkeeping (``FireBook``) is driven as the daemon
drives it, so a night can be swept, skipped (a fire recorded as skipped, with its reason)
or missed (nothing recorded: the machine was off). Whatever a sweep leaves for the history
(run summaries, run directories, fires) is there because a sweep left it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from agentd.config import Config, load_config
from agentd.daemon.model.clock import Clock
from agentd.daemon.model.report import Report
from agentd.daemon.model.status import Trigger
from agentd.daemon.output.report import finishing
from agentd.daemon.service.fires import FireBook, SweepEnd
from agentd.daemon.sweep.engine import SweepRequest, run_sweep
from agentd.daemon.tasks.stop import StopToken
from agentd.state import JsonFileStore
from tests.builders import cmd, config, proj, toml
from tests.fakeclock import OffsetClock
from tests.helpers import EXAMPLES_BIN, ROOT

DEMO = ROOT / "examples" / "demo.toml"
FIRE_AT = time(2, 30)  # the demo's cron, "30 2 * * *"


@dataclass(frozen=True)
class Night:
    """One night of a workspace's history. ``fate``: "sweep" (a scheduled sweep runs),
    "skip" (its fire is recorded as skipped: the scheduler delivered it too late), "off"
    (nothing at all: the machine was off). ``before`` runs first (it may change the
    projects or the configuration, as people do between nights)."""

    day: date
    fate: str = "sweep"
    before: Callable[[], None] | None = None


@dataclass
class Nights:
    """A workspace, its state directory and the reports of the sweeps run in it."""

    config: Path
    state: Path
    env: dict[str, str]
    reports: list[Report] = field(default_factory=list)

    @property
    def last_run(self) -> Path:
        """The run directory of the last sweep."""
        run_dir = self.reports[-1].run_dir if self.reports else None
        if run_dir is None:
            raise AssertionError("no sweep ran, or its run directory is unknown")
        return Path(run_dir)


def task_env(extra_path: Sequence[Path] = ()) -> dict[str, str]:
    """The environment the sweeps hand their tasks: nothing of the caller's agentd, this
    interpreter's python3 (as the golden test does) and ``extra_path`` first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTD_", "NO_COLOR"))}
    dirs = [str(Path(sys.executable).parent), *(str(p) for p in extra_path)]
    env["PATH"] = os.pathsep.join([*dirs, env.get("PATH", os.defpath)])
    return env


def run_nights(nights_: Nights, plan: Sequence[Night], overrides: dict[str, str]) -> Nights:
    """Each night of ``plan`` in order, as the daemon would have lived it."""
    clock = OffsetClock()
    for night in plan:
        if night.before is not None:
            night.before()
        if night.fate == "off":
            continue
        cfg = load_config(nights_.config, overrides)
        fire = datetime.combine(night.day, FIRE_AT, tzinfo=cfg.zone)
        clock.set(fire)
        store = JsonFileStore(nights_.state)
        book = FireBook(store, clock, StopToken())
        if night.fate == "skip":
            clock.set(fire + timedelta(hours=3))
            book.missed(fire, 3600)
            continue
        ran: list[Report] = []
        book.fire(Trigger.SCHEDULE, fire, _sweeper(cfg, store, nights_, clock, ran))
        nights_.reports.extend(ran)
    return nights_


def _sweeper(
    cfg: Config, store: JsonFileStore, nights_: Nights, clock: Clock, ran: list[Report]
) -> Callable[[str, datetime], SweepEnd]:
    def sweep(trigger: str, _fire: datetime) -> SweepEnd:
        observers = finishing(cfg.settings.notify, nights_.env, clock, store=store, config=cfg)
        request = SweepRequest(trigger=trigger)
        ran.append(
            run_sweep(
                cfg, store, nights_.state, request, StopToken(), observers, nights_.env, clock
            )
        )
        return SweepEnd.DONE

    return sweep


def last_nights(count: int, end: date) -> list[date]:
    return [end - timedelta(days=count - 1 - i) for i in range(count)]


# -- the demo ------------------------------------------------------------------------------


def demo_workspace(root: Path) -> Nights:
    """examples/demo.toml and its projects (examples/make_workspace.py) in ``root``; its
    state directory is ``root/workspace/.state``, as the file says."""
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
    return Nights(root / "demo.toml", root / "workspace" / ".state", task_env([EXAMPLES_BIN]))


def break_test(workspace: Nights, project: str) -> Callable[[], None]:
    """A change that makes ``project``'s unit test fail from that night on."""

    def broken() -> None:
        test = workspace.config.parent / "workspace" / project / "test_app.py"
        test.write_text(test.read_text().replace("add(2, 2), 4", "add(2, 2), 5"))

    return broken


def demo_week(root: Path, end: date) -> Nights:
    """The demo as shipped over the week to ``end``: one night the machine was off, one
    fire the scheduler delivered too late; ``worker``'s test breaks on the last night
    (newly failing), ``legacy``'s fails every night, as the demo intends."""
    demo = demo_workspace(root)
    days = last_nights(7, end)
    plan = [Night(d) for d in days]
    plan[2] = Night(days[2], "off")
    plan[4] = Night(days[4], "skip")
    plan[-1] = Night(days[-1], before=break_test(demo, "worker"))
    return run_nights(demo, plan, {"AGENTD_SCHEDULE__TIMEZONE": "UTC"})


# -- many projects -------------------------------------------------------------------------


def fleet_config(count: int, failing: Callable[[int], bool], bound: int = 8) -> dict[str, Any]:
    """``count`` projects of 3 tasks (``true``, ``true``, and ``false`` where ``failing``
    says so), at most ``bound`` at once; every 50th project depends on the one before it,
    so some bars wait for a dependency."""
    projects = []
    for i in range(count):
        third = "bad" if failing(i) else "ok3"
        deps = {"depends_on": [f"p{i - 1:03d}"]} if i % 50 == 49 else {}
        projects.append(proj(f"p{i:03d}", "ok1", "ok2", third, **deps))
    tasks = {"ok1": cmd("true"), "ok2": cmd("true"), "ok3": cmd("true"), "bad": cmd("false")}
    run = {"project_parallelism": True, "max_parallel_projects": bound, "keep_runs": 30}
    return config(
        tasks,
        projects,
        schedule={"cron": "30 2 * * *", "timezone": "UTC"},
        run=run,
        paths={"state_dir": "state"},
        log={"level": "warning"},
    )


def fleet(root: Path, count: int, nights: int, end: date) -> Nights:
    """``count`` projects x 3 tasks over ``nights`` nights to ``end``: each night a tenth
    of the projects fail, a different tenth from the night before (so every night some
    are newly failing and some recovered); the fourth night from the end was missed."""
    for i in range(count):
        (root / f"p{i:03d}").mkdir(exist_ok=True)
    work = Nights(root / "config.toml", root / "state", task_env())

    def configure(night: int) -> Callable[[], None]:
        def write() -> None:
            failing = fleet_config(count, lambda i: (i + night) % 10 == 0)
            work.config.write_text(toml(failing))

        return write

    days = last_nights(nights, end)
    plan = [Night(d, before=configure(n)) for n, d in enumerate(days)]
    if nights >= 4:
        plan[-4] = Night(days[-4], "off")
    return run_nights(work, plan, {})


# -- a fortnight, and hostile text ---------------------------------------------------------


def fortnight(root: Path, end: date) -> Nights:
    """Three projects over the 14 nights to ``end``: ``steady`` always ok; ``slipping`` ok
    until it fails on the last night (newly failing); ``mending`` failing until it passes
    on the last night (recovered). The machine was off on the fifth night, and the ninth
    night's fire came too late and was skipped."""
    for name in ("steady", "slipping", "mending"):
        (root / name).mkdir(exist_ok=True)
    work = Nights(root / "config.toml", root / "state", task_env())
    last = 13

    def configure(night: int) -> Callable[[], None]:
        def write() -> None:
            slipping = "bad" if night == last else "ok"
            mending = "ok" if night == last else "bad"
            doc = config(
                {"ok": cmd("true"), "bad": cmd("false")},
                [proj("steady", "ok"), proj("slipping", slipping), proj("mending", mending)],
                schedule={"cron": "30 2 * * *", "timezone": "UTC"},
                paths={"state_dir": "state"},
                log={"level": "warning"},
            )
            work.config.write_text(toml(doc))

        return write

    days = last_nights(14, end)
    plan = [Night(d, before=configure(n)) for n, d in enumerate(days)]
    plan[4] = Night(days[4], "off")
    plan[8] = Night(days[8], "skip")
    return run_nights(work, plan, {})


HOSTILE_NAME = "<img src=x onerror=alert(1)>"
# What a page would do if any of it were markup: change its title, or load an image.
HOSTILE_TEXT = (
    "</script><script>document.title='pwned'</script>"
    "<img src=x onerror=\"document.title='pwned'\"><b>not bold</b> & &amp; </pre></details>"
)


def hostile(root: Path, end: date) -> Nights:
    """One night of a project named like an image tag, whose task prints markup and fails
    and whose agent (the demo's fake Claude, which quotes its prompt in its answer) gets
    a prompt full of markup; beside it a project named ``plain``."""
    for name in ("hostile", "plain"):
        (root / name).mkdir(exist_ok=True)
    doc = config(
        {
            "noisy": {"shell": "printf '%s\\n' \"$NOISE\"; exit 3"},
            "triage": {"agent": "fake-claude", "prompt": f"Fix {HOSTILE_TEXT} in {{project}}"},
            "ok": cmd("true"),
        },
        [proj(HOSTILE_NAME, "noisy", "triage", path="hostile"), proj("plain", "ok")],
        schedule={"cron": "30 2 * * *", "timezone": "UTC"},
        paths={"state_dir": "state"},
        agents={
            "fake-claude": {
                "command": ["fake-claude", "-p", "{prompt}", "--output-format", "json"],
                "usage": "claude",
            }
        },
        log={"level": "warning"},
    )
    (root / "config.toml").write_text(toml(doc))
    env = task_env([EXAMPLES_BIN])
    env["NOISE"] = HOSTILE_TEXT
    env["FAKE_AGENT_SLEEP"] = "0"
    return run_nights(Nights(root / "config.toml", root / "state", env), [Night(end)], {})


# -- make screenshot -----------------------------------------------------------------------

SHOTS = {"report.png": (1280, 2400), "report-phone.png": (390, 3200)}  # width, cut at height


def main(argv: list[str]) -> int:
    """`make screenshot`: the demo's week in a temporary directory, its last page in
    ``argv[0]`` (docs/) as report.png (desktop) and report-phone.png (a phone)."""
    import tempfile

    from agentd.daemon.output.logs import configure
    from tests.output import browser

    configure("error")  # the demo's failures are meant: the page says them
    out = Path(argv[0]) if argv else ROOT / "docs"
    with tempfile.TemporaryDirectory(prefix="agentd-screenshot-") as tmp:
        page = demo_week(Path(tmp), date(2026, 3, 14)).last_run / "report.html"
        if not page.is_file():
            print(f"the demo's sweep wrote no {page.name}", file=sys.stderr)
            return 1
        for name, (width, height) in SHOTS.items():
            try:
                browser.load(page, width, screenshot=out / name, max_height=height)
            except browser.BrowserMissing as exc:
                print(exc, file=sys.stderr)
                return 1
            print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
