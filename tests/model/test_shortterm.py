"""The short-term match model: exact match lengths, the mixture, and the engine's window contract."""

import numpy as np
import pytest

from liveplay.model.bundle import load_bundle
from liveplay.model.numpy_engine import NumpyEngine
from liveplay.model.shortterm import MAX_MATCH, ShortTermEngine

from conftest import FixedEngine


def flat(vocab_size=6, context_length=16):
    """An engine whose distribution is uniform over ``vocab_size`` ids, whatever it heard."""
    return FixedEngine(np.ones(vocab_size), context_length)


def brute_match(window):
    """match[j] = common suffix length of window[:j] and window (at most MAX_MATCH), the slow way."""
    n = len(window)
    out = np.zeros(n, dtype=int)
    for j in range(1, n):
        k = 0
        while k < j and window[j - 1 - k] == window[n - 1 - k]:
            k += 1
        out[j] = min(k, MAX_MATCH)
    return out


@pytest.mark.parametrize("alphabet", [2, 3, 6])
def test_match_lengths_kept_a_token_at_a_time_equal_the_slow_count(alphabet):
    engine = ShortTermEngine(flat(context_length=40), 0.3)
    rng = np.random.default_rng(alphabet)
    heard = []
    for i, t in enumerate(rng.integers(0, alphabet, size=300)):  # the window fills, then slides
        if i == 150:  # a reset with a prime longer than the window keeps its last 40
            heard = list(rng.integers(0, alphabet, size=55))
            engine.reset(heard)
        engine.push(int(t))
        heard.append(int(t))
        window = heard[-40:]
        assert engine.n == len(window) and list(engine.ids[: engine.n]) == window
        assert list(engine.match[: engine.n]) == list(brute_match(window)), i


def test_a_repeated_phrase_votes_for_what_came_next_by_match_length_squared():
    inner = flat(vocab_size=6)
    engine = ShortTermEngine(inner, 0.4)
    engine.reset([0, 2, 3, 4, 5, 2, 3])  # the last '2 3' was heard before, followed by 4
    q = engine.match_distribution()
    # the only position after a '3' is 3 (its match '2 3' has length 2): all of P_match on 4
    assert q is not None and q[4] == pytest.approx(1.0)
    p = engine.distribution()
    assert p[4] == pytest.approx(0.6 / 6 + 0.4) and p.sum() == pytest.approx(1.0)
    engine.push(1)  # '1' never heard before: nothing matches, the model alone
    assert engine.match_distribution() is None
    assert np.allclose(engine.distribution(), inner.distribution())


def test_weights_grow_with_the_match():
    engine = ShortTermEngine(flat(vocab_size=6), 0.5)
    engine.reset([1, 2, 3, 5, 0, 3, 4, 1, 2, 3])  # '1 2 3' (length 3) -> 5; '3' alone (length 1) -> 4
    q = engine.match_distribution()
    assert q[5] == pytest.approx(9 / 10) and q[4] == pytest.approx(1 / 10)


def test_weight_zero_is_the_model_and_bad_weights_are_refused():
    engine = ShortTermEngine(flat(), 0.0)
    engine.reset([1, 2, 1, 2, 1])
    assert np.array_equal(engine.distribution(), flat().distribution())
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="short-term weight"):
            ShortTermEngine(flat(), bad)


def test_a_refused_token_is_not_heard():
    engine = ShortTermEngine(flat(vocab_size=6), 0.3)
    engine.reset([1, 2])
    with pytest.raises(ValueError):
        engine.push(99)
    assert engine.n == 2 and list(engine.ids[:2]) == [1, 2]


def test_the_distribution_is_a_function_of_the_window_as_the_engine_contract_says(tiny_model):
    """Two histories that differ before their last W tokens get the same mixture (exact engine)."""
    bundle = load_bundle(tiny_model)
    w, v = bundle.grid.context_length, bundle.architecture.vocab_size
    a, b = ShortTermEngine(NumpyEngine(bundle), 0.3), ShortTermEngine(NumpyEngine(bundle), 0.3)
    rng = np.random.default_rng(9)
    shared = list(rng.integers(0, v, size=w))
    a.reset()
    b.reset()
    for t in list(rng.integers(0, v, size=2 * w + 5)) + shared:
        a.push(int(t))
    for t in list(rng.integers(0, v, size=w + 17)) + shared:
        b.push(int(t))
    assert a.match_distribution() is not None
    assert np.abs(a.distribution() - b.distribution()).max() <= 1e-5
