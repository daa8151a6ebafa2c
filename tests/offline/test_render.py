"""`liveplay render`: FluidSynth's audio checked on the samples themselves, and the piano roll's PNG."""

import shutil
import struct
import wave
import zlib

import numpy as np
import pytest

from liveplay import cli
from liveplay.music.midifile import write_tokens
from liveplay.music.tokens import HOLD, REST
from liveplay.offline.render import EMPTY_PITCH, MARGIN, PX_PER_BEAT, PX_PER_PITCH

# at 120 BPM, 2 steps a beat: a chord for 2 s, then 3 s of rest, then a note for 1 s
TOKENS = [(60, 64, 67)] + [HOLD] * 7 + [REST] * 12 + [(72,)] + [HOLD] * 3


@pytest.fixture
def song(tmp_path):
    return write_tokens(TOKENS, tmp_path / "song.mid", 2, 120)


def rms(samples: np.ndarray, rate: int, start: float, end: float) -> float:
    part = samples[int(start * rate): int(end * rate)]
    return float(np.sqrt(np.mean(part ** 2)))


def test_the_audio_sounds_where_the_notes_are_and_rests_where_the_file_rests(song, tmp_path):
    if shutil.which("fluidsynth") is None:  # a real FluidSynth or a failure: scripts/setup installs it
        pytest.fail("FluidSynth is not installed (Debian fluidsynth and fluid-soundfont-gm; scripts/setup installs them)")
    wav = tmp_path / "song.wav"
    assert cli.main(["render", str(song), "--wav", str(wav)]) == 0
    with wave.open(str(wav)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float)
    samples = samples.reshape(-1, channels).mean(axis=1)
    chord, rest, note = rms(samples, rate, 0.2, 1.9), rms(samples, rate, 3.0, 4.9), rms(samples, rate, 5.1, 5.9)
    print("rms", chord, rest, note)
    assert chord > 100 and note > 50, (chord, note)  # int16 samples: clearly sounding
    assert rest < 0.05 * note, (rest, note)  # the release tail has died away a second into the rest


def png_chunks(data: bytes) -> dict:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, i = {}, 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i: i + 4])
        kind = data[i + 4: i + 8]
        body = data[i + 8: i + 8 + length]
        assert struct.unpack(">I", data[i + 8 + length: i + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        i += 12 + length
    return chunks


def test_the_piano_roll_has_the_documented_size_and_the_notes_drawn(song, tmp_path):
    png = tmp_path / "song.png"
    assert cli.main(["render", str(song), "--png", str(png)]) == 0
    chunks = png_chunks(png.read_bytes())
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    beats = len(TOKENS) / 2
    assert (width, height, depth, colour) == (int(beats * PX_PER_BEAT) + 1, (72 - 60 + 2 * MARGIN + 1) * PX_PER_PITCH,
                                              8, 2)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, 1 + 3 * width)
    image = rows[:, 1:].reshape(height, width, 3)
    y_c4 = (72 + MARGIN - 60) * PX_PER_PITCH + 2  # inside C4's row
    background = image[y_c4, int(5.5 * PX_PER_BEAT)]  # C4's row in the rest
    assert (image[y_c4, PX_PER_BEAT // 2] != background).any()  # the chord's C4 is drawn
    assert (image[MARGIN * PX_PER_PITCH + 2, int(10.5 * PX_PER_BEAT)] != background).any()  # C5 at beat 10


def test_a_file_without_notes_is_an_empty_roll_around_middle_c(tmp_path):
    empty = write_tokens([REST] * 8, tmp_path / "empty.mid", 2, 120)
    png = tmp_path / "empty.png"
    assert cli.main(["render", str(empty), "--png", str(png)]) == 0
    width, height = struct.unpack(">II", png_chunks(png.read_bytes())[b"IHDR"][:8])
    assert EMPTY_PITCH == 60 and height == (2 * MARGIN + 1) * PX_PER_PITCH and width >= 1


@pytest.mark.parametrize("out", ["--png", "--wav"])
def test_a_missing_or_corrupt_file_exits_2_naming_it(tmp_path, caplog, out):
    assert cli.main(["render", str(tmp_path / "nope.mid"), out, str(tmp_path / "x.out")]) == 2
    assert "nope.mid: no such file" in caplog.text
    (tmp_path / "bad.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    assert cli.main(["render", str(tmp_path / "bad.mid"), out, str(tmp_path / "x.out")]) == 2
    assert f"{tmp_path / 'bad.mid'}: " in caplog.text
    assert not (tmp_path / "x.out").exists()
