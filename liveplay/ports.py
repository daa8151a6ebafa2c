"""MIDI ports: pick the API, list, open by name or substring, virtual ports, timestamped input.

mido over python-rtmidi. ``api: auto`` takes the ALSA sequencer when this machine
has one (/dev/snd/seq), else a running JACK server, else it fails with a message
saying how to get either. Ports are opened once and held for the whole run.

The rtmidi input callback only stamps the message with ``time.monotonic()`` and
puts it on a bounded queue; when the queue is full (a flood) the message is
counted and dropped, never blocking the rtmidi thread.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

import mido

from liveplay.errors import PortError

log = logging.getLogger(__name__)

CLIENT_NAME = "liveplay"
BACKENDS = {"alsa": "mido.backends.rtmidi/LINUX_ALSA", "jack": "mido.backends.rtmidi/UNIX_JACK"}
HOW_TO = ("no MIDI system found: neither the ALSA sequencer (/dev/snd/seq; load snd-seq) nor a running JACK "
          "server. Start one, e.g. `jackd -d dummy &` for a headless machine, or `jackd -d alsa` with a sound card.")


def alsa_present() -> bool:
    return os.path.exists("/dev/snd/seq")


def jack_running() -> bool:
    """True when a JACK server answers (opening a client does not start one: JACK_NO_START_SERVER)."""
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    import rtmidi

    try:
        probe = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="liveplay-probe")
    except Exception:  # rtmidi raises SystemError / RtMidiError when no server answers
        return False
    try:
        probe.get_port_count()
        return True
    finally:
        probe.delete()


def jack_socket() -> str | None:
    """The running JACK server's request socket (jackd2 on Linux), or None when not found there."""
    name = os.environ.get("JACK_DEFAULT_SERVER") or "default"
    path = f"/dev/shm/jack_{name}_{os.getuid()}_0"
    if not os.path.exists(path):
        log.debug("no JACK server socket at %s: a JACK restart will not be noticed", path)
        return None
    return path


def choose_api(api: str) -> str:
    if api == "alsa":
        if not alsa_present():
            raise PortError("api 'alsa': this machine has no ALSA sequencer (/dev/snd/seq)")
        return api
    if api == "jack":
        if not jack_running():
            raise PortError("api 'jack': no JACK server is running (start one, e.g. `jackd -d dummy &`)")
        return api
    if alsa_present():
        return "alsa"
    if jack_running():
        return "jack"
    raise PortError(HOW_TO)


def backend(api: str) -> mido.Backend:
    return mido.Backend(BACKENDS[choose_api(api)], load=True)


def describe_ports(api: str) -> str:
    chosen = choose_api(api)
    b = mido.Backend(BACKENDS[chosen], load=True)
    ins, outs = b.get_input_names(), b.get_output_names()
    lines = [f"API: {chosen}", "inputs (liveplay can listen to):"]
    lines += [f"  {n}" for n in ins] or ["  (none)"]
    lines += ["outputs (liveplay can play to):"]
    lines += [f"  {n}" for n in outs] or ["  (none)"]
    return "\n".join(lines)


def find_port(names: list[str], wanted: str) -> str | None:
    """Exact name first, then the first name that contains ``wanted`` (case-insensitive)."""
    if wanted in names:
        return wanted
    low = wanted.lower()
    for n in names:
        if low in n.lower():
            return n
    return None


@dataclass
class Stamped:
    time: float  # time.monotonic() at arrival
    message: mido.Message


# system real-time and song position: never queued (the clock follower takes the transport ones)
REALTIME = frozenset({"clock", "start", "continue", "stop", "songpos", "active_sensing", "reset"})


class InputQueue:
    """Bounded queue fed by the rtmidi callback: stamp, enqueue, return.

    System real-time messages (clock, transport, song position) do not queue: they go
    at once to ``realtime(message, time)`` when following a MIDI clock, else nowhere.
    """

    def __init__(self, maxsize: int = 4096, realtime: Callable[[mido.Message, float], None] | None = None):
        self.queue: queue.Queue[Stamped] = queue.Queue(maxsize)
        self.dropped = 0
        self.realtime = realtime

    def callback(self, message: mido.Message) -> None:
        try:
            stamp = time.monotonic()
            if message.type in REALTIME:
                if self.realtime is not None:
                    self.realtime(message, stamp)
                return
            self.queue.put_nowait(Stamped(stamp, message))
        except queue.Full:
            self.dropped += 1
        except Exception:  # never raise into the rtmidi thread
            self.dropped += 1

    def drain(self, limit: int = 100_000) -> list[Stamped]:
        out = []
        try:
            while len(out) < limit:
                out.append(self.queue.get_nowait())
        except queue.Empty:
            pass
        return out


# Ports whose JACK client died with its server. Closing or freeing one segfaults inside libjack
# (seen with python-rtmidi 1.5), so they are kept here, never closed, and a process that has
# any leaves with os._exit after its own clean-up (see app.run).
DEAD_PORTS: list = []


