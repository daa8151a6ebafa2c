"""The short-term model: what this music has done so far, mixed into what the model learned.

A piece repeats itself -- a fiddle tune's A part, a chorale's cadence chords, a riff -- and a
model trained on thousands of pieces knows that only in general. So, as computational models
of melody have long done (a long-term model of the corpus beside a short-term model of the
piece: Conklin & Witten's multiple viewpoints, Pearce's IDyOM; the "cache" of neural language
models), the model's distribution is mixed with a **match model** of the context itself:

- for every earlier position j of the window, ``match[j]`` is how many tokens before j equal
  the last tokens heard (the common suffix of ``h[:j]`` and ``h``, at most ``MAX_MATCH``);
- each position with a match votes for the token that followed it, ``h[j]``, with weight
  ``match[j] ** 2`` (a longer match is a surer guide);
- ``P = (1 - w) * P_model + w * P_match`` when anything matched, else ``P_model``.

It sees exactly what the engine sees (the last ``context_length`` tokens), so an engine inside
it keeps its contract: the distribution is a function of the window. The match lengths are kept
up to date a token at a time (O(window) NumPy a push, about as cheap as the key frame). The
weight ``model.short_term`` was chosen on the validation split (models/default/README.md).
Pure NumPy; wraps any ``Engine``.
"""

from __future__ import annotations

import numpy as np

from liveplay.model.engine import Engine, Listener

MAX_MATCH = 32  # match lengths are counted up to this many tokens


class ShortTermEngine(Listener):
    """``Engine`` contract: ``inner``'s distribution mixed with the context's match model."""

    def __init__(self, inner: Engine, weight: float):
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"short-term weight {weight} outside [0, 1)")
        super().__init__(inner, f"{inner.name} + short-term {weight:g}")
        self.weight = float(weight)
        w = self.context_length
        self.ids = np.zeros(w, dtype=np.int64)  # the window, oldest first  (n,) used
        self.match = np.zeros(w, dtype=np.int64)  # match[j]: common suffix of ids[:j] and ids[:n]
        self.n = 0

    def _forget(self, before: int) -> None:
        self.n = 0
        self.match[:] = 0

    def _hear(self, token: int) -> None:
        """One more token: every match grows by one where the token before it equals this one."""
        n, ids, match = self.n, self.ids, self.match
        if n < len(ids):  # room left: positions 1..n get new lengths
            grown = np.where(ids[:n] == token, match[:n] + 1, 0)  # (n,)  from positions 0..n-1
            match[1: n + 1] = grown
            match[0] = 0
            ids[n] = token
            self.n = n + 1
        else:  # the window slides: the oldest token leaves, every position moves down one
            grown = np.where(ids == token, match + 1, 0)  # (W,)  position j-1 -> j, before the slide
            ids[:-1] = ids[1:]
            ids[-1] = token
            match[:] = grown  # old position j+1 is new position j ...
            np.minimum(match, np.arange(len(ids)), out=match)  # ... and cannot reach before the window
        np.minimum(match, MAX_MATCH, out=match)

    def match_distribution(self) -> np.ndarray | None:
        """P_match over the inner vocabulary, or None when nothing in the window matches."""
        n = self.n
        votes = self.match[1:n]  # positions with a successor: 1..n-1, successor ids[j]
        seen = votes > 0
        if not seen.any():
            return None
        w = votes[seen].astype(np.float64) ** 2
        q = np.bincount(self.ids[1:n][seen], weights=w, minlength=self.vocab_size)  # (V,)
        return q / q.sum()

    def _answer(self, probs: np.ndarray) -> np.ndarray:
        q = self.match_distribution()
        return probs if q is None else (1.0 - self.weight) * probs + self.weight * q
