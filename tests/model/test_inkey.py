"""Keeping the key: chords bent toward the window's pitch classes, the rhythm left alone, the window contract."""

import numpy as np
import pytest

from liveplay.model.inkey import InKeyEngine
from liveplay.music.tokens import FIRST_CHORD_ID, HOLD_ID, REST_ID, Vocabulary

from conftest import FixedEngine

C_MAJOR, C_SHARP, A_MINOR, C_ALONE, E_ALONE, G_ALONE = (48, 52, 55), (49, 53, 56), (57, 60, 64), (60,), (64,), (67,)
CHORDS = (C_MAJOR, C_SHARP, A_MINOR, C_ALONE, E_ALONE, G_ALONE)
VOCAB = Vocabulary(list(CHORDS), max_notes=3)
ID = {c: VOCAB.encode_token(c) for c in CHORDS}


def uneven(context_length=16):
    """An engine whose distribution is fixed and uneven over VOCAB's ids, whatever it heard."""
    return FixedEngine(np.arange(1.0, len(VOCAB) + 1), context_length)


def test_after_c_major_the_c_chord_gains_on_c_sharp_by_the_profile_and_rest_and_hold_keep_theirs():
    ear = InKeyEngine(uneven(), VOCAB, 0.5)
    # C held two steps, E once, G once, a rest: C sounds 2 steps, E 1, G 1 of 5
    ear.reset([ID[C_ALONE], HOLD_ID, ID[E_ALONE], ID[G_ALONE], REST_ID])
    p, q = ear.inner.distribution(), ear.distribution()
    fit = np.log(12 * (np.array([2, 1, 1]) + 1) / (4 + 12))  # C, E, G, add-one smoothed over 12 classes
    none = np.log(12 * 1 / 16)  # a class never heard
    assert q[ID[C_MAJOR]] / q[ID[C_SHARP]] == pytest.approx(
        p[ID[C_MAJOR]] / p[ID[C_SHARP]] * np.exp(0.5 * (fit.sum() - 3 * none)))
    assert q[ID[C_MAJOR]] > p[ID[C_MAJOR]] and q[ID[C_SHARP]] < p[ID[C_SHARP]]
    # A minor holds C and E and an A never heard: between the two
    assert q[ID[C_SHARP]] / p[ID[C_SHARP]] < q[ID[A_MINOR]] / p[ID[A_MINOR]] < q[ID[C_MAJOR]] / p[ID[C_MAJOR]]
    # the model still decides when: REST and HOLD as it said, the chords' mass kept
    assert q[REST_ID] == pytest.approx(p[REST_ID]) and q[HOLD_ID] == pytest.approx(p[HOLD_ID])
    assert q.sum() == pytest.approx(1.0)


def test_a_stronger_weight_keeps_the_key_more():
    shares = []
    for weight in (0.25, 0.5, 1.0):
        ear = InKeyEngine(uneven(), VOCAB, weight)
        ear.reset([ID[C_MAJOR], HOLD_ID, ID[G_ALONE], ID[E_ALONE]])
        shares.append(ear.distribution()[ID[C_SHARP]])
    assert shares[0] > shares[1] > shares[2] > 0


def test_weight_zero_and_an_empty_window_are_the_model():
    off = InKeyEngine(uneven(), VOCAB, 0.0)
    off.reset([ID[C_MAJOR], ID[E_ALONE]])
    assert np.array_equal(off.distribution(), uneven().distribution())
    fresh = InKeyEngine(uneven(), VOCAB, 1.0)
    fresh.reset([])
    assert np.array_equal(fresh.distribution(), uneven().distribution())
    with pytest.raises(ValueError, match="negative"):
        InKeyEngine(uneven(), VOCAB, -0.5)


