"""The page of another host's run (`agentd report RUN --html`, made in this user's cache)
names each log by its path on that host, as text: a link relative to the page would point
into the cache, where no log is. This host's own pages keep their links."""

from __future__ import annotations

import re
from pathlib import Path

from tests.builders import proj, recording, sh, write_config
from tests.helpers import Workspace, workspace_env


def _host(root: Path, url: str, host: str, project: str) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    ws = Workspace(root, workspace_env(root))
    write_config(
        ws,
        {"ok": recording(), "bad": sh("echo broken; exit 3")},
        [proj(project, "ok", "bad")],
        state={"backend": "postgres", "url": url, "host": host},
    )
    ws.env["AGENTD_CONFIG"] = str(ws.config)
    return ws


def _page(ws: Workspace, run_id: str) -> str:
    proc = ws.run("report", run_id, "--html")
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip()).read_text()


def test_another_hosts_page_names_its_logs_where_they_are(tmp_path: Path, pg_url: str) -> None:
    one = _host(tmp_path / "one", pg_url, "build-1", "api")
    two = _host(tmp_path / "two", pg_url, "build-2", "web")
    code, mine = one.once_json()
    assert code == 1, mine
    code, theirs = two.once_json()
    assert code == 1, theirs

    page = _page(one, theirs["run_id"])
    runs = two.state / "runs" / theirs["run_id"]
    assert not re.search(r'href="[^"#]*\.(log|md|json)"', page), "a link that points nowhere"
    for task in ("ok", "bad"):
        assert f"log on build-2: {runs / 'web' / task}.log" in page
    assert f"run directory on build-2: <code>{runs}</code>" in page

    # This host's own run: its page sits in its run directory, and links as ever.
    own = _page(one, mine["run_id"])
    assert 'href="api/bad.log"' in own
    assert 'href="api/ok.log"' in own
    assert 'href="report.md"' in own
    assert "log on build-1" not in own
