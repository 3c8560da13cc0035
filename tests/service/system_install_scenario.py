"""Runs inside ../shared/tools/with-systemd (see test_system_install.py): the system install
of README "System install", end to end. Exits non-zero with a message at the first broken
promise; prints "ok: ..." for each one kept.

argv: APP AGENTD WORK. APP holds systemd/ (the unit and install-system.sh), tests/bin/ and
agentd's packages; AGENTD is its launcher; WORK holds the projects and a tool directory.
/etc, /var/lib and /home are overlaid, in this namespace only, by copies whose changes live
in with-systemd's private /run, so the accounts, /etc/agentd and /var/lib/agentd made here
never reach the machine. The only departure from the documented install is a drop-in that
starts the daemon through tests/bin/agentd-every-2s, so that it fires every two seconds.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import selectors
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from systemd_tools import sh, show, wait_for

APP, AGENTD, WORK = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
STATE = Path("/var/lib/agentd")
CONFIG = Path("/etc/agentd/config.toml")
TOOLS = WORK / "tools" / "bin"  # reachable through [run] path alone
PROJECTS = WORK / "projects"
# systemd's PATH for services, which the unit's Environment=PATH= extends.
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def private_system() -> None:
    """/etc, /var/lib and /home overlaid; useradd's lastlog and faillog in private copies."""
    scratch = Path("/run/agentd-test-overlay")
    for parent in (Path("/etc"), Path("/var/lib"), Path("/home")):
        (scratch / parent.name / "upper").mkdir(parents=True)
        (scratch / parent.name / "work").mkdir()
        upper, work = scratch / parent.name / "upper", scratch / parent.name / "work"
        options = f"lowerdir={parent},upperdir={upper},workdir={work}"
        sh("mount", "-t", "overlay", "overlay", "-o", options, str(parent))
    for log in (Path("/var/log/lastlog"), Path("/var/log/faillog")):
        if log.is_file():
            shutil.copy(log, scratch / log.name)
            sh("mount", "--bind", str(scratch / log.name), str(log))
    for leftover in (Path("/etc/agentd"), STATE):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover)  # in the overlay: the machine's copy stays
        elif leftover.exists() or leftover.is_symlink():
            leftover.unlink()
    print("ok: /etc, /var/lib and /home overlaid; no /etc/agentd, no /var/lib/agentd")