def test_the_distribution_is_a_function_of_the_window_as_the_engine_contract_says():
    """Two histories that differ before their last W tokens get the same answer; a HOLD whose
    onset has left the window sounds nothing."""
    w = 8
    rng = np.random.default_rng(7)
    shared = [HOLD_ID] + [int(t) for t in rng.integers(0, len(VOCAB), size=w - 1)]
    a, b = InKeyEngine(uneven(w), VOCAB, 1.0), InKeyEngine(uneven(w), VOCAB, 1.0)
    a.reset([ID[C_SHARP]] * 5)  # the first HOLD of ``shared`` would hold C# here, if it were heard
    b.reset([ID[C_MAJOR]] * 3)
    for t in shared:
        a.push(t)
        b.push(t)
    assert list(a.window) == shared
    assert np.abs(a.distribution() - b.distribution()).max() <= 1e-12
    assert not np.allclose(a.distribution(), uneven().distribution())
    c = InKeyEngine(uneven(w), VOCAB, 1.0)
    c.reset([ID[C_SHARP]] * 5 + shared)  # a reset hears its last W tokens: the same window
    assert np.abs(a.distribution() - c.distribution()).max() <= 1e-12


def test_a_refused_token_is_not_heard():
    ear = InKeyEngine(uneven(), VOCAB, 1.0)
    ear.reset([ID[C_MAJOR]])
    with pytest.raises(ValueError):
        ear.push(99)
    assert list(ear.window) == [ID[C_MAJOR]]


def test_make_engine_wraps_a_trained_model_with_it_when_asked(tiny_model):
    """``model.key_keeping`` > 0 puts the ear around the trained model (outermost, after the short-term
    model), and moves its chords by their fit to the pitch classes heard; 0 leaves it out."""
    from liveplay.model.bundle import load_bundle
    from liveplay.model.runtime import make_engine

    bundle = load_bundle(tiny_model)
    plain = make_engine(bundle, "numpy", short_term=0.2)
    kept = make_engine(bundle, "numpy", short_term=0.2, key_keeping=1.0)
    assert isinstance(kept, InKeyEngine) and "short-term" in kept.inner.name
    assert not isinstance(plain, InKeyEngine)
    chords = list(range(FIRST_CHORD_ID, len(bundle.vocab)))
    prime = [chords[0], HOLD_ID, chords[1], HOLD_ID, chords[0]]
    plain.reset(prime)
    kept.reset(prime)
    p, q = plain.distribution(), kept.distribution()
    assert q[REST_ID] == pytest.approx(p[REST_ID]) and q[HOLD_ID] == pytest.approx(p[HOLD_ID])
    heard = kept.masks[prime].any(axis=0)  # (12,) the classes of the prime
    inside = np.flatnonzero(kept.chords & ~(kept.masks[:, ~heard].any(axis=1)))  # heard classes only
    outside = np.flatnonzero(kept.chords & ~(kept.masks[:, heard].any(axis=1)))  # none heard
    assert inside.size and outside.size
    i, o = inside[0], outside[0]
    sounding = kept.masks[[chords[0], chords[0], chords[1], chords[1], chords[0]]]  # the HOLDs hold
    fit = kept.masks @ np.log(12 * (sounding.sum(axis=0) + 1) / (sounding.sum() + 12))
    assert fit[i] > 0 > fit[o]
    assert q[i] / q[o] == pytest.approx(p[i] / p[o] * np.exp(fit[i] - fit[o]))  # weight 1


def test_a_duet_model_is_not_given_it():
    """A duet's window interleaves two parts (its ear is ``model.harmony``): key keeping leaves it be."""
    from pathlib import Path

    from liveplay.model.bundle import load_bundle
    from liveplay.model.runtime import make_engine

    duet = load_bundle(Path(__file__).resolve().parents[2] / "models" / "duet")
    assert duet.manifest.kind == "duet"
    engine = make_engine(duet, "numpy", key_keeping=1.0)
    assert not isinstance(engine, InKeyEngine) and "key keeping" not in engine.name
