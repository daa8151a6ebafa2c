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
import time
from dataclasses import dataclass

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


class InputQueue:
    """Bounded queue fed by the rtmidi callback: stamp, enqueue, return."""

    def __init__(self, maxsize: int = 4096):
        self.queue: queue.Queue[Stamped] = queue.Queue(maxsize)
        self.dropped = 0

    def callback(self, message: mido.Message) -> None:
        try:
            self.queue.put_nowait(Stamped(time.monotonic(), message))
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


class Ports:
    """The input and output ports of one run, held until ``close``."""

    def __init__(self, api: str, in_name: str | None, out_name: str | None, virtual: bool,
                 inputs: InputQueue):
        self.api = choose_api(api)
        b = mido.Backend(BACKENDS[self.api], load=True)
        self.inputs = inputs
        self.output = self._open(b, "output", out_name, virtual, "liveplay out")
        try:
            self.input = self._open(b, "input", in_name, virtual, "liveplay in", callback=inputs.callback)
        except Exception:
            self.output.close()
            raise

    @staticmethod
    def _open(b: mido.Backend, kind: str, wanted: str | None, virtual: bool, virtual_name: str, **kw):
        names = b.get_output_names() if kind == "output" else b.get_input_names()
        opener = b.open_output if kind == "output" else b.open_input
        try:
            if wanted:
                found = find_port(names, wanted)
                if found:
                    # no client_name here: mido turns any open with a client_name into a new
                    # virtual port (named like the target, connected to nothing)
                    port = opener(found, **kw)
                    log.info("%s: connected to '%s'", kind, found)
                    return port
                if not virtual:
                    raise PortError(f"no MIDI {kind} matches '{wanted}'; {kind}s: {', '.join(names) or 'none'}")
                log.info("%s '%s' not found: opening a virtual port instead", kind, wanted)
            if not virtual:
                raise PortError(f"no MIDI {kind} given and virtual ports are off")
            port = opener(virtual_name, virtual=True, client_name=CLIENT_NAME, **kw)
            log.info("%s: virtual port '%s:%s'", kind, CLIENT_NAME, virtual_name)
            return port
        except PortError:
            raise
        except Exception as err:
            raise PortError(f"cannot open the MIDI {kind}: {err}") from err

    def send(self, message: mido.Message) -> None:
        self.output.send(message)

    def close(self) -> None:
        """Outputs before inputs (nothing can be triggered into a closed output)."""
        for port in (self.output, self.input):
            try:
                port.close()
            except Exception as err:  # closing must go on for the other port
                log.warning("closing %s: %s", port, err)
