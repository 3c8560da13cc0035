#!/bin/sh
# install-system.sh [LOGIN_USER...]: agentd as a system service, the steps of README
# "System install" in that order. Run as root, with agentd installed where every account
# can run it (not under /root). Each step is skipped when already done, so it is safe to
# run again (to add members, or after an upgrade to refresh the unit). It starts nothing:
# add projects to /etc/agentd/config.toml, then `systemctl enable --now agentd`.
#
# AGENTD names the agentd to use (default: the one on PATH); SYSTEMD_UNIT_DIR where the
# unit goes (default: /etc/systemd/system).
set -eu
# What it makes is read by the daemon's account and group: root's umask on a hardened host
# (027, 077) would close /etc/agentd to them. Modes that must be narrower are set below.
umask 022

die() {
    echo "install-system.sh: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "run it as root: sudo $0${*:+ $*}"
here=$(cd "$(dirname "$0")" && pwd)
agentd=${AGENTD:-$(command -v agentd || true)}
[ -n "$agentd" ] || die "agentd is not on PATH: install it first (README, System install)"
case "$agentd" in /*) ;; *) die "AGENTD must be an absolute path, not $agentd" ;; esac
unit_dir=${SYSTEMD_UNIT_DIR:-/etc/systemd/system}
for user in "$@"; do
    getent passwd "$user" >/dev/null || die "no such user: $user"
done

# 1. The account. Its home holds what agents keep between nights (credentials, git's
#    identity, ~/.local/bin); private, since the state directory is shared with a group.
if ! getent passwd agentd >/dev/null; then
    useradd --system --user-group --create-home --home-dir /home/agentd \
        --shell /usr/sbin/nologin agentd
    chmod 0700 /home/agentd
    echo "created the system user agentd (home /home/agentd)"
fi
if ! runuser -u agentd -- "$agentd" --version >/dev/null 2>&1; then
    die "the user agentd cannot run $agentd: install agentd where every account can run it (README: /opt/agentd)"
fi

# 2. The state directory, shared with the group agentd (setgid). systemd would create it
#    at the first start; made now so that members can use it before. An existing one is
#    left as it is: at its next start the unit gives it (and what it holds) to agentd.
if [ ! -e /var/lib/agentd ]; then
    install -d -m 2770 -o agentd -g agentd /var/lib/agentd
fi

# 3. The unit, its ExecStart= naming this agentd.
sed "s|^ExecStart=/usr/local/bin/agentd |ExecStart=$agentd |" "$here/agentd.service" \
    >"$unit_dir/agentd.service"
chmod 0644 "$unit_dir/agentd.service"
systemctl daemon-reload

# 4. The configuration: /etc/agentd/config.toml, 0640 root:agentd, [paths] state_dir set.
if [ ! -e /etc/agentd/config.toml ]; then
    "$agentd" config init --system
fi

# 5. Members of the group agentd share the daemon's state (from their next login).
for user in "$@"; do
    usermod -aG agentd "$user"
    echo "added $user to the group agentd (effective at their next login)"
done

echo "next: add your projects to /etc/agentd/config.toml, then: systemctl enable --now agentd"
