"""Where the General MIDI soundfont is: FluidSynth's sound, for ``run --synth`` and ``render``."""

from __future__ import annotations

from pathlib import Path

from liveplay.errors import UsageError

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
              "/usr/share/soundfonts/default.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2")
INSTALL = "apt install fluidsynth fluid-soundfont-gm (scripts/run sets them up)"


def find_soundfont() -> Path:
    for candidate in SOUNDFONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise UsageError(f"no General MIDI soundfont found ({', '.join(SOUNDFONTS)}): {INSTALL}")