class Ports:
    """The input and output ports of one run, held until ``close``; ``check`` watches them.

    A named port that disappears (a keyboard unplugged, a DAW closed) is reported once and
    reopened when it comes back; a JACK server that goes away is waited for, and every port is
    reopened when it is back. Sending while the output is gone raises PortError.
    """

    def __init__(self, api: str, in_name: str | None, out_name: str | None, virtual: bool,
                 inputs: InputQueue):
        self.api = choose_api(api)
        self.backend = mido.Backend(BACKENDS[self.api], load=True)
        self.inputs = inputs
        self.wanted = {"input": in_name, "output": out_name}
        self.virtual = virtual
        self.targets: dict[str, str | None] = {}  # kind -> the named port we are connected to
        self.lost: set[str] = set()
        self.server_lost = False
        self.lock = threading.Lock()  # send vs. swapping the output
        self._watch = None  # long-lived clients that list ports (created when a named port is used)
        self._socket = jack_socket() if self.api == "jack" else None
        self.output = self._open("output")
        try:
            self.input = self._open("input")
            if any(self.targets.values()):
                self._names()  # open the watch clients now, before playing, not mid-performance
        except Exception:
            self.output.close()
            raise

    def _open(self, kind: str):
        virtual_name = f"liveplay {'out' if kind == 'output' else 'in'}"
        kw = {"callback": self.inputs.callback} if kind == "input" else {}
        port, target = self._open_port(self.backend, kind, self.wanted[kind], self.virtual, virtual_name, **kw)
        self.targets[kind] = target
        return port

    @staticmethod
    def _open_port(b: mido.Backend, kind: str, wanted: str | None, virtual: bool, virtual_name: str,
                   client: str = CLIENT_NAME, **kw):
        """(port, name of the port it is connected to, or None for a virtual port ``client:virtual_name``)."""
        names = b.get_output_names() if kind == "output" else b.get_input_names()
        names = [n for n in names if not n.startswith(f"{CLIENT_NAME}:")]  # never our own ports: a loop
        opener = b.open_output if kind == "output" else b.open_input
        try:
            if wanted:
                found = find_port(names, wanted)
                if found:
                    # no client_name here: mido turns any open with a client_name into a new
                    # virtual port (named like the target, connected to nothing)
                    port = opener(found, **kw)
                    log.info("%s: connected to '%s'", kind, found)
                    return port, found
                if not virtual:
                    raise PortError(f"no MIDI {kind} matches '{wanted}'; {kind}s: {', '.join(names) or 'none'}")
                log.info("%s '%s' not found: opening a virtual port instead", kind, wanted)
            if not virtual:
                raise PortError(f"no MIDI {kind} given and virtual ports are off")
            port = opener(virtual_name, virtual=True, client_name=client, **kw)
            log.info("%s: virtual port '%s:%s'", kind, client, virtual_name)
            return port, None
        except PortError:
            raise
        except Exception as err:
            raise PortError(f"cannot open the MIDI {kind}: {err}") from err

    def send(self, message: mido.Message) -> None:
        with self.lock:
            if self.output is None or "output" in self.lost:
                raise PortError("the MIDI output is gone")
            self.output.send(message)

    def check(self) -> list[str]:
        """Look for lost and returned ports; returns what happened ('input lost', 'output back'...).

        Cheap enough to call twice a second from the main thread: the JACK server's liveness is a
        connect() to its Unix socket and port lists come from one long-lived client (opening a
        JACK client takes 40-100 ms with the GIL held, which would stall the step threads).
        Never raises: a problem here must not stop the music.
        """
        try:
            return self._check()
        except Exception as err:
            log.debug("port check: %s", err)
            return []

    def _server_alive(self) -> bool:
        if self.api != "jack" or self._socket is None:
            return True
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(0.05)
        try:
            probe.connect(self._socket)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def _names(self) -> dict[str, list[str]]:
        if self._watch is None:
            import rtmidi

            api = rtmidi.API_UNIX_JACK if self.api == "jack" else rtmidi.API_LINUX_ALSA
            self._watch = {"input": rtmidi.MidiIn(api, name="liveplay-watch"),
                           "output": rtmidi.MidiOut(api, name="liveplay-watch")}
        return {kind: rt.get_ports() for kind, rt in self._watch.items()}

    def _check(self) -> list[str]:
        if not self._server_alive():
            if self.server_lost:
                return []
            log.warning("the JACK server is gone: waiting for it to come back (the clock goes on)")
            self.server_lost = True
            with self.lock:
                dead = [self.output, self.input] + list((self._watch or {}).values())
                DEAD_PORTS.extend(p for p in dead if p is not None)
                self.output = self.input = self._watch = None
            return ["output lost", "input lost"]
        if self.server_lost:
            self.backend = mido.Backend(BACKENDS[self.api], load=True)
            output, inp = self._open("output"), self._open("input")
            with self.lock:
                self.output, self.input = output, inp
            self.server_lost = False
            self.lost.clear()
            log.info("the JACK server is back: ports reopened")
            return ["output back", "input back"]
        named = {k: t for k, t in self.targets.items() if t}
        if not named:
            return []
        present = self._names()
        events = []
        for kind, target in named.items():
            if kind not in self.lost and target not in present[kind]:
                log.warning("%s '%s' is gone: waiting for it to come back", kind, target)
                self.lost.add(kind)
                events.append(f"{kind} lost")
            elif kind in self.lost and target in present[kind]:
                new = self._open(kind)
                with self.lock:
                    old = self.output if kind == "output" else self.input
                    if kind == "output":
                        self.output = new
                    else:
                        self.input = new
                    self.lost.discard(kind)
                old.close()
                log.info("%s '%s' is back: reconnected", kind, target)
                events.append(f"{kind} back")
        return events

    def close(self) -> None:
        """Outputs before inputs (nothing can be triggered into a closed output)."""
        for port in (self.output, self.input):
            if port is None:
                continue
            try:
                port.close()
            except Exception as err:  # closing must go on for the other port
                log.warning("closing %s: %s", port, err)
