"""The systemd unit, when there is one, and the environment it gives the daemon.

A unit is optional (cron or manual sweeps are fine), so its absence is a note. When one is
installed, the daemon does not run in the shell's environment but in the unit's: its PATH
is systemd's short default unless ``Environment=`` sets one, and its user is ``User=``.
The other checks then look at that environment instead of the caller's.

``systemctl show`` is the only thing asked of systemd: its ``Key=Value`` lines are the one
interface here, and tests put a script answering them first on PATH.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentd.daemon.output.textout import harmless
from agentd.daemon.service.doctor.check import Check, ok, problem, warning

UNIT = "agentd.service"
# What systemd gives a service that sets no PATH (systemd.exec(5), "Environment
# variables in spawned processes"); the manager's own environment.d is not read here.
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
SHOW_TIMEOUT = 10.0
# Where unit files are installed (systemd.unit(5), "Unit File Load Path"), for the case
# where no manager answers.
SYSTEM_UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
_PROPERTIES = (
    "LoadState",
    "UnitFileState",
    "ActiveState",
    "FragmentPath",
    "User",
    "DynamicUser",
    "Environment",
    "EnvironmentFiles",
    "StateDirectory",
)
# What systemd sets for User= (HOME, SHELL and the names) and what a login carries that
# programs read; taken from the caller, which is right when it runs as the unit's user.
_INHERITED = ("HOME", "USER", "LOGNAME", "SHELL", "LANG")


@dataclass(frozen=True)
class Unit:
    scope: str  # "system" or "user"
    props: dict[str, str]

    @property
    def flag(self) -> str:
        return " --user" if self.scope == "user" else ""

    @property
    def environment(self) -> dict[str, str]:
        """``Environment=`` as systemctl shows it: space-separated, quoted when needed."""
        text = self.props.get("Environment", "")
        try:
            words = shlex.split(text)
        except ValueError:  # an unbalanced quote: read what can be read
            words = text.split()
        return dict(w.split("=", 1) for w in words if "=" in w)

    @property
    def user(self) -> str:
        """Who the daemon runs as: a user unit runs as its manager's user, the caller."""
        if self.scope == "user":
            return _me()
        return self.props.get("User") or "root"


def probe(environ: Mapping[str, str]) -> tuple[Unit | None, list[Check]]:
    """The installed unit (the system one first) and the lines about the unit(s)."""
    systemctl = shutil.which("systemctl", path=environ.get("PATH") or os.defpath)
    if systemctl is None:
        return None, [ok("unit", UNIT, "no systemctl: sweeps from cron or by hand need no unit")]
    units = [Unit(s, p) for s in ("system", "user") if (p := _show(systemctl, s)) is not None]
    if not units:
        return None, _unanswered(environ)
    installed = [u for u in units if u.props.get("LoadState", "not-found") != "not-found"]
    if not installed:
        note = "not installed (system or user): fine for sweeps from cron or by hand"
        return None, [ok("unit", UNIT, note)]
    checks = [c for unit in installed for c in _state(unit)]
    return installed[0], checks + _user(installed[0]) + _files(installed[0])


def _unanswered(environ: Mapping[str, str]) -> list[Check]:
    """No manager answered (systemd not running, or no user bus under ``sudo``/``su``).
    Harmless without a unit file; with one, the checks below look at the wrong
    environment (this shell's PATH, not the unit's), and saying "not installed" would
    send the reader the wrong way."""
    files = [str(path) for path in _unit_files(environ) if path.is_file()]
    if not files:
        note = "not installed (no unit file; systemd did not answer): fine for cron or by hand"
        return [ok("unit", UNIT, note)]
    why = (
        f"{harmless(files[0])} is installed but systemd did not answer (no system or user "
        "manager on the bus for this user): its state and environment are unknown, and the "
        "checks below use this shell's environment (`sudo agentd doctor` asks the system "
        "manager)"
    )
    return [warning("unit", UNIT, why)]


