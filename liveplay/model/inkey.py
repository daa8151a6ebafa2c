"""Keeping the key: the model's choice of chord bent toward the pitch classes its window dwells on.

The key frame (``model.keyframe``) moves what the model hears into C, so a model trained in C
answers in any key; but a model samples, and a draw now and then leaves the key -- in modal music
above all (a Dorian madrigal, a trecento ballata), whose scale a model trained mostly on major and
minor music hears as "C, nearly". A musician who answers stays in the key they hear. So, as the
duet model's ear does for the melody it accompanies (``model.harmony``), each chord's probability
is multiplied by

    exp(weight * key_fit)

with ``key_fit`` the sum over the chord's pitch classes of log(12 * profile[pc]), the profile the
steps each pitch class sounds in the window (add-one smoothed; ``harmony.key_fit``), and the
chords renormalised to the mass they had: REST and HOLD keep the model's probabilities -- when
to play, how long to hold is the model's call -- and the ear re-weighs *which* chord.
In a window of 128 steps of single notes over seven classes alike, a class it has not sounded
costs a chord a factor of about exp(-3 * weight) against one it has; of triads, exp(-4 * weight).

It sees exactly the engine's window, so an engine inside it keeps its contract: the
distribution is a function of the window. ``model.key_keeping`` is the weight (0: off), chosen on
the validation split's continuations (models/default/README.md). Pure NumPy; wraps any ``Engine``
of a single-stream model (a duet model has ``model.harmony``).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from liveplay.model.engine import Engine, Listener
from liveplay.model.harmony import bend, engine_masks, key_fit, sounding_ids
from liveplay.music.tokens import Vocabulary


class InKeyEngine(Listener):
    """``Engine`` contract: ``inner``'s chords bent toward the pitch classes of its window."""

    def __init__(self, inner: Engine, vocab: Vocabulary, weight: float):
        if weight < 0:
            raise ValueError(f"key-keeping weight {weight} is negative")
        self.masks = engine_masks(vocab, inner.vocab_size)
        super().__init__(inner, f"{inner.name} + key keeping {weight:g}")
        self.weight = float(weight)
        self.chords = self.masks.any(axis=1)  # ids that are chords
        self.window: deque[int] = deque(maxlen=inner.context_length)

    def _forget(self, before: int) -> None:
        self.window.clear()

    def _hear(self, token: int) -> None:
        self.window.append(token)

    def bias(self) -> np.ndarray:
        """(ids,) the log-factor each chord's probability is multiplied by (0 for REST and HOLD)."""
        ids = sounding_ids(np.fromiter(self.window, dtype=np.int64, count=len(self.window)))
        return self.weight * (self.masks @ key_fit(self.masks, ids))

    def _answer(self, probs: np.ndarray) -> np.ndarray:
        if self.weight == 0 or not self.window:
            return probs
        return bend(probs, self.chords, self.bias())
