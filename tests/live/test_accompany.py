"""Accompany mode with a duet model on a real JACK server: a scripted player plays a melody the
model never heard; a recorder client hears liveplay's part. (The duet key frame, which the shipped
key-normalised duet model plays through, is tested in tests/model/test_keyframe.py: the tiny
data's keys are too ambiguous -- C major, A minor, F major by Krumhansl-Schmuckler -- for a
key-normalised tiny model to learn the answers.)"""

import signal
import time

import mido
import numpy as np
import pytest

from liveplay.music.keys import key_of, pitch_class_histogram

from conftest import ANSWER, DUET_CONFIG, duet_notes, write_duets
from jacktools import Daemon, Recorder, open_player

pytestmark = pytest.mark.slow

SHIFT = 0  # the melody as the data has it (trained at -1..+1)
TEMPO = 120


@pytest.fixture(scope="module")
def duet_setup(tiny_model, tmp_path_factory):
    """A tiny duet model, and a config that names it as model.duet beside the tests' tiny model."""
    from liveplay.config import load_settings
    from liveplay.offline.train import train

    folder = tmp_path_factory.mktemp("accompany")
    train_config = folder / "duet.yaml"
    train_config.write_text(DUET_CONFIG)
    data, model = folder / "data", folder / "duet"
    data.mkdir()
    # each duet after its own silence (0 to 4.5 beats): a live musician starts when they like,
    # after some steps of silence on either beat of liveplay's grid; duets that all started at
    # once left the model unsure, after a silence, which part was its own (it played the melody)
    train([write_duets(data, lead_in=0.5)], model, load_settings(train_config), command="pytest duet model")
    run_config = folder / "run.yaml"
    run_config.write_text(train_config.read_text().replace("  duet: null\n", f"  duet: {model}\n"))
    return run_config


def chords_heard(rec: Recorder, channel: int = 0, gap: float = 0.02) -> list[tuple[float, set[int]]]:
    """liveplay's onsets: (time, pitches) of note-ons on its channel closer than ``gap`` (sent
    together; a JACK period, or a stall of this machine, can fall between them)."""
    out: list[tuple[float, set[int]]] = []
    for e in rec.note_ons():
        if e.message.channel != channel:
            continue
        if out and e.time - out[-1][0] <= gap:
            out[-1][1].add(e.message.note)
        else:
            out.append((e.time, {e.message.note}))
    return out


def signature(key: tuple[int, str]) -> int:
    """The key's major tonic: a key and its relative minor share one (the same notes)."""
    tonic, mode = key
    return tonic if mode == "major" else (tonic + 3) % 12


def test_accompany_plays_chords_under_the_melody_in_its_key(jack_server, tiny_model, duet_setup, tmp_path):
    d = Daemon(jack_server, ["--config", str(duet_setup), "--model", str(tiny_model), "--mode", "accompany",
                             "--seed", "2", "--tempo", str(TEMPO)], tmp_path / "daemon.log")
    rec = Recorder(d.out_port)
    port = open_player(d.in_port)
    beat = 60 / TEMPO
    melody = [n for n in duet_notes(seed=99, beats=24) if n.channel == 0]  # a seed no training file had
    sounding: list[tuple[float, float, int]] = []  # (on, off, pitch) of the musician's notes
    try:
        time.sleep(1.0)
        start = time.monotonic()
        for n in melody:
            pitch = n.pitch + SHIFT
            while time.monotonic() < start + n.start * beat:
                time.sleep(0.001)
            port.send(mido.Message("note_on", note=pitch, velocity=90, channel=1))
            on = time.monotonic()
            time.sleep((n.end - n.start) * beat)
            port.send(mido.Message("note_off", note=pitch, channel=1))
            sounding.append((on, time.monotonic(), pitch))
        code = d.stop(signal.SIGTERM)
        time.sleep(0.3)
    finally:
        port.close()
        rec.close()
    log = d.log()
    assert code == 0, log
    assert "accompany plays the duet model" in log, log
    ours = [(t, notes) for t, notes in chords_heard(rec) if start <= t <= sounding[-1][1]]
    assert len(ours) >= 12, (ours, log[-2000:])
    chord_share = np.mean([len(notes) >= 2 for _, notes in ours])
    # doubling: an onset of ours that plays a pitch of the melody sounding at that moment
    doubled = np.mean([any(on <= t <= off and p in notes for on, off, p in sounding) for t, notes in ours])
    mel_key = key_of(pitch_class_histogram([(p,) for _, _, p in sounding]))
    our_key = key_of(pitch_class_histogram([tuple(sorted(notes)) for _, notes in ours]))
    answers = {tuple(sorted(p + SHIFT for p in chord)) for chord in ANSWER.values()}
    answered = np.mean([tuple(sorted(notes)) in answers for _, notes in ours])
    figures = (f"chords {chord_share:.2f}, doubled {doubled:.2f}, keys {mel_key} / {our_key}, answers {answered:.2f}: "
               f"{[sorted(notes) for _, notes in ours]}")
    assert chord_share >= 0.5, figures  # chords under the melody, not a guess at it
    assert doubled <= 0.15, figures
    assert signature(our_key) == signature(mel_key), figures  # the melody's key (or its relative)
    assert answered >= 0.5, figures  # the chords the data answers these notes with
    assert rec.sounding() == set(), figures