def as_alice(command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``command`` in a login shell of alice: her environment, her groups, no AGENTD_*."""
    proc = subprocess.run(
        ["runuser", "-l", "alice", "-c", command], capture_output=True, text=True, timeout=120
    )
    if check and proc.returncode != 0:
        raise SystemExit(f"alice: {command} exited {proc.returncode}: {proc.stderr}{proc.stdout}")
    return proc


def outsider() -> None:
    """A login user outside the group is told how to get in, not to make a config."""
    sh("useradd", "--create-home", "--shell", "/bin/bash", "bob")
    proc = subprocess.run(
        ["runuser", "-l", "bob", "-c", f"{AGENTD} status"], capture_output=True, text=True
    )
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "usermod -aG agentd bob" in proc.stderr, proc.stderr
    assert not Path("/home/bob/.config/agentd").exists()
    print(f"ok: bob, outside the group: {proc.stderr.strip()}")


def install() -> None:
    """README "System install": its script, refused an agentd the account cannot run,
    then run twice (the second time changes nothing)."""
    env = {**os.environ, "PATH": f"{APP}:/usr/sbin:/usr/bin:/sbin:/bin"}
    script = str(APP / "systemd" / "install-system.sh")
    # First with an agentd the account cannot reach (pipx as root puts it under /root).
    hidden = Path("/run/root-only")
    hidden.mkdir(mode=0o700)
    shutil.copy(AGENTD, hidden / "agentd")
    refused = subprocess.run(
        [script, "alice"], env={**env, "AGENTD": str(hidden / "agentd")}, capture_output=True
    )
    assert refused.returncode == 1, refused
    assert b"created the system user agentd" in refused.stdout, refused
    assert b"the user agentd cannot run /run/root-only/agentd" in refused.stderr, refused
    assert not STATE.exists(), "went on after the refusal"
    # Under a hardened root's umask: what the daemon and the group read stays open to them.
    umask = os.umask(0o077)
    try:
        out = sh(script, "alice", env=env)
    finally:
        os.umask(umask)
    assert "created" not in out, out
    user = pwd.getpwnam("agentd")
    assert user.pw_uid < 1000, user  # a system account
    assert (user.pw_dir, user.pw_shell) == ("/home/agentd", "/usr/sbin/nologin"), user
    assert "alice" in grp.getgrnam("agentd").gr_mem
    expect_mode(Path("/home/agentd"), 0o700, "agentd", "agentd")
    expect_mode(STATE, 0o2770, "agentd", "agentd")
    expect_mode(CONFIG, 0o640, "root", "agentd")
    expect_mode(CONFIG.parent, 0o755, "root", "root")
    expect_mode(Path("/etc/systemd/system/agentd.service"), 0o644, "root", "root")
    assert tomllib.loads(CONFIG.read_text())["paths"]["state_dir"] == str(STATE)
    unit = Path("/etc/systemd/system/agentd.service").read_text()
    assert f"\nExecStart={AGENTD} run\n" in unit, unit
    before = CONFIG.read_text()
    again = sh(script, "alice", env=env)
    for made in ("created", "wrote"):
        assert made in (out if made == "wrote" else refused.stdout.decode()), (made, out)
        assert made not in again, again
    assert CONFIG.read_text() == before
    print(
        "ok: install-system.sh (root's umask 077) made the account, /var/lib/agentd 2770, "
        "the unit, /etc/agentd 0755 and the config"
    )


def expect_mode(path: Path, mode: int, owner: str, group: str) -> None:
    st = path.stat()
    found = (st.st_mode & 0o7777, pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name)
    assert found == (mode, owner, group), (str(path), oct(found[0]), found[1:])


def tools() -> None:
    """A program only [run] path reaches, and an agent CLI in agentd's ~/.local/bin, which
    the unit's PATH reaches: each writes down how it was run."""
    TOOLS.mkdir(parents=True)
    lint = TOOLS / "lint-tool"
    lint.write_text(
        "#!/bin/sh\n"
        '[ "$LINT_MODE" = strict ] || { echo "LINT_MODE is \'$LINT_MODE\'" >&2; exit 1; }\n'
        'printf "%s\\n" "$(id -un)" "$HOME" "$PATH" > lint.out\n'
        "echo lint-tool: all clean\n"
    )
    lint.chmod(0o755)
    sh("install", "-d", "-o", "agentd", "-g", "agentd", "/home/agentd/.local")
    sh("install", "-d", "-o", "agentd", "-g", "agentd", "/home/agentd/.local/bin")
    cli = Path("/home/agentd/.local/bin/agent-cli")
    cli.write_text("#!/bin/sh\necho agent-cli ran > agent.out\n")
    sh("chown", "agentd:agentd", str(cli))
    cli.chmod(0o755)
    for name in ("tools", "long"):
        sh("install", "-d", "-o", "agentd", "-g", "agentd", str(PROJECTS / name))


def configure() -> None:
    """The operator's edit of /etc/agentd/config.toml, in place (its mode and group stay)."""
    doc = tomllib.loads(CONFIG.read_text())
    doc["schedule"]["cron"] = "* * * * *"  # every minute; agentd-every-2s adds */2 seconds
    doc["run"]["path"] = [str(TOOLS)]
    doc["run"]["env"] = {"LINT_MODE": "strict"}
    doc["tasks"]["tool"] = {"command": ["lint-tool"]}
    doc["tasks"]["cli"] = {"command": ["agent-cli"]}
    # Holds its project's claim until the test creates `release` in it.
    doc["tasks"]["hold"] = {
        "shell": "echo holding; touch started; while [ ! -e release ]; do sleep 0.1; done; "
        "echo released",
    }
    doc["projects"] = [
        {"name": "tools", "path": str(PROJECTS / "tools"), "tasks": ["tool", "cli"]},
        {
            "name": "long",
            "path": str(PROJECTS / "long"),
            "tasks": ["hold"],
            "depends_on": ["tools"],
        },
    ]
    CONFIG.write_text(tomli_w.dumps(doc))
    expect_mode(CONFIG, 0o640, "root", "agentd")


def start() -> int:
    """`systemctl enable --now agentd`, the unit firing every two seconds; its main pid."""
    dropin = Path("/run/systemd/system/agentd.service.d")
    dropin.mkdir(parents=True)
    (dropin / "every-2s.conf").write_text(
        f"""[Service]
ExecStart=
ExecStart={sys.executable} {APP / "tests" / "bin" / "agentd-every-2s"} run
Environment=PYTHONPATH={APP / "site"}
"""
    )
    sh("systemctl", "daemon-reload")
    sh("systemctl", "enable", "--now", "agentd")
    assert show("ActiveState") == "active", show("ActiveState")
    pid = int(show("MainPID"))
    assert Path(f"/proc/{pid}").stat().st_uid == pwd.getpwnam("agentd").pw_uid
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
        if "=" in item
    )
    assert environ["PATH"] == f"/home/agentd/.local/bin:{SYSTEMD_PATH}", environ["PATH"]
    assert environ["HOME"] == "/home/agentd", environ
    print(f"ok: the unit runs as agentd (pid {pid}), PATH {environ['PATH']}")
    return pid