def _unit_files(environ: Mapping[str, str]) -> list[Path]:
    system = [Path(d) / UNIT for d in SYSTEM_UNIT_DIRS]
    config = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "/")) / ".config")
    return [*system, Path(config) / "systemd" / "user" / UNIT]


def _show(systemctl: str, scope: str) -> dict[str, str] | None:
    """The unit's properties, or None when no manager answers (no systemd running, no
    user bus under sudo): then there is no unit of that scope to speak of."""
    argv = [systemctl, *(["--user"] if scope == "user" else []), "show", UNIT]
    argv.append("--property=" + ",".join(_PROPERTIES))
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=SHOW_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    pairs = (line.partition("=") for line in proc.stdout.splitlines() if "=" in line)
    return {key: value for key, _, value in pairs}


def _state(unit: Unit) -> list[Check]:
    props = unit.props
    where = f"{unit.scope} unit {harmless(props.get('FragmentPath') or UNIT)}"
    enabled = props.get("UnitFileState", "")
    active = props.get("ActiveState", "")
    if props.get("LoadState") != "loaded":
        why = f"{where} is {harmless(props.get('LoadState', '?'))}: it will not start"
        return [warning("unit", UNIT, why)]
    if enabled in ("enabled", "enabled-runtime", "linked") and active in ("active", "reloading"):
        return [ok("unit", UNIT, f"{where}: enabled and active")]
    fix = f"systemctl{unit.flag} enable --now agentd"
    state = f"{harmless(enabled or 'unknown')} and {harmless(active or 'unknown')}"
    return [warning("unit", UNIT, f"{where} is {state}: nothing fires tonight ({fix})")]


def _user(unit: Unit) -> list[Check]:
    """Whether the unit's user exists, and whether the checks run as that user."""
    user = unit.user
    subject = f"User={harmless(user)}"
    if unit.props.get("DynamicUser") == "yes":
        return [ok("unit", subject, "DynamicUser=: systemd allocates the user at start")]
    try:
        pwd.getpwnam(user)
    except KeyError:
        why = f"user {harmless(user)} does not exist on this host: the unit cannot start"
        return [problem("unit", subject, why)]
    me = _me()
    if user == me:
        return [ok("unit", subject, f"the daemon runs as {harmless(user)}, as this check does")]
    why = (
        f"doctor runs as {harmless(me)}, the daemon as {harmless(user)}: the access checks "
        f"are approximate (`sudo -u {harmless(user)} agentd doctor` checks them as it)"
    )
    return [warning("unit", subject, why)]


def _files(unit: Unit) -> list[Check]:
    """``EnvironmentFile=`` is not read (it may hold secrets, readable by root alone): said
    so, since a PATH set there is not seen by the program checks."""
    files = unit.props.get("EnvironmentFiles", "").strip()
    if not files:
        return []
    note = "not read by doctor: variables set there (PATH too) are not seen by these checks"
    return [ok("unit", f"EnvironmentFile={harmless(files)}", note)]


def daemon_environ(unit: Unit | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment ``agentd run`` gets: the caller's without a unit (cron or a shell
    start it so), else what systemd would give it."""
    if unit is None:
        return dict(environ)
    env = {k: environ[k] for k in _INHERITED if k in environ}
    env["PATH"] = SYSTEMD_PATH
    state = unit.props.get("StateDirectory", "").split()
    if state:
        env["STATE_DIRECTORY"] = str(_state_root(unit.scope, environ) / state[0])
    env.update(unit.environment)
    return env


def _state_root(scope: str, environ: Mapping[str, str]) -> Path:
    if scope == "system":
        return Path("/var/lib")
    xdg = environ.get("XDG_STATE_HOME")
    return Path(xdg) if xdg else Path(environ.get("HOME", "~")).expanduser() / ".local/state"


def _me() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())
