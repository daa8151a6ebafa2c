"""The musician's kit on a real JACK server: --record keeps the jam (even through a SIGKILL), --synth
makes sound with FluidSynth and takes it down again."""

import re
import shutil
import signal
import subprocess
import time
import wave

import mido
import numpy as np
import pytest

from jacktools import Daemon, Recorder, open_player, onset_times

pytestmark = pytest.mark.slow


def tracks_by_name(path):
    midi = mido.MidiFile(path)
    return midi, {next((m.name for m in t if m.type == "track_name"), str(i)): t for i, t in enumerate(midi.tracks)}


def notes_of(track, ticks_per_beat):
    """(pitch, start beat, end beat) of every note; end None when it never ends."""
    now, on, out = 0, {}, []
    for m in track:
        now += m.time
        if m.type == "note_on" and m.velocity:
            on[(m.channel, m.note)] = now
        elif m.type in ("note_on", "note_off") and (m.channel, m.note) in on:
            out.append((m.note, on.pop((m.channel, m.note)) / ticks_per_beat, now / ticks_per_beat))
    return out + [(p, t / ticks_per_beat, None) for (_, p), t in on.items()]


def play_melody(port, bars, step):
    for i in range(bars * 8):
        note = 60 + [0, 2, 4, 5, 7, 5, 4, 2][i % 8]
        port.send(mido.Message("note_on", note=note, velocity=90))
        time.sleep(step * 0.9)
        port.send(mido.Message("note_off", note=note))
        time.sleep(step * 0.1)


def test_record_keeps_both_parts_tempo_and_leaves_nothing_hanging(jack_server, tiny_config, tiny_model, tmp_path):
    out = tmp_path / "jam.mid"
    d = Daemon(jack_server, ["--config", str(tiny_config), "--model", str(tiny_model), "--mode", "accompany",
                             "--tempo", "150", "--record", str(out)], tmp_path / "d.log")
    step = 60 / 150 / 2
    rec = Recorder(d.out_port)
    player = open_player(d.in_port)
    try:
        time.sleep(0.5)
        play_melody(player, 2, step)
        time.sleep(1.0)
        code = d.stop()
    finally:
        d.stop()
        player.close()
        rec.close()
    assert code == 0, d.log()
    midi, tracks = tracks_by_name(out)
    assert midi.type == 1 and set(tracks) >= {"tempo", "liveplay", "musician"}
    tempos = [m.tempo for m in tracks["tempo"] if m.type == "set_tempo"]
    assert tempos and abs(mido.tempo2bpm(tempos[0]) - 150) < 0.01
    ours, theirs = notes_of(tracks["liveplay"], midi.ticks_per_beat), notes_of(tracks["musician"], midi.ticks_per_beat)
    assert [p for p, _, _ in theirs] == [60 + [0, 2, 4, 5, 7, 5, 4, 2][i % 8] for i in range(16)]
    starts = np.array([s for _, s, _ in theirs])
    assert np.abs(np.diff(starts) - 0.5).max() < 0.1  # eighths at 150 BPM land half a beat apart
    assert len(ours) >= len(onset_times(rec.note_ons())) > 10  # everything liveplay sent is in the file
    assert all(end is not None for _, _, end in ours + theirs), "a note hangs in the file"


def test_record_survives_a_sigkill_losing_at_most_the_last_bar(jack_server, tiny_config, tiny_model, tmp_path):
    out = tmp_path / "jam.mid"
    d = Daemon(jack_server, ["--config", str(tiny_config), "--model", str(tiny_model), "--mode", "solo",
                             "--tempo", "150", "--record", str(out)], tmp_path / "d.log")
    bar = 4 * 60 / 150
    rec = Recorder(d.out_port)
    try:
        time.sleep(6.0)
        d.stop(signal.SIGKILL)
        killed = time.monotonic()
        time.sleep(0.2)
    finally:
        d.stop(signal.SIGKILL)
        rec.close()
    midi, tracks = tracks_by_name(out)  # a complete, readable file
    played = onset_times(rec.note_ons())
    first_note = played[0]
    # onsets in the file, as seconds after the first one, vs what the recorder heard before the kill
    in_file = sorted({s for _, s, _ in notes_of(tracks["liveplay"], midi.ticks_per_beat)})
    span_file = (in_file[-1] - in_file[0]) * 60 / 150
    span_heard = played[-1] - first_note
    assert span_heard - span_file <= bar + 0.1, (span_heard, span_file)
    assert killed - played[-1] < 0.5  # it was still playing when killed
    assert not list(tmp_path.glob("*.tmp")) or out.exists()


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="FluidSynth not installed (Debian fluidsynth)")
def test_synth_starts_fluidsynth_plays_into_it_and_stops_it(jack_server, tiny_config, tiny_model, tmp_path):
    d = Daemon(jack_server, ["--config", str(tiny_config), "--model", str(tiny_model), "--mode", "solo",
                             "--tempo", "150", "--synth"], tmp_path / "d.log", virtual_ports=False)
    wav = tmp_path / "heard.wav"
    try:
        d.wait_for_log("output 'liveplay-synth:midi_00' is back", timeout=20)
        listing = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True).stdout
        subprocess.run(["jack_rec", "-f", str(wav), "-d", "3", "-b", "16", "liveplay-synth:left"],
                       env=jack_server.env, capture_output=True, timeout=30)
        code = d.stop()
        time.sleep(0.5)
    finally:
        d.stop()
    log = d.log()
    assert code == 0, log
    assert re.search(r"^liveplay(-\d+)?:liveplay out\n   liveplay-synth:midi_00$", listing, re.M), listing
    assert "synth: FluidSynth stopped" in log
    assert subprocess.run(["pgrep", "-f", "midi.jack.id=liveplay-synth"]).returncode == 1  # gone with us
    with wave.open(str(wav)) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float)
    assert len(audio) > 48000 and np.sqrt(np.mean(audio ** 2)) > 100, "FluidSynth made no sound"


def test_a_recorded_session_reads_back_as_the_musicians_part(tmp_path):
    """Fine-tuning on your takes learns what you played, not liveplay's answers to it."""
    from liveplay.live.recording import SessionRecording
    from liveplay.music.midifile import read_tokens

    take = SessionRecording(tmp_path / "take.mid", 120.0, start=100.0)
    for i, pitch in enumerate((60, 62, 64)):
        take.heard(mido.Message("note_on", note=pitch, velocity=90), 100.0 + 0.5 * i)
        take.heard(mido.Message("note_off", note=pitch), 100.4 + 0.5 * i)
        take.played(mido.Message("note_on", note=pitch + 12, velocity=80), 100.0 + 0.5 * i)
        take.played(mido.Message("note_off", note=pitch + 12), 100.45 + 0.5 * i)
    take.close(102.0)
    assert read_tokens(tmp_path / "take.mid", 2, 4)[:5] == [(60,), "HOLD", (62,), "HOLD", (64,)]  # theirs alone