def doctor() -> None:
    """`sudo -u agentd agentd doctor`: the unit found through systemd (over D-Bus, as for
    any account but root), its PATH used for the programs, nothing to fix."""
    proc = subprocess.run(
        ["runuser", "-u", "agentd", "--", AGENTD, "doctor", "--json"],
        capture_output=True,
        text=True,
    )
    try:
        checks = {(c["check"], c["subject"]): c for c in json.loads(proc.stdout)}
    except ValueError:
        raise SystemExit(f"doctor printed no JSON: {proc.stdout}{proc.stderr}") from None
    assert proc.returncode == 0, (proc.returncode, checks)
    unit = checks[("unit", "agentd.service")]["message"]
    assert unit == "system unit /etc/systemd/system/agentd.service: enabled and active", unit
    cli = checks[("program", "cli")]
    assert (cli["level"], cli["message"]) == ("ok", "/home/agentd/.local/bin/agent-cli"), cli
    assert [c for c in checks.values() if c["level"] != "ok"] == [], checks
    print(f"ok: `agentd doctor` as agentd: {len(checks)} checks ok, the unit's PATH used")


def first_sweep(pid: int) -> str:
    """The daemon's first sweep has run `tools` and holds `long`: the run id."""
    started = PROJECTS / "long" / "started"
    ended = wait_for(
        "the daemon's sweep to reach `long`",
        lambda: started.exists() or list(STATE.glob("runs/*/report.json")),
    )
    if not started.exists():
        report = json.loads(ended[0].read_text())
        raise SystemExit(f"the daemon's sweep ended before `long`: {report['failures']}")
    lines = (PROJECTS / "tools" / "lint.out").read_text().splitlines()
    assert lines[:2] == ["agentd", "/home/agentd"], lines
    assert lines[2].split(":")[0] == str(TOOLS), lines[2]
    assert (PROJECTS / "tools" / "agent.out").read_text() == "agent-cli ran\n"
    for made in ("lint.out", "agent.out"):
        expect_mode(PROJECTS / "tools" / made, 0o644, "agentd", "agentd")  # no UMask= leak
    print("ok: lint-tool found through [run] path, with [run] env; agent-cli on the unit's PATH")
    chosen = alice_json("agentd config path --json")
    found = (chosen["config"]["path"], chosen["config"]["status"], chosen["state_dir"]["path"])
    assert found == (str(CONFIG), "valid", str(STATE)), chosen
    status = alice_json("agentd status --json")
    assert status["state_dir"] == str(STATE), status["state_dir"]
    daemon = status["daemon"]
    assert (daemon["running"], daemon["pid"]) == (True, pid), daemon
    held = [claim for claim in status["running"] if claim["project"] == "long"]
    assert [claim["pid"] for claim in held] == [pid], status["running"]
    text = as_alice(f"{AGENTD} status").stdout
    assert f"running, pid {pid}" in text, text
    print(f"ok: alice's `config path` and `status` find {CONFIG}, {STATE} and the daemon ({pid})")
    return str(held[0]["run_id"])


def alice_json(command: str) -> Any:
    proc = as_alice(command.replace("agentd", AGENTD, 1))
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise SystemExit(f"alice: {command} printed no JSON: {proc.stdout}{proc.stderr}") from None


def manual_sweep(daemon_run: str, pid: int) -> str:
    """alice's `run --once` while the daemon holds `long`: the skip guard and the claim."""
    proc = as_alice(f"{AGENTD} run --once --json", check=False)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    report = json.loads(proc.stdout)
    reasons = {p["name"]: p.get("reason") or "" for p in report["projects"]}
    assert reasons["tools"].startswith("done today"), reasons
    assert reasons["long"].startswith(f"claimed by run {daemon_run} (pid {pid} "), reasons
    run = STATE / "runs" / report["run_id"]
    assert run.stat().st_uid == pwd.getpwnam("alice").pw_uid, "not alice's run"
    print(f"ok: alice's run --once skipped tools ({reasons['tools']}) and long ({reasons['long']})")
    return str(report["run_id"])


