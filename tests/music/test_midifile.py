import logging
import random

import mido
import pytest

from liveplay.errors import DataError, MidiFileError
from liveplay.music.midifile import load_token_files, read_notes, read_tokens, tokens_to_midi, write_tokens
from liveplay.music.tokens import HOLD, REST


def random_tokens(rng, n=200):
    out = [(60, 64, 67)]
    for _ in range(n):
        r = rng.random()
        if r < 0.3:
            out.append(HOLD if out[-1] != REST else REST)  # HOLD after silence reads back as REST
        elif r < 0.45:
            out.append(REST)
        else:
            out.append(tuple(sorted(rng.sample(range(40, 90), rng.randint(1, 4)))))
    return out + [(72,)]


def test_tokens_midi_tokens_round_trip_is_identical(tmp_path):
    rng = random.Random(1)
    for spb in (1, 2, 4):
        tokens = random_tokens(rng)
        path = write_tokens(tokens, tmp_path / f"rt{spb}.mid", spb, 97)
        assert read_tokens(path, spb, 4) == tokens


def test_written_file_is_type1_with_tempo_and_every_note_on_has_its_off(tmp_path):
    path = write_tokens([(60, 64), HOLD, (62,), REST, (60,), HOLD], tmp_path / "x.mid", 2, 90)
    midi = mido.MidiFile(path)
    assert midi.type == 1
    tempos = [m for m in midi.tracks[0] if m.type == "set_tempo"]
    assert round(mido.tempo2bpm(tempos[0].tempo)) == 90
    sounding = set()
    for msg in mido.merge_tracks(midi.tracks):
        if msg.type == "note_on" and msg.velocity > 0:
            assert msg.note not in sounding
            sounding.add(msg.note)
        elif msg.type in ("note_on", "note_off"):
            sounding.discard(msg.note)
    assert not sounding


def make_file(path, events, tpb=480, tempo_changes=()):
    """events: (abs_tick, type, note, velocity, channel)."""
    midi = mido.MidiFile(type=1, ticks_per_beat=tpb)
    meta = mido.MidiTrack()
    last = 0
    for tick, bpm in tempo_changes:
        meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=tick - last))
        last = tick
    midi.tracks.append(meta)
    track = mido.MidiTrack()
    last = 0
    for tick, kind, note, vel, ch in sorted(events, key=lambda e: e[0]):
        track.append(mido.Message(kind, note=note, velocity=vel, channel=ch, time=tick - last))
        last = tick
    midi.tracks.append(track)
    midi.save(path)
    return path


def test_onsets_and_pitches_survive_a_file_round_trip(tmp_path):
    # two tracks merged, velocity-0 note_offs, tempo changes: the grid is in beats, not seconds
    tpb = 96
    events = [(0, "note_on", 60, 90, 0), (0, "note_on", 64, 90, 0), (tpb, "note_on", 60, 0, 0),
              (tpb, "note_off", 64, 0, 0), (tpb, "note_on", 67, 80, 1), (3 * tpb, "note_off", 67, 0, 1),
              (4 * tpb, "note_on", 72, 70, 0), (5 * tpb, "note_on", 72, 0, 0)]
    src = make_file(tmp_path / "src.mid", events, tpb, tempo_changes=[(0, 60), (2 * tpb, 180)])
    tokens = read_tokens(src, 2, 4)
    assert tokens == [(60, 64), HOLD, (67,), HOLD, HOLD, HOLD, REST, REST, (72,), HOLD]
    again = write_tokens(tokens, tmp_path / "again.mid", 2, 120)
    onsets = lambda p: sorted((round(n.start, 3), n.pitch) for n in read_notes(p)[0])  # noqa: E731
    assert onsets(again) == onsets(src)


def test_drums_skipped_by_default(tmp_path):
    events = [(0, "note_on", 36, 100, 9), (240, "note_off", 36, 0, 9), (0, "note_on", 60, 100, 0),
              (480, "note_off", 60, 0, 0)]
    path = make_file(tmp_path / "d.mid", events)
    assert read_tokens(path, 2, 4) == [(60,), HOLD]
    assert read_tokens(path, 2, 4, skip_drums=False) == [(36, 60), HOLD]


def test_overlapping_and_unterminated_notes(tmp_path):
    # 60 struck twice without a note_off between (re-strike), 64 never ended
    events = [(0, "note_on", 60, 100, 0), (480, "note_on", 60, 100, 0), (960, "note_off", 60, 0, 0),
              (960, "note_on", 64, 100, 0), (1920, "note_on", 67, 0, 0)]
    path = make_file(tmp_path / "o.mid", events)
    notes, length = read_notes(path)
    assert [(n.pitch, n.start, n.end) for n in notes] == [(60, 0, 1), (60, 1, 2), (64, 2, 4)]
    assert read_tokens(path, 2, 4) == [(60,), HOLD, (60,), HOLD, (64,), HOLD, HOLD, HOLD]


@pytest.mark.parametrize("content,reason", [
    (b"", "truncated or empty"),
    (b"RIFF1234WAVEfmt ", "not a MIDI file"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x01\x00\x90", "truncated or empty"),
])
def test_bad_files_are_skipped_with_one_warning_naming_the_file(tmp_path, caplog, content, reason):
    good = write_tokens([(60,), HOLD], tmp_path / "good.mid", 2, 120)
    bad = tmp_path / "bad.mid"
    bad.write_bytes(content)
    with pytest.raises(MidiFileError, match=reason):
        read_tokens(bad, 2, 4)
    with caplog.at_level(logging.WARNING):
        loaded = load_token_files([tmp_path], 2, 4)
    assert [p.name for p, _ in loaded] == [good.name]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(bad) in warnings[0].getMessage()


def test_nothing_usable_is_a_data_error(tmp_path):
    (tmp_path / "a.mid").write_bytes(b"nope")
    with pytest.raises(DataError, match="no usable MIDI file"):
        load_token_files([tmp_path], 2, 4)
    with pytest.raises(DataError, match="no such file"):
        load_token_files([tmp_path / "missing"], 2, 4)


def test_cli_train_on_bad_data_exits_2(tmp_path, caplog):
    from liveplay import cli

    (tmp_path / "a.mid").write_bytes(b"nope")
    assert cli.main(["train", str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    assert "no usable MIDI file" in caplog.text


def test_tokens_to_midi_held_chord_lasts_until_change():
    midi = tokens_to_midi([(60,), HOLD, HOLD, (62,)], 2, 120)
    track = midi.tracks[1]
    ticks, t = [], 0
    for m in track:
        t += m.time
        if m.type == "note_off" and m.note == 60:
            ticks.append(t)
    assert ticks == [3 * 240]
