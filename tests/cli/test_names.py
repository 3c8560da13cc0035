"""agentd's import names live under `agentd.*`: nothing another distribution or a user's
project calls `daemon`, `config` or `state` can shadow it, or be shadowed by it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import AGENTD, Workspace

# Each impostor fails loudly the moment it is imported, so a test cannot pass by luck.
IMPOSTOR = "raise ImportError('the impostor {name} package was imported')\n"


def _impostors(root: Path) -> Path:
    site = root / "pythonpath"
    for name in ("config", "state", "daemon"):
        (site / name).mkdir(parents=True)
        (site / name / "__init__.py").write_text(IMPOSTOR.format(name=name))
    return site


def test_python_daemon_and_agentd_share_one_venv(tmp_path: Path) -> None:
    # python-daemon is a dev dependency for this test: installed beside agentd, it owns the
    # top-level name `daemon`, and both must work.
    probe = subprocess.run(
        [sys.executable, "-c", "import daemon, daemon.pidfile; print(daemon.DaemonContext)"],
        cwd=tmp_path,  # not the checkout, whose daemon/ folder would be found first
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, probe.stderr
    assert "DaemonContext" in probe.stdout
    version = subprocess.run([AGENTD, "--version"], cwd=tmp_path, capture_output=True, text=True)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("agentd ")


def test_packages_named_config_state_daemon_on_pythonpath_change_nothing(ws: Workspace) -> None:
    site = _impostors(ws.root)
    ws.env["PYTHONPATH"] = str(site)
    ws.project_dirs("p")
    ws.write_config(
        """
        [tasks.env]
        command = ["sh", "-c", "printf %s \\"$PYTHONPATH\\" > seen-pythonpath"]
        [[projects]]
        name = "p"
        path = "p"
        tasks = ["env"]
        """
    )
    check = ws.run("config", "check", "--config", str(ws.config))
    assert check.returncode == 0, check.stderr
    code, report = ws.once_json()
    assert code == 0, report
    assert report["projects"][0]["status"] == "ok"
    status = ws.run("status", "--json", "--config", str(ws.config))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)
    # The task's environment is the user's, untouched by how agentd finds its own code.
    assert (ws.root / "p" / "seen-pythonpath").read_text() == str(site)


def test_the_impostors_would_be_imported_by_the_old_names(ws: Workspace) -> None:
    # The guard on the test above: with this PYTHONPATH, a bare `import config` does hit an
    # impostor, so agentd passing there means it never imports the bare names.
    site = _impostors(ws.root)
    for name in ("config", "state", "daemon"):
        proc = subprocess.run(
            [sys.executable, "-c", f"import {name}"],
            cwd=ws.root,
            env={**ws.env, "PYTHONPATH": str(site)},
            capture_output=True,
            text=True,
        )
        assert proc.returncode != 0
        assert f"the impostor {name} package" in proc.stderr


def test_the_wheel_lists_every_package_of_the_tree() -> None:
    """The wheel holds only the packages pyproject.toml names (the folders are mapped, so
    setuptools cannot find them itself); the editable install the tests run from sees
    every folder, so a new subpackage left out would only fail for users."""
    import tomllib

    from tests.helpers import ROOT

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {"agentd"}
    for top in ("daemon", "config", "state"):
        for init in (ROOT / top).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT).parts
            found.add(".".join(("agentd", *parts)))
    assert listed == found
