"""The accompanist's ear: its features in pitch classes, what it leaves alone, and the window contract."""

import numpy as np
import pytest

from liveplay.model.harmony import HarmonyEngine, consonance_matrix, pitch_class_masks
from liveplay.music.tokens import HOLD_ID, REST_ID, Vocabulary

from conftest import FixedEngine

C_MAJOR, C_SHARP, E_MINOR, E_ALONE, G_ALONE = (48, 52, 55), (49, 53, 56), (52, 55, 59), (64,), (67,)
VOCAB = Vocabulary([C_MAJOR, C_SHARP, E_MINOR, E_ALONE, G_ALONE], max_notes=4)
ID = {c: VOCAB.encode_token(c) for c in (C_MAJOR, C_SHARP, E_MINOR, E_ALONE, G_ALONE)}


def uneven(context_length=16):
    """An engine whose distribution is fixed and uneven over VOCAB's ids, whatever it heard."""
    return FixedEngine(np.arange(1.0, len(VOCAB) + 1), context_length)


def duet(*steps):
    """Start pair, then (ours, theirs) per step."""
    return [REST_ID, REST_ID, *[t for pair in steps for t in pair]]


def test_pitch_class_masks_and_consonance():
    masks = pitch_class_masks(VOCAB)
    assert masks[REST_ID].sum() == masks[HOLD_ID].sum() == 0
    assert list(np.flatnonzero(masks[ID[C_MAJOR]])) == [0, 4, 7]
    cons = consonance_matrix()
    # [accompaniment, melody]: G over C a fifth, C over E a minor sixth, C over A a minor third
    assert cons[0, 7] == cons[4, 0] == cons[9, 0] == 1
    assert cons[7, 0] == cons[0, 1] == cons[0, 6] == 0  # C over G a fourth, a semitone, a tritone


def test_under_a_held_e_the_c_chord_fits_better_than_c_sharp_and_doubling_is_seen():
    ear = HarmonyEngine(uneven(), VOCAB, 1.0, experts=(1.0, 2.0, 0.0))  # key and consonance only
    # the musician played C major notes, and holds an E now
    ear.reset(duet((REST_ID, ID[G_ALONE]), (HOLD_ID, ID[C_MAJOR]), (REST_ID, ID[E_ALONE]), (REST_ID, HOLD_ID)))
    assert ear.ours_next()
    assert list(np.flatnonzero(ear.sounding())) == [4]  # E, through the HOLD
    key, consonance, doubles = ear.features()
    assert key[ID[C_MAJOR]] > key[ID[C_SHARP]]
    assert consonance[ID[C_MAJOR]] > consonance[ID[C_SHARP]]
    assert doubles[ID[C_MAJOR]] == doubles[ID[E_MINOR]] == 1 and doubles[ID[C_SHARP]] == 0
    assert key[REST_ID] == consonance[HOLD_ID] == 0
    p, q = ear.inner.distribution(), ear.distribution()
    assert q[ID[C_MAJOR]] / q[ID[C_SHARP]] > p[ID[C_MAJOR]] / p[ID[C_SHARP]]  # bent toward the fit
    shy = HarmonyEngine(uneven(), VOCAB, 1.0, experts=(0.0, 0.0, 1.0))  # doubling only: E minor (holds E) gives way
    shy.reset(duet((REST_ID, ID[E_ALONE])))
    assert shy.distribution()[ID[E_MINOR]] / shy.distribution()[ID[C_SHARP]] == pytest.approx(
        np.exp(-1.0) * p[ID[E_MINOR]] / p[ID[C_SHARP]])
    # the model still decides when: REST and HOLD as it said, the chords' mass kept
    assert q[REST_ID] == pytest.approx(p[REST_ID]) and q[HOLD_ID] == pytest.approx(p[HOLD_ID])
    assert q.sum() == pytest.approx(1.0)


