"""MIDI ports: open by name or as virtual ports, and keep them while they come and go.

python-rtmidi under the ports (mido for the messages); ``system.py`` says which MIDI system is
there. Our ports always carry
liveplay's name (client ``liveplay``, ports ``liveplay in`` / ``liveplay out``): a named port
(``--in`` / ``--out``) is reached through a port of ours connected to it.

Nothing missing at start is fatal. With no MIDI system yet, or a named port not there yet (JACK
or the keyboard comes up after the user session), ``Ports`` says what it waits for and
``check()`` -- twice a second from the main loop -- opens it within 2 s of its appearing; the
player's clock runs meanwhile. A vanished named port is reported once and reopened when it comes
back; a vanished JACK server is waited for and every port reopened. A connection liveplay's
output had (to a named port, or one a user made) that disappears while both ports still exist
is reported once (JACK); when it comes back, ``check`` says so, and the player first silences
the synth (all-sound-off, all-notes-off), so nothing is left sounding there.

The input's sysex guard: RtMidi glues every event after an unterminated sysex onto it until an
``F7`` arrives (a stray ``F0`` would block all input, panic included). A small output of ours
("liveplay-guard") is connected to our input, and ``flush()`` sends it a lone ``F7`` before each
step's input is read; ``inputs.InputQueue`` splits what was glued and ignores the lone ``F7``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from typing import Callable

import mido

from liveplay.errors import PortError
from liveplay.live.inputs import END_OF_SYSEX, InputCallback
from liveplay.live.jackgraph import CLOSE_WAIT, JackGraph
from liveplay.live.system import HOW_TO, find_api, jack_alive

log = logging.getLogger(__name__)

CLIENT_NAME = "liveplay"
KINDS = ("output", "input")  # opened in this order; closed in this order too (outputs first)
PORT_NAMES = {"input": "liveplay in", "output": "liveplay out"}
CLOSE_GRACE = 0.05  # s between the last message sent and closing the output
# Ports whose JACK client died with its server. Closing or freeing one segfaults inside libjack
# (seen with python-rtmidi 1.5), so they are kept here, never closed, and a process that has
# any leaves with os._exit after its own clean-up (see app.run).
DEAD_PORTS: list = []


def find_port(names: list[str], wanted: str) -> str | None:
    """Exact name first, then the first name that contains ``wanted`` (case-insensitive)."""
    if wanted in names:
        return wanted
    low = wanted.lower()
    for n in names:
        if low in n.lower():
            return n
    return None


def is_ours(name: str) -> bool:
    """A port of a liveplay client ('liveplay', or 'liveplay-01' when JACK renamed a second one)."""
    return re.match(rf"{CLIENT_NAME}(-\d+|-guard)?:", name) is not None


def _rtmidi(api: str, kind: str, client: str):
    import rtmidi

    number = rtmidi.API_UNIX_JACK if api == "jack" else rtmidi.API_LINUX_ALSA
    try:
        return (rtmidi.MidiOut if kind == "output" else rtmidi.MidiIn)(number, name=client)
    except Exception as err:  # rtmidi raises SystemError / RtMidiError when the system is gone
        raise PortError(f"cannot open a MIDI {kind} client: {err}") from err


class Port:
    """One open rtmidi port of ours: ``name`` is ours, ``target`` the named port it is connected to."""

    def __init__(self, rt, kind: str, name: str, target: str | None, callback: InputCallback | None = None):
        self.rt, self.kind, self.name, self.target = rt, kind, name, target
        self.callback = callback

    def send(self, message: mido.Message) -> None:
        self.rt.send_message(message.bytes())

    def close(self) -> None:
        if self.callback is not None:
            self.callback.stop(self.rt)
        self.rt.close_port()
        self.rt.delete()


def open_port(api: str, kind: str, wanted: str | None, client: str = CLIENT_NAME,
              port_name: str | None = None, on_bytes: Callable | None = None, own: bool = False) -> Port | None:
    """Our port, connected to the port named like ``wanted`` (None when it is not there now), or a
    virtual one (``wanted`` None). An input delivers its raw bytes to ``on_bytes``. Our own ports
    are never matched (a loop), unless ``own`` (the sysex guard's target)."""
    port_name = port_name or PORT_NAMES[kind]
    rt = _rtmidi(api, kind, client)
    callback = None
    try:
        if kind == "input":
            rt.ignore_types(sysex=False, timing=False, active_sense=True)
            if on_bytes is not None:
                callback = InputCallback(rt, on_bytes)
        if wanted is None:
            rt.open_virtual_port(port_name)
            return Port(rt, kind, f"{client}:{port_name}", None, callback)
        names = [n for n in rt.get_ports()]
        found = find_port(names if own else [n for n in names if not is_ours(n)], wanted)
        if found is None:
            rt.delete()
            return None
        rt.open_port(names.index(found), port_name)
        return Port(rt, kind, f"{client}:{port_name}", found, callback)
    except PortError:
        raise
    except Exception as err:
        rt.delete()
        raise PortError(f"cannot open the MIDI {kind}: {err}") from err


class Ports:
    """The input and output of one run, held until ``close``; ``check`` watches and reopens them.

    ``missing`` lists the kinds not open now (waiting or lost); sending then raises PortError.
    """

    def __init__(self, api: str, in_name: str | None, out_name: str | None, virtual: bool, on_bytes: Callable):
        os.environ.setdefault("JACK_NO_START_SERVER", "1")
        self.requested = api
        self.api: str | None = None
        self.wanted = {"input": in_name, "output": out_name}
        for kind, name in self.wanted.items():
            if name is None and not virtual:
                raise PortError(f"no MIDI {kind} given and virtual ports are off (live.virtual: false)")
        self.on_bytes = on_bytes
        self.ports: dict[str, Port | None] = {"input": None, "output": None}
        self.announced: set[str] = set()  # kinds whose absence has been said once
        self.lock = threading.Lock()  # send vs. swapping the output
        self.guard: Port | None = None
        self.graph: JackGraph | None = None
        self._watch = None  # long-lived clients that list ports (named ports only)
        self._connections: set[str] = set()  # our output's connections at the last check
        self._removed: set[str] = set()  # connections that went away while both ends stayed
        self.server_lost = False
        api_now = find_api(api)
        if api_now is None:
            log.warning("%s; waiting for one (the clock goes on)", HOW_TO if api == "auto" else
                        f"no {api.upper()} MIDI system yet")
        else:
            self._start(api_now)

    @property
    def missing(self) -> list[str]:
        return [k for k in KINDS if self.ports[k] is None]

    @property
    def targets(self) -> dict[str, str | None]:
        return {k: (p.target if p else None) for k, p in self.ports.items()}

    def name(self, kind: str) -> str:
        port = self.ports[kind]
        return port.name if port else f"{CLIENT_NAME}:{PORT_NAMES[kind]}"

    # -- opening ---------------------------------------------------------------------------

    def _start(self, api: str) -> list[str]:
        """Open everything on a MIDI system that has (re)appeared; returns the kinds opened."""
        self.api = api
        if api == "jack" and self.graph is None:
            self.graph = JackGraph.open()
        if any(self.wanted.values()):
            self._names()  # the watch clients, now, before playing, not mid-performance
        return [kind for kind in KINDS if self._open(kind)]

    def _open(self, kind: str) -> bool:
        wanted = self.wanted[kind]
        pattern = rf"^{CLIENT_NAME}(-[0-9]+)?:{re.escape(PORT_NAMES[kind])}$"
        before = set(self.graph.ports(pattern)) if self.graph else set()
        port = open_port(self.api, kind, wanted, on_bytes=self.on_bytes if kind == "input" else None)
        if port is None:
            if kind not in self.announced:
                log.warning("%s '%s' not there (yet): waiting for it (the clock goes on)", kind, wanted)
                self.announced.add(kind)
            return False
        self.announced.discard(kind)
        if self.graph:  # JACK renames a second client 'liveplay' to 'liveplay-01': ask what we got
            new = set(self.graph.ports(pattern)) - before
            if len(new) == 1:
                port.name = new.pop()
        with self.lock:
            old, self.ports[kind] = self.ports[kind], port
        if old is not None:
            old.close()
        log.info("%s: %s", kind, f"'{port.name}' connected to '{port.target}'" if port.target
                 else f"virtual port '{port.name}'")
        if kind == "input":
            self._open_guard(port)
        else:
            self._connections = self._output_connections()
            self._removed.clear()
        return True

    def _open_guard(self, port: Port) -> None:
        """A guard for a new input: the old one is taken out under the lock (the thinker's
        ``flush`` sends through it under the same lock), closed, and the new one put in."""
        with self.lock:
            old, self.guard = self.guard, None
        if old is not None:
            old.close()
        guard = None
        try:
            guard = open_port(self.api, "output", port.name, client=f"{CLIENT_NAME}-guard", port_name="flush",
                              own=True)
        except PortError as err:
            log.debug("no sysex guard: %s", err)
        if guard is None:
            log.debug("no sysex guard: '%s' not listed", port.name)
        with self.lock:
            self.guard = guard

    # -- while playing ---------------------------------------------------------------------

    def send(self, message: mido.Message) -> None:
        with self.lock:
            port = self.ports["output"]
            if port is None:
                raise PortError("the MIDI output is not there")
            port.send(message)

    def flush(self) -> None:
        """A lone F7 into our input: an unterminated sysex lets go of what came after it. Under
        the lock: the main thread swaps or drops the guard when the input comes back or the
        server goes, and must not close it while we send."""
        with self.lock:
            if self.guard is not None:
                try:
                    self.guard.rt.send_message([END_OF_SYSEX])
                except Exception as err:  # the guard is a helper: never stop the music for it
                    log.debug("sysex guard: %s", err)

    def check(self) -> list[str]:
        """Look for systems, ports and connections that came or went; returns what happened
        ('input lost', 'output back', 'output reconnected'...). Never raises.

        Cheap enough twice a second from the main thread: the JACK server's liveness is a
        connect() to its socket, port lists come from long-lived clients (opening a JACK client
        takes 40-100 ms with the GIL held, which would stall the step threads).
        """
        try:
            return self._check()
        except Exception as err:
            log.debug("port check: %s", err)
            return []

    def _check(self) -> list[str]:
        if self.api is None:
            api = find_api(self.requested)
            if api is None:
                return []
            opened = self._start(api)
            if self.server_lost:
                log.info("the JACK server is back: ports reopened")
            else:
                log.info("%s is here: ports opened", api.upper())
            self.server_lost = False
            return [f"{kind} back" for kind in opened]
        if self.api == "jack" and not jack_alive():
            return self._server_gone()
        events = []
        present = self._names() if any(self.wanted.values()) else None
        for kind in KINDS:
            port, wanted = self.ports[kind], self.wanted[kind]
            if port is None:
                if (wanted is None or wanted in present[kind] or find_port(self._others(present[kind]), wanted)) \
                        and self._open(kind):
                    log.info("%s '%s' is back: reconnected", kind, self.ports[kind].target or self.ports[kind].name)
                    events.append(f"{kind} back")
            elif port.target is not None and port.target not in present[kind]:
                log.warning("%s '%s' is gone: waiting for it to come back", kind, port.target)
                self.announced.add(kind)
                with self.lock:
                    self.ports[kind] = None
                port.close()
                events.append(f"{kind} lost")
        if self.ports["output"] is not None:
            events += self._watch_connections()
        return events

    @staticmethod
    def _others(names: list[str]) -> list[str]:
        return [n for n in names if not is_ours(n)]

    def _server_gone(self) -> list[str]:
        log.warning("the JACK server is gone: waiting for it to come back (the clock goes on)")
        with self.lock:
            dead = [p.rt for p in self.ports.values() if p is not None]
            dead += [self.guard.rt] if self.guard else []
            dead += list((self._watch or {}).values())
            dead += [self.graph] if self.graph else []
            DEAD_PORTS.extend(dead)
            self.ports = {"input": None, "output": None}
            self.guard = self._watch = self.graph = None
        self.api = None
        self.server_lost = True
        self.announced = set(KINDS)
        return ["output lost", "input lost"]

    def _names(self) -> dict[str, list[str]]:
        if self._watch is None:
            self._watch = {"input": _rtmidi(self.api, "input", f"{CLIENT_NAME}-watch"),
                           "output": _rtmidi(self.api, "output", f"{CLIENT_NAME}-watch")}
        return {kind: rt.get_ports() for kind, rt in self._watch.items()}

    def _output_connections(self) -> set[str]:
        port = self.ports["output"]
        if self.graph is None or port is None:
            return set()
        return set(self.graph.connections(port.name))

    def _watch_connections(self) -> list[str]:
        """A connection of our output that went away (both ends still there), or came back."""
        if self.graph is None:
            return []
        now = self._output_connections()
        events = []
        for gone in sorted(self._connections - now):
            if self.graph.exists(gone):
                log.warning("output: the connection to '%s' was removed (both ports are still there); "
                            "notes sounding there are silenced when it is connected again", gone)
                self._removed.add(gone)
                events.append("output disconnected")
        back = now & self._removed
        if back:
            log.info("output: connected to %s again", ", ".join(f"'{n}'" for n in sorted(back)))
            self._removed -= back
            events.append("output reconnected")
        self._connections = now
        return events

    def _peers(self, kind: str) -> list[str]:
        """What others connected to our port (JACK; not our own guard)."""
        if self.graph is None or self.ports[kind] is None:
            return []
        return [n for n in self.graph.connections(self.ports[kind].name) if not is_ours(n)]

    def hint(self) -> str:
        """What to connect, for the kinds that need it; nothing for what is connected already."""
        parts = []
        for kind, what, example in (("input", "a keyboard", "keyboard"), ("output", "a synth", "synth")):
            port, wanted = self.ports[kind], self.wanted[kind]
            if port is not None and port.target is not None:
                parts.append(f"{'listening to' if kind == 'input' else 'playing to'} '{port.target}'")
            elif wanted is not None:
                parts.append(f"waiting for {kind} '{wanted}'")
            elif self.api == "jack" and not self._peers(kind):
                pair = (f"'<{example} port>' '{self.name(kind)}'" if kind == "input"
                        else f"'{self.name(kind)}' '<{example} port>'")
                parts.append(f"connect {what}: jack_connect {pair}")
            elif self.api == "alsa":
                pair = f"'<{example}>' '{CLIENT_NAME}'" if kind == "input" else f"'{CLIENT_NAME}' '<{example}>'"
                parts.append(f"connect {what}: aconnect {pair}")
            elif self.api is None:
                parts.append(f"{kind} '{self.name(kind)}' opens when a MIDI system is there")
        listing = {"jack": " (jack_lsp lists ports)", "alsa": " (aconnect -l lists clients)"}.get(self.api or "", "")
        return "; ".join(parts) + (listing if any("connect " in p for p in parts) else "")

    def close(self) -> None:
        """Outputs before inputs (nothing can be triggered into a closed output); the guard last.

        The last messages sent (the stop's note-offs and CC 123) wait in the output's ring buffer
        for the server's next cycles: closing at once could drop them, so the output gets
        ``CLOSE_GRACE`` first (two periods of a 1024-frame JACK server).
        """
        if self.ports["output"] is not None:
            time.sleep(CLOSE_GRACE)
        for port in [self.ports[k] for k in KINDS] + [self.guard]:
            if port is None:
                continue
            try:
                port.close()
            except Exception as err:  # closing must go on for the other port
                log.warning("closing %s: %s", port.name, err)
        self.ports = {"input": None, "output": None}
        self.guard = None
        if self.graph is not None:
            if not self.graph.close():
                log.warning("the JACK server did not answer our graph client's close in %.0f s; leaving without it",
                            CLOSE_WAIT)
                DEAD_PORTS.append(self.graph)  # left to the process's exit (app.run: os._exit)
            self.graph = None
