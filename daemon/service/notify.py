"""The systemd notification protocol (sd_notify), for ``Type=notify`` units.

A datagram of ``KEY=value`` lines to the socket named by ``$NOTIFY_SOCKET``. It is short
enough to write here rather than depend on libsystemd. The variables are taken out of the
environment at start, so no task (and no task's child) can ever notify in agentd's name.
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping

from agentd.slog import structlog

log = structlog.get_logger("agentd.notify")


class Notifier:
    def __init__(self, environ: MutableMapping[str, str]) -> None:
        self.address = environ.pop("NOTIFY_SOCKET", None)
        usec = environ.pop("WATCHDOG_USEC", None)
        watchdog_pid = environ.pop("WATCHDOG_PID", None)
        self.watchdog_interval: float | None = None
        if usec and usec.isdigit() and (not watchdog_pid or watchdog_pid == str(os.getpid())):
            # Half the deadline, as sd_watchdog_enabled(3) recommends.
            self.watchdog_interval = int(usec) / 2_000_000
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str) -> None:
        if not self.address:
            return
        message = "\n".join(f"{key.upper()}={value}" for key, value in fields.items())
        address = self.address
        if address.startswith("@"):
            address = "\0" + address[1:]  # the abstract namespace
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto(message.encode(), address)
        except OSError as exc:
            log.warning("notify.failed", error=str(exc), message=message)

    def ready(self, status: str) -> None:
        self.send(ready="1", status=status)

    def status(self, text: str) -> None:
        self.send(status=text)

    def stopping(self, status: str) -> None:
        self.send(stopping="1", status=status)

    def watchdog(self) -> None:
        self.send(watchdog="1")
