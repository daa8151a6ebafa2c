"""Keeping the player's key: our chords bent toward the pitch classes the player dwells on.

The key frame (``model.keyframe``) moves what the model hears into C, so a model trained in C
answers in any key; but a model samples, and a draw now and then leaves the key -- in modal music
above all (a Dorian madrigal, a trecento ballata), whose scale a model trained mostly on major and
minor music hears as "C, nearly" -- and once its own answer has left, a model that listens to
itself follows itself further. A musician who answers stays in the key *the other player* is in.
So, as the duet model's ear does for the melody it accompanies (``model.harmony``), before we
sample, each chord's probability is multiplied by

    exp(weight * key_fit)

with ``key_fit`` the sum over the chord's pitch classes of log(12 * profile[pc]), the profile the
steps each pitch class sounds **in what the player played** within the model's window (add-one
smoothed; ``harmony.key_fit``), and the chords renormalised to the mass they had: REST and HOLD
keep the model's probabilities -- when to play, how long to hold is the model's call -- and the
ear re-weighs *which* chord.

It is part of the answer, as the sampler's temperature is, not of the prediction: the engine's
distribution is what the model expects next, and ``liveplay evaluate`` scores that; the keeper
shapes what we choose to play. Which steps are the player's, the ``Context`` knows (its ``theirs``):
a prime, and the musician's notes the performance folds in (``live.performance``); not our own
answers. In solo mode the musician's notes do not enter the context, so only a prime, or what
they played before a switch into solo, is heard until it leaves the window. While the window holds
nothing the player sounded, the answer is the model's own. ``model.key_keeping`` is the weight
(0: off), chosen on the validation split's continuations (models/default/README.md). Pure NumPy;
for a single-stream model (a duet model has ``model.harmony``).
"""

from __future__ import annotations

import numpy as np

from liveplay.model.harmony import engine_masks, key_fit, rescale, sounding_ids
from liveplay.music.context import Context
from liveplay.music.tokens import Vocabulary


class KeyKeeper:
    """Bends a distribution over ``vocab``'s ids toward the pitch classes the player sounded in the
    last ``window`` steps of a context. It keeps its last factors between calls: one keeper per
    performance, used from one thread (the daemon's thinker)."""

    def __init__(self, vocab: Vocabulary, weight: float, window: int, vocab_size: int | None = None):
        if weight < 0:
            raise ValueError(f"key-keeping weight {weight} is negative")
        if window < 1:
            raise ValueError(f"key-keeping window {window} is not a positive number of steps")
        self.masks = engine_masks(vocab, vocab_size or len(vocab))  # (ids, 12)
        self.chords = self.masks.any(axis=1)  # ids that are chords
        self.others = np.flatnonzero(~self.chords)  # REST, HOLD (and ids past the vocabulary)
        # the play vocabulary holds each pitch-class set many times (a chord at every octave and
        # voicing): the key fit is computed once a set, then given to every id of it
        self.sets, self.set_of = np.unique(self.masks, axis=0, return_inverse=True)
        self.set_of = self.set_of.reshape(-1)
        self.weight, self.window = float(weight), int(window)
        self._fit: np.ndarray | None = None  # the last profile's key fit, and its factors
        self._factors = np.ones(len(self.chords))

    def heard(self, context: Context) -> np.ndarray:
        """(steps,) the id sounding at each of the player's steps in the window (a player's HOLD
        sounds the chord it holds; REST where nothing does)."""
        ids, theirs = context.window(self.window)
        return sounding_ids(ids)[theirs]

    def factors(self, context: Context) -> np.ndarray | None:
        """(ids,) what each id's probability is multiplied by before the chords are renormalised:
        exp(weight * key fit) for a chord, 1 for REST and HOLD; None while the player sounded
        nothing in the window. Kept while the player's profile stays the same (as it does while
        we answer and their steps stay in the window)."""
        sounding = self.heard(context)
        if not self.chords[sounding].any():
            return None
        fit = key_fit(self.masks, sounding)
        if self._fit is None or not np.array_equal(fit, self._fit):
            self._fit = fit
            # the empty set (REST, HOLD) fits 0: its factor is 1
            self._factors = np.exp(self.weight * (self.sets @ fit))[self.set_of]
        return self._factors

    def answer(self, probs: np.ndarray, context: Context) -> np.ndarray:
        """``probs`` (the engine's distribution after ``context``) bent toward the player's key:
        ``harmony.bend`` with the factors above."""
        factors = None if self.weight == 0 else self.factors(context)
        return probs if factors is None else rescale(probs, factors, self.others)
