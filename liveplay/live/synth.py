"""``liveplay run --synth``: FluidSynth on the same MIDI system, started and stopped with liveplay.

FluidSynth (Debian ``fluidsynth``) plays a General MIDI soundfont (``fluid-soundfont-gm``). On
JACK its MIDI input and audio are JACK ports of the client ``liveplay-synth`` (audio connected to
the system's playback); on ALSA its sequencer client has the same name and the audio goes to its
default driver (PulseAudio or PipeWire on a desktop). liveplay's output is then the named port
``liveplay-synth``, found and connected by ``ports.Ports`` like any other -- waited for while
FluidSynth loads its soundfont.

FluidSynth's shell reads our pipe: it runs until we write ``quit`` (or the pipe closes, or
liveplay dies), and opens no network socket (no ``-s``).
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from liveplay.errors import UsageError
from liveplay.soundfont import INSTALL, find_soundfont

log = logging.getLogger(__name__)

CLIENT = "liveplay-synth"


class Synth:
    """A FluidSynth process for this run; ``stop`` ends it (always, from the app's ExitStack)."""

    def __init__(self, api: str, gain: float = 0.6):
        exe = shutil.which("fluidsynth")
        if exe is None:
            raise UsageError(f"--synth needs FluidSynth: {INSTALL}")
        soundfont = find_soundfont()
        if api == "jack":
            drivers = ["-a", "jack", "-m", "jack", "-j", "-o", f"audio.jack.id={CLIENT}",
                       "-o", f"midi.jack.id={CLIENT}"]
        else:
            drivers = ["-m", "alsa_seq", "-o", f"midi.alsa_seq.id={CLIENT}"]
        command = [exe, *drivers, "-g", str(gain), str(soundfont)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self.reported = False
        log.info("synth: FluidSynth (%s) with %s, as '%s'", api.upper(), soundfont.name, CLIENT)

    def check(self) -> None:
        """From the main loop: say once if FluidSynth died (the music goes on, unheard)."""
        code = self.process.poll()
        if code is not None and not self.reported:
            self.reported = True
            log.warning("synth: FluidSynth exited with code %s; liveplay plays on into nothing", code)

    def stop(self, timeout: float = 3.0) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write(b"quit\n")
                self.process.stdin.close()
                self.process.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        log.info("synth: FluidSynth stopped")
