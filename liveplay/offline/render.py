"""``liveplay render FILE.mid [--wav OUT.wav] [--png OUT.png]``: hear it and see it, without a DAW.

- **Audio**: FluidSynth (Debian ``fluidsynth``) renders the file offline through a General MIDI
  soundfont (``fluid-soundfont-gm``) into a 44.1 kHz WAV file -- no sound card, no MIDI system.
- **Picture**: a piano roll, drawn here into a PNG (zlib and the PNG chunk format: no plotting
  library, so the runtime install stays light). Time runs left to right at ``PX_PER_BEAT``
  pixels a beat, pitch bottom to top at ``PX_PER_PITCH`` pixels a semitone over the file's pitch
  range (half an octave's margin on each side): ``width = ceil(beats * PX_PER_BEAT) + 1``,
  ``height = (high - low + 1) * PX_PER_PITCH`` (a file longer than ``MAX_WIDTH`` pixels is
  squeezed to fit). Each MIDI channel has its colour; a light line marks every beat, a darker one
  every bar of four, and every C.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np

from liveplay.errors import LiveplayError, UsageError
from liveplay.music.midifile import read_notes
from liveplay.soundfont import INSTALL, find_soundfont

PX_PER_BEAT = 24
PX_PER_PITCH = 4
MARGIN = 6  # semitones above and below the file's range
EMPTY_PITCH = 60  # a file without notes: an empty roll around middle C
RENDER_TIMEOUT = 900  # s: FluidSynth renders far faster than real time; the longest file allowed takes minutes
MAX_WIDTH = 30_000  # pixels: a longer file is squeezed to fit
BACKGROUND = (250, 250, 247)
GRID_BEAT, GRID_BAR, GRID_C = (232, 232, 228), (200, 200, 195), (220, 226, 236)
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34)]


def render_wav(midi: str | Path, wav: str | Path, rate: int = 44100, gain: float = 0.6) -> Path:
    """The file played through FluidSynth into a WAV file."""
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise UsageError(f"render --wav needs FluidSynth: {INSTALL}")
    read_notes(midi)  # a clear error for a missing or corrupt file, before FluidSynth guesses
    wav = Path(wav)
    wav.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([exe, "-ni", "-g", str(gain), "-r", str(rate), "-F", str(wav), "-T", "wav",
                               str(find_soundfont()), str(midi)],
                              capture_output=True, text=True, timeout=RENDER_TIMEOUT)
    except subprocess.TimeoutExpired as err:
        raise LiveplayError(f"FluidSynth took more than {RENDER_TIMEOUT} s to render {midi}; "
                            f"{wav} is incomplete") from err
    if done.returncode != 0 or not wav.exists():
        raise UsageError(f"FluidSynth could not render {midi}: {done.stderr.strip()[:300]}")
    return wav


def piano_roll(midi: str | Path) -> np.ndarray:
    """The file's piano roll as an RGB image (height, width, 3) of uint8."""
    notes, length = read_notes(midi, skip_drums=False)
    pitches = [n.pitch for n in notes] or [EMPTY_PITCH]
    low, high = max(0, min(pitches) - MARGIN), min(127, max(pitches) + MARGIN)
    px_beat = min(PX_PER_BEAT, MAX_WIDTH / max(length, 1e-9))
    width = max(1, int(np.ceil(length * px_beat)) + 1)
    height = (high - low + 1) * PX_PER_PITCH
    image = np.empty((height, width, 3), dtype=np.uint8)  # (H, W, 3)
    image[:] = BACKGROUND
    for pitch in range(low, high + 1):
        if pitch % 12 == 0:
            y = (high - pitch) * PX_PER_PITCH + PX_PER_PITCH - 1
            image[y, :] = GRID_C
    for beat in range(int(length) + 1):
        image[:, min(width - 1, int(beat * px_beat))] = GRID_BAR if beat % 4 == 0 else GRID_BEAT
    for n in notes:
        y = (high - n.pitch) * PX_PER_PITCH
        x0, x1 = int(n.start * px_beat), max(int(n.start * px_beat) + 1, int(n.end * px_beat))
        image[y + 1: y + PX_PER_PITCH, x0:x1] = COLOURS[n.channel % len(COLOURS)]
    return image


def write_png(image: np.ndarray, path: str | Path) -> Path:
    """An RGB uint8 image (H, W, 3) as a PNG file: signature, IHDR, one IDAT (zlib), IEND."""
    height, width, _ = image.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8), image.reshape(height, width * 3)], axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))
    return path


def render_png(midi: str | Path, png: str | Path) -> Path:
    return write_png(piano_roll(midi), png)
