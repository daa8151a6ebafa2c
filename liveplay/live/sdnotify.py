"""systemd's notify protocol: READY, WATCHDOG and STOPPING datagrams to $NOTIFY_SOCKET.

A few lines of our own rather than a dependency: one AF_UNIX datagram per call
(no network socket). Without $NOTIFY_SOCKET (not under systemd) every call is a
no-op. The watchdog interval comes from $WATCHDOG_USEC; the step loop pets it at
most twice per interval, so a stalled loop stops petting and systemd restarts it.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict | None = None):
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_interval = int(usec) / 1e6 / 2 if usec.isdigit() and mine else None
        self._last_pet = 0.0
        self._sock: socket.socket | None = None
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    @property
    def active(self) -> bool:
        return self._sock is not None

    def send(self, state: str) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto(state.encode(), self.address)
        except OSError as err:  # systemd gone: nothing to tell
            log.debug("sd_notify %r failed: %s", state, err)

    def ready(self, status: str = "") -> None:
        self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def pet(self) -> None:
        """Called every step; sends WATCHDOG=1 at most twice per watchdog interval."""
        if self.watchdog_interval is None:
            return
        now = time.monotonic()
        if now - self._last_pet >= self.watchdog_interval:
            self._last_pet = now
            self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
