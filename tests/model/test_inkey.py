"""Keeping the player's key: our chords bent toward the pitch classes the player sounded, the
rhythm left alone, our own answers and anything past the window not listened to."""

import numpy as np
import pytest

from liveplay.config import load_settings
from liveplay.model.inkey import KeyKeeper
from liveplay.music.context import Context
from liveplay.music.tokens import FIRST_CHORD_ID, HOLD_ID, REST_ID, Vocabulary

from conftest import FixedEngine

C_MAJOR, C_SHARP, A_MINOR, C_ALONE, E_ALONE, G_ALONE = (48, 52, 55), (49, 53, 56), (57, 60, 64), (60,), (64,), (67,)
CHORDS = (C_MAJOR, C_SHARP, A_MINOR, C_ALONE, E_ALONE, G_ALONE)
VOCAB = Vocabulary(list(CHORDS), max_notes=3)
ID = {c: VOCAB.encode_token(c) for c in CHORDS}


def uneven(context_length=16):
    """An engine whose distribution is fixed and uneven over VOCAB's ids, whatever it heard."""
    return FixedEngine(np.arange(1.0, len(VOCAB) + 1), context_length)


def keeper(weight, window=16):
    return KeyKeeper(VOCAB, weight, window)


def test_after_the_players_c_major_the_c_chord_gains_on_c_sharp_by_the_profile_and_rest_and_hold_keep_theirs():
    # the prime is the player's: C held two steps, E once, G once, a rest: C sounds 2 steps, E 1, G 1
    context = Context(uneven(), [ID[C_ALONE], HOLD_ID, ID[E_ALONE], ID[G_ALONE], REST_ID])
    p = context.distribution()
    q = keeper(0.5).answer(p, context)
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
    context = Context(uneven(), [ID[C_MAJOR], HOLD_ID, ID[G_ALONE], ID[E_ALONE]])
    shares = [keeper(w).answer(context.distribution(), context)[ID[C_SHARP]] for w in (0.25, 0.5, 1.0)]
    assert shares[0] > shares[1] > shares[2] > 0


def test_weight_zero_and_a_window_without_the_player_are_the_model():
    context = Context(uneven(), [ID[C_MAJOR], ID[E_ALONE]])
    p = context.distribution()
    assert np.array_equal(keeper(0.0).answer(p, context), p)
    silence = Context(uneven())  # the starting REST is nobody's
    assert np.array_equal(keeper(1.0).answer(silence.distribution(), silence), silence.distribution())
    resting = Context(uneven(), [REST_ID, REST_ID])  # the player's rests sound no class
    assert np.array_equal(keeper(1.0).answer(resting.distribution(), resting), resting.distribution())
    with pytest.raises(ValueError, match="negative"):
        keeper(-0.5)
    with pytest.raises(ValueError, match="window"):
        keeper(1.0, window=0)


def test_our_own_answers_are_not_listened_to():
    """An answer that left the key does not move the key we keep: the same bend after the player's
    C major whatever we played since; the player's next notes do move it."""
    k = keeper(1.0)
    prime = [ID[C_MAJOR], HOLD_ID, ID[G_ALONE], ID[E_ALONE]]
    quiet, wandered = Context(uneven(), prime), Context(uneven(), prime)
    for t in (ID[C_SHARP], HOLD_ID, ID[C_SHARP]):  # ours: C# major, held
        wandered.push(t)
        quiet.push(REST_ID)
    assert np.allclose(k.answer(quiet.distribution(), quiet), k.answer(wandered.distribution(), wandered))
    heard = Context(uneven(), prime)
    for t in (ID[C_SHARP], HOLD_ID, ID[C_SHARP]):  # the same notes, the player's
        heard.push(t, theirs=True)
    q_heard, q_ours = k.answer(heard.distribution(), heard), k.answer(wandered.distribution(), wandered)
    assert q_heard[ID[C_SHARP]] > q_ours[ID[C_SHARP]]


def test_a_players_hold_sounds_what_it_holds_and_the_window_forgets_the_player():
    """A HOLD of the player's sounds the chord it holds (even one of ours it held on to); what the
    player played more than ``window`` steps ago is out of the profile, so past it the answer is
    the model's."""
    k = keeper(1.0, window=4)
    held = Context(uneven(), [ID[C_SHARP]])
    for _ in range(3):
        held.push(HOLD_ID, theirs=True)
    struck = Context(uneven(), [ID[C_SHARP]] * 4)
    assert np.allclose(k.answer(held.distribution(), held), k.answer(struck.distribution(), struck))
    assert np.allclose(k.heard(held), ID[C_SHARP])
    gone = Context(uneven(), [ID[C_MAJOR]] * 3)
    for _ in range(4):
        gone.push(ID[C_SHARP])  # ours, for a whole window
    assert np.array_equal(k.answer(gone.distribution(), gone), gone.distribution())


