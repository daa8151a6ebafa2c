import json
import random

import pytest

from liveplay.music.tokens import (FIRST_CHORD_ID, HOLD, HOLD_ID, REST, REST_ID, Vocabulary, chord_distance,
                             make_chord)


def vocab():
    seqs = [[(60, 64, 67), HOLD, (60, 64, 67), REST, (62,), (62,), (62,), (48, 55, 64, 72)]]
    return Vocabulary.build(seqs, size=10, max_notes=4)


def test_make_chord_sorts_dedups_and_keeps_highest():
    assert make_chord([67, 60, 64, 60, 72, 76], 4) == (64, 67, 72, 76)
    assert make_chord([60], 4) == (60,)


def test_outer_voicing_keeps_the_bass_and_the_highest_notes():
    wide = [48, 55, 64, 67, 72]  # C in root position over five notes
    assert make_chord(wide, 3, "outer") == (48, 67, 72)
    assert make_chord(wide, 3) == (64, 67, 72)  # highest: the bass is lost
    assert make_chord([52, 60, 67, 72], 3, "outer")[0] == 52  # a first inversion stays one
    assert make_chord([60, 64], 3, "outer") == (60, 64)  # narrow chords are as they were
    assert make_chord(wide, 1, "outer") == (72,)  # one note: the top, as a melody
    assert make_chord(make_chord(wide, 3, "outer"), 3, "outer") == make_chord(wide, 3, "outer")


def test_a_vocabulary_cuts_by_its_voicing_and_keeps_it_in_its_file(tmp_path):
    from liveplay.model.bundle import BundleError, load_vocab, save_vocab

    seqs = [[(48, 55, 64, 67, 72), HOLD, (43, 59, 62, 67), REST]]
    v = Vocabulary.build(seqs, size=10, max_notes=3, voicing="outer")
    assert v.chords == [(43, 62, 67), (48, 67, 72)]
    assert v.encode([(48, 60, 64, 67, 72)]) == [FIRST_CHORD_ID + 1]  # cut to (48, 67, 72): held
    assert v.contains((43, 50, 62, 67)) and not Vocabulary(v.chords, 3).contains((43, 50, 62, 67))
    save_vocab(v, tmp_path / "vocab.json")
    assert load_vocab(tmp_path / "vocab.json", 3, "outer").voicing == "outer"
    with pytest.raises(BundleError, match="voicing 'outer' differs from the manifest's 'highest'"):
        load_vocab(tmp_path / "vocab.json", 3, "highest")
    data = json.loads((tmp_path / "vocab.json").read_text())
    data["voicing"] = "lowest"
    with pytest.raises(ValueError, match="voicing must be one of highest, outer"):
        Vocabulary.from_json(data)
    del data["voicing"]  # a file from before voicings: the highest notes
    assert Vocabulary.from_json(data).voicing == "highest"


def test_build_orders_by_frequency_and_caps():
    v = vocab()
    assert v.chords[0] == (62,)  # three times
    assert v.chords[1] == (60, 64, 67)  # twice
    assert len(v) == 3 + FIRST_CHORD_ID
    assert len(Vocabulary.build([[(1,), (2,), (2,), (3,)]], size=1, max_notes=4).chords) == 1


def test_encode_decode_exact_and_specials():
    v = vocab()
    assert v.encode([REST, HOLD, (60, 64, 67)]) == [REST_ID, HOLD_ID, FIRST_CHORD_ID + 1]
    assert v.decode([REST_ID, HOLD_ID, FIRST_CHORD_ID]) == [REST, HOLD, (62,)]


def test_distance_properties():
    assert chord_distance((60, 64, 67), (60, 64, 67)) == 0
    assert chord_distance((60, 64), (60, 64, 67)) == chord_distance((60, 64, 67), (60, 64))
    # register counts: the same triad two octaves up is farther than a neighbour chord
    assert chord_distance((60, 64, 67), (84, 88, 91)) > chord_distance((60, 64, 67), (60, 65, 69))


def test_nearest_matches_the_documented_distance_and_is_deterministic():
    v = vocab()
    rng = random.Random(0)
    for _ in range(300):
        chord = make_chord(rng.sample(range(21, 109), rng.randint(1, 6)), 4)
        got = v.encode_token(chord)
        dists = [chord_distance(chord, c) for c in v.chords]
        best = dists.index(min(dists)) + FIRST_CHORD_ID  # ties: the more frequent (lower id)
        assert got == best
        assert v.encode_token(chord) == got


def test_nearest_never_raises_on_odd_input():
    v = vocab()
    for weird in [(0,), (127,), tuple(range(0, 128, 5)), (60, 60, 60), (200, 60)]:
        assert v.encode_token(weird) >= FIRST_CHORD_ID
    assert v.encode_token(()) == REST_ID
    empty = Vocabulary([], 4)
    assert empty.encode_token((60,)) == REST_ID


def test_json_round_trip_and_coverage(tmp_path):
    v = vocab()
    from liveplay.model.bundle import load_vocab, save_vocab

    save_vocab(v, tmp_path / "vocab.json")
    back = load_vocab(tmp_path / "vocab.json")
    assert back.chords == v.chords and back.max_notes == v.max_notes
    cov = v.coverage([REST, (62,), (61,), HOLD])
    assert (cov.chords, cov.chords_in_vocab, cov.tokens) == (2, 1, 4)
    assert cov.chord_share == 0.5 and cov.token_share == 0.75
