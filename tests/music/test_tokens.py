import random

from liveplay.music.tokens import (FIRST_CHORD_ID, HOLD, HOLD_ID, REST, REST_ID, Vocabulary, chord_distance,
                             make_chord)


def vocab():
    seqs = [[(60, 64, 67), HOLD, (60, 64, 67), REST, (62,), (62,), (62,), (48, 55, 64, 72)]]
    return Vocabulary.build(seqs, size=10, max_notes=4)


def test_make_chord_sorts_dedups_and_keeps_highest():
    assert make_chord([67, 60, 64, 60, 72, 76], 4) == (64, 67, 72, 76)
    assert make_chord([60], 4) == (60,)


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
