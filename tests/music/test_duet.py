"""Duet layout and pairs from multi-part files (music/duet.py, midifile.read_duet)."""

import logging

import pytest

from liveplay.errors import MidiFileError
from liveplay.music.context import with_start
from liveplay.music.duet import (Duet, deinterleave, duet_ids, interleave, is_accompaniment, nearly_empty,
                                 split_parts)
from liveplay.music.midifile import Note, load_token_files, notes_to_midi, read_duet
from liveplay.music.tokens import HOLD, REST, REST_ID


def test_a_duet_sequence_has_a_start_pair_and_the_accompaniment_at_even_indices():
    acc, mel = [11, 12, 13], [21, 22, 23]
    seq = with_start(duet_ids(acc, mel))
    assert seq == [REST_ID, REST_ID, 11, 21, 12, 22, 13, 23]
    assert [t for i, t in enumerate(seq) if is_accompaniment(i)][1:] == acc
    assert [t for i, t in enumerate(seq) if not is_accompaniment(i)][1:] == mel
    assert deinterleave(seq) == (acc, mel)
    with pytest.raises(ValueError):
        interleave([1, 2], [3])
    with pytest.raises(ValueError):
        deinterleave(seq[1:])


def note(pitch, start, end, channel):
    return Note(pitch, start, end, 80, channel)


def test_the_top_part_is_the_melody_and_ties_go_to_the_first():
    notes = [note(48, 0, 1, 2), note(72, 0, 1, 1), note(60, 0, 1, 0), note(76, 1, 2, 1), note(64, 1, 2, 0)]
    melody, acc = split_parts(notes)
    assert {n.channel for n in melody} == {1}
    assert sorted(n.pitch for n in acc) == [48, 60, 64]
    tied = [note(60, 0, 1, 3), note(60, 0, 1, 1)]
    assert {n.channel for n in split_parts(tied)[0]} == {1}
    assert "1 part" in split_parts([note(60, 0, 1, 0), note(64, 1, 2, 0)])


def test_nearly_empty_accompaniment():
    mel = [(72,), HOLD] * 20
    assert nearly_empty([(48,)] + [REST] * 39, mel)
    assert nearly_empty([(48,), HOLD] * 4 + [REST] * 32, mel) is None


def test_transposing_a_duet_moves_both_parts_or_neither():
    d = Duet([(48, 52), HOLD], [(72,), REST])
    assert d.transposed(2) == Duet([(50, 54), HOLD], [(74,), REST])
    assert Duet([(48,)], [(127,)]).transposed(1) is None
    with pytest.raises(ValueError):
        Duet([REST], [REST, REST])


def write(tmp_path, name, notes):
    path = tmp_path / name
    notes_to_midi(notes, 120).save(path)
    return path


def test_read_duet_merges_the_lower_parts_and_keeps_their_lowest_notes(tmp_path):
    notes = [note(76, 0, 1, 0), note(79, 1, 2, 0),  # melody, on channel 0
             note(40, 0, 2, 1), note(52, 0, 2, 2), note(55, 0, 2, 2), note(59, 0, 2, 3), note(62, 0, 2, 3),
             note(43, 1, 2, 1)]
    d = read_duet(write(tmp_path, "quartet.mid", notes), 2, 4)
    assert len(d.melody) == len(d.accompaniment) == 4
    assert d.melody == [(76,), HOLD, (79,), HOLD]
    assert d.accompaniment[0] == (40, 52, 55, 59)  # five onsets: the lowest four kept, not the top one
    assert d.accompaniment[1:3] == [HOLD, (43,)]


def test_files_without_a_duet_are_skipped_with_their_reason_and_counted(tmp_path, caplog):
    good = [note(76, b, b + 1, 0) for b in range(8)] + [note(48, b, b + 1, 1) for b in range(8)]
    write(tmp_path, "a_good.mid", good)
    write(tmp_path, "b_solo.mid", [note(76, b, b + 1, 0) for b in range(8)])
    write(tmp_path, "c_thin.mid", [note(76, b, b + 1, 0) for b in range(40)] + [note(48, 0, 1, 1)])
    (tmp_path / "d_corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    with pytest.raises(MidiFileError, match="b_solo.mid"):
        read_duet(tmp_path / "b_solo.mid", 2, 4)
    with caplog.at_level(logging.INFO):
        loaded = load_token_files([tmp_path], 2, 4, read=read_duet)
    assert [p.name for p, _ in loaded] == ["a_good.mid"]
    assert isinstance(loaded[0][1], Duet)
    text = caplog.text
    assert "b_solo.mid: 1 part(s)" in text and "c_thin.mid: accompaniment nearly empty" in text
    assert "d_corrupt.mid" in text and "3 of 4 file(s) skipped" in text