def daemon_reports(after: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted((STATE / "runs").glob("*/report.json")):
        if path.parent.name > after and path.parent.stat().st_uid != pwd.getpwnam("alice").pw_uid:
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # being written
    return found


def follow_and_release() -> None:
    """alice follows the daemon's running task with `agentd log -f` until it ends."""
    follower = subprocess.Popen(
        ["runuser", "-l", "alice", "-c", f"{AGENTD} log -f long hold"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(follower.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=90):
            follower.kill()
            raise SystemExit("alice's `agentd log -f` printed nothing in 90s")
    first = follower.stdout.readline()
    assert first == "holding\n", first
    (PROJECTS / "long" / "release").touch()
    try:
        rest, errors = follower.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        follower.kill()
        raise SystemExit("alice's `agentd log -f` did not end with the task") from None
    assert follower.returncode == 0, (follower.returncode, errors)
    assert "released" in rest, (rest, errors)
    print("ok: alice's `agentd log -f long hold` followed the daemon's task to its end")


def after_release(daemon_run: str, manual_run: str) -> None:
    """The daemon ends its sweep and goes on sweeping in the state alice wrote to."""
    report_path = STATE / "runs" / daemon_run / "report.json"
    wait_for("the daemon's sweep to end", report_path.exists)
    report = json.loads(report_path.read_text())
    assert report["status"] == "ok", report
    assert [p["status"] for p in report["projects"]] == ["ok", "ok"], report["projects"]
    later = wait_for("a daemon sweep after alice's", lambda: daemon_reports(manual_run))[0]
    assert later["status"] == "ok", later
    print(f"ok: the daemon finished {daemon_run} and swept again ({later['run_id']}) after alice")
    shown = alice_json("agentd report --json")
    assert shown["trigger"] != "manual", shown["run_id"]
    owner = (STATE / "runs" / shown["run_id"]).stat().st_uid
    assert owner == pwd.getpwnam("agentd").pw_uid, shown["run_id"]
    text = as_alice(f"{AGENTD} report {daemon_run}").stdout
    for expected in (daemon_run, "tools", "long"):
        assert expected in text, (expected, text)
    log = as_alice(f"{AGENTD} log {daemon_run} tools tool").stdout
    assert log == "lint-tool: all clean\n", log
    print(
        f"ok: alice's `agentd report` shows the daemon's sweeps ({shown['run_id']}, {daemon_run})"
    )


def shared_files() -> None:
    """Everything in the state directory stays the group's: setgid directories, group
    read-write files, nothing for others (what lets alice and the daemon take turns)."""
    agentd_gid = grp.getgrnam("agentd").gr_gid
    for path in [STATE, *STATE.rglob("*")]:
        st = path.lstat()
        if path.is_symlink():
            continue
        wanted = 0o2070 if path.is_dir() else 0o060  # setgid, group rwx; group rw
        assert st.st_gid == agentd_gid, f"{path} has group {st.st_gid}"
        assert st.st_mode & wanted == wanted, f"{path} has mode {oct(st.st_mode)}"
        assert not st.st_mode & 0o007, f"{path} has mode {oct(st.st_mode)}"
    print("ok: every file in /var/lib/agentd is the group's, none is the others'")


def main() -> None:
    sh("systemctl", "start", "systemd-journald.socket", "systemd-journald.service")
    # A server's system bus: systemctl of an account other than root talks to systemd over it.
    if not Path("/lib/systemd/system/dbus.socket").exists():
        raise SystemExit("needs Debian's dbus package (apt-get install dbus)")
    sh("systemctl", "start", "dbus.socket")
    private_system()
    sh("useradd", "--create-home", "--shell", "/bin/bash", "alice")
    install()
    tools()
    configure()
    outsider()
    pid = start()
    doctor()
    daemon_run = first_sweep(pid)
    manual_run = manual_sweep(daemon_run, pid)
    follow_and_release()
    after_release(daemon_run, manual_run)
    sh("systemctl", "stop", "agentd")
    assert show("Result") == "success", show("Result")
    shared_files()
    print("ok: the system install under a real systemd")


if __name__ == "__main__":
    main()
