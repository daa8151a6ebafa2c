"""Which MIDI system: the ALSA sequencer or a JACK server, and whether it is there now.

``api: auto`` takes the ALSA sequencer when this machine has one (/dev/snd/seq), else a running
JACK server. Looking costs nothing worth mentioning: a file test, and for JACK a ``connect()`` to
the server's request socket (0.2 ms) -- no JACK client is opened, so nothing holds the GIL.
"""

from __future__ import annotations

import os
import socket

import mido

from liveplay.errors import PortError

BACKENDS = {"alsa": "mido.backends.rtmidi/LINUX_ALSA", "jack": "mido.backends.rtmidi/UNIX_JACK"}
HOW_TO = ("no MIDI system found: neither the ALSA sequencer (/dev/snd/seq; load snd-seq) nor a running JACK "
          "server. Start one, e.g. `jackd -d dummy &` for a headless machine, or `jackd -d alsa` with a sound card.")


def alsa_present() -> bool:
    return os.path.exists("/dev/snd/seq")


def jack_socket() -> str:
    """Where the JACK server (jackd2 on Linux) takes requests."""
    name = os.environ.get("JACK_DEFAULT_SERVER") or "default"
    return f"/dev/shm/jack_{name}_{os.getuid()}_0"


def jack_alive() -> bool:
    """True when a JACK server answers on its request socket (0.2 ms; opens no JACK client)."""
    path = jack_socket()
    if not os.path.exists(path):
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(0.05)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def find_api(api: str) -> str | None:
    """The MIDI system to use now, or None when the one asked for (or any, for auto) is not there."""
    if api == "alsa":
        return api if alsa_present() else None
    if api == "jack":
        return api if jack_alive() else None
    if alsa_present():
        return "alsa"
    return "jack" if jack_alive() else None


def choose_api(api: str) -> str:
    """``find_api`` for commands that cannot wait (``ports``, ``learn``): PortError when absent."""
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    found = find_api(api)
    if found is not None:
        return found
    if api == "alsa":
        raise PortError("api 'alsa': this machine has no ALSA sequencer (/dev/snd/seq)")
    if api == "jack":
        raise PortError("api 'jack': no JACK server is running (start one, e.g. `jackd -d dummy &`)")
    raise PortError(HOW_TO)


def describe_ports(api: str) -> str:
    chosen = choose_api(api)
    b = mido.Backend(BACKENDS[chosen], load=True)
    ins, outs = b.get_input_names(), b.get_output_names()
    lines = [f"API: {chosen}", "inputs (liveplay can listen to):"]
    lines += [f"  {n}" for n in ins] or ["  (none)"]
    lines += ["outputs (liveplay can play to):"]
    lines += [f"  {n}" for n in outs] or ["  (none)"]
    return "\n".join(lines)