def test_the_answer_is_harmony_bend_with_the_key_fits_factors():
    """The keeper's few-pass bend is ``harmony.bend`` (the duet's ear's) with bias weight x key fit."""
    from liveplay.model.harmony import bend, key_fit

    k = keeper(0.7)
    context = Context(uneven(), [ID[A_MINOR], HOLD_ID, ID[E_ALONE], REST_ID, ID[C_SHARP]])
    p = context.distribution()
    expected = bend(p, k.chords, 0.7 * (k.masks @ key_fit(k.masks, k.heard(context))))
    assert np.abs(k.answer(p, context) - expected).max() < 1e-12
    context.push(ID[G_ALONE], theirs=True)  # the profile moves: new factors, not the kept ones
    expected = bend(p, k.chords, 0.7 * (k.masks @ key_fit(k.masks, k.heard(context))))
    assert np.abs(k.answer(p, context) - expected).max() < 1e-12


def test_continuations_keep_the_primes_key_with_a_keeper():
    """``continue_ids`` (generate's and evaluate's continuations) bends every answer toward the
    prime, the player's: with a strong keeper the chords it
    samples after a C major prime sound only C major's classes, where the model alone mostly
    plays the C# chord it favours."""
    from liveplay.music.sampler import Sampler
    from liveplay.offline.generate import continue_ids

    class Favours(FixedEngine):  # the C# chord most likely, whatever it heard
        def __init__(self):
            p = np.ones(len(VOCAB))
            p[ID[C_SHARP]] = 20.0
            super().__init__(p, 16)

    settings = load_settings().sampler
    prime = [ID[C_MAJOR], HOLD_ID, ID[E_ALONE], ID[G_ALONE]]
    alone, kept = (continue_ids(Favours(), Sampler(settings, seed=1), prime, 40, k)[0]
                   for k in (None, keeper(4.0, window=64)))  # the prime stays in the window
    in_c = {ID[C_MAJOR], ID[C_ALONE], ID[E_ALONE], ID[G_ALONE]}
    assert sum(t == ID[C_SHARP] for t in alone) > 10
    assert ID[C_SHARP] not in kept and sum(t in in_c for t in kept) > 10, kept


def test_the_context_marks_the_prime_and_pushes_as_whose_they_were():
    context = Context(uneven(4), [ID[C_MAJOR]] * 70)  # keeps 64 ids (MIN_KEEP): all the prime's
    ids, theirs = context.window(100)
    assert ids.size == theirs.size == 64 and theirs.all()
    context.reset([ID[E_ALONE]])
    context.push(ID[G_ALONE])
    context.push(ID[C_ALONE], theirs=True)
    ids, theirs = context.window(10)
    assert ids.tolist() == [REST_ID, ID[E_ALONE], ID[G_ALONE], ID[C_ALONE]]
    assert theirs.tolist() == [False, True, False, True]
    ids, theirs = context.window(2)
    assert ids.tolist() == [ID[G_ALONE], ID[C_ALONE]] and theirs.tolist() == [False, True]


def test_keeper_for_gives_a_trained_model_one_over_its_window_and_the_engine_none(tiny_model):
    """``model.key_keeping`` > 0 gives the answer a keeper over the model's window; the engine's
    distribution (what ``evaluate`` scores) is the model's; its chords move by their fit."""
    from liveplay.model.bundle import load_bundle
    from liveplay.model.runtime import keeper_for, make_engine

    bundle = load_bundle(tiny_model)
    engine = make_engine(bundle, "numpy", short_term=0.2)
    assert "key keeping" not in engine.name
    assert keeper_for(bundle, bundle.vocab, engine, 0.0) is None
    kept = keeper_for(bundle, bundle.vocab, engine, 1.0)
    assert kept.window == engine.context_length and kept.masks.shape == (engine.vocab_size, 12)
    chords = list(range(FIRST_CHORD_ID, len(bundle.vocab)))
    prime = [chords[0], HOLD_ID, chords[1], HOLD_ID, chords[0]]
    context = Context(engine, prime)
    p = context.distribution()
    q = kept.answer(p, context)
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
    from liveplay.model.runtime import keeper_for, make_engine

    duet = load_bundle(Path(__file__).resolve().parents[2] / "models" / "duet")
    assert duet.manifest.kind == "duet"
    assert keeper_for(duet, duet.vocab, make_engine(duet, "numpy"), 1.0) is None