def test_a_triad_of_the_tunes_scale_fits_its_key_better_than_one_of_its_notes():
    """The key fit is summed over a chord's pitch classes: the C triad under a tune of C, E and G
    is more of its key than the E alone (a mean would rank them the other way round)."""
    ear = HarmonyEngine(uneven(), VOCAB, 1.0)
    ear.reset(duet((REST_ID, ID[G_ALONE]), (REST_ID, ID[C_MAJOR]), (REST_ID, ID[E_ALONE])))
    key = ear.features()[0]
    assert key[ID[C_MAJOR]] > key[ID[E_ALONE]] > 0 > key[ID[C_SHARP]]
    # C once, E and G twice each, add-one smoothed over 12 classes: C 2/17, E and G 3/17
    assert key[ID[C_MAJOR]] == pytest.approx(np.log(12 * np.array([2, 3, 3]) / 17).sum())


def test_the_key_profile_counts_the_steps_a_note_sounds_not_its_onsets():
    """An E held three steps weighs three times a G struck once; a HOLD whose onset has left the
    window counts nothing (the distribution is the window's)."""
    ear = HarmonyEngine(uneven(), VOCAB, 1.0)
    ear.reset(duet((REST_ID, HOLD_ID), (REST_ID, ID[E_ALONE]), (REST_ID, HOLD_ID), (REST_ID, HOLD_ID),
                   (REST_ID, ID[G_ALONE]), (REST_ID, REST_ID)))
    assert list(ear.sounding_ids()) == [REST_ID, REST_ID, ID[E_ALONE], ID[E_ALONE], ID[E_ALONE], ID[G_ALONE], REST_ID]
    key = ear.features()[0]
    assert key[ID[E_ALONE]] == pytest.approx(np.log(12 * 4 / 16)) and key[ID[G_ALONE]] == pytest.approx(np.log(12 * 2 / 16))
    short = HarmonyEngine(uneven(context_length=8), VOCAB, 1.0)  # a window of 4 melody steps
    short.reset(duet((REST_ID, ID[E_ALONE]), (REST_ID, HOLD_ID), (REST_ID, HOLD_ID), (REST_ID, HOLD_ID),
                     (REST_ID, ID[G_ALONE])))
    assert list(short.sounding_ids()) == [REST_ID, REST_ID, REST_ID, ID[G_ALONE]]  # the E's onset has left


def test_a_resting_melody_has_no_sounding_note_and_only_the_key_bends():
    ear = HarmonyEngine(uneven(), VOCAB, 1.0)
    ear.reset(duet((REST_ID, ID[E_ALONE]), (REST_ID, REST_ID)))
    assert not ear.sounding().any()
    key, consonance, doubles = ear.features()
    assert not consonance.any() and not doubles.any() and key.any()


def test_the_musicians_positions_and_weight_zero_are_the_model():
    ear = HarmonyEngine(uneven(), VOCAB, 1.0)
    ear.reset(duet((REST_ID, ID[E_ALONE])))
    ear.push(ID[C_MAJOR])  # ours: the musician's token comes next
    assert not ear.ours_next()
    assert np.array_equal(ear.distribution(), uneven().distribution())
    off = HarmonyEngine(uneven(), VOCAB, 0.0)
    off.reset(duet((REST_ID, ID[E_ALONE])))
    assert np.array_equal(off.distribution(), uneven().distribution())
    with pytest.raises(ValueError, match="negative"):
        HarmonyEngine(uneven(), VOCAB, -1.0)


def test_the_distribution_is_a_function_of_the_window_as_the_engine_contract_says():
    """Two duets that differ before their last W tokens (both whole steps) get the same answer."""
    w = 16
    rng = np.random.default_rng(4)
    a, b = HarmonyEngine(uneven(context_length=w), VOCAB, 1.0), HarmonyEngine(uneven(context_length=w), VOCAB, 1.0)
    shared = list(rng.integers(0, len(VOCAB), size=w))
    a.reset(duet())
    b.reset(duet())
    for t in list(rng.integers(0, len(VOCAB), size=2 * w + 6)) + shared:
        a.push(int(t))
    for t in list(rng.integers(0, len(VOCAB), size=w + 10)) + shared:
        b.push(int(t))
    assert a.ours_next() and b.ours_next()
    assert list(a.melody) == shared[1::2]
    assert np.abs(a.distribution() - b.distribution()).max() <= 1e-12
    assert not np.allclose(a.distribution(), uneven().distribution())


def test_a_refused_token_is_not_heard():
    ear = HarmonyEngine(uneven(), VOCAB, 1.0)
    ear.reset(duet())
    with pytest.raises(ValueError):
        ear.push(99)
    assert ear.n == 2 and ear.ours_next()
