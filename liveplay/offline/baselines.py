"""Baselines the model must beat: a unigram and interpolated Witten-Bell n-grams.

Unigram: add-one smoothed token frequencies. Order n (n >= 2), interpolated
Witten-Bell over the order n-1 model, down to the unigram:

    P_n(w | h) = (c(h, w) + T(h) * P_{n-1}(w | h')) / (c(h) + T(h))

where h is the n-1 previous tokens, h' its last n-2, c counts training
continuations and T(h) the number of distinct tokens seen after h. A history
never seen falls back to P_{n-1} entirely. Every P_n is a proper distribution
over the whole vocabulary, so perplexities compare fairly with the model's.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Sequence

import numpy as np


class NGram:
    def __init__(self, order: int, vocab_size: int):
        if order < 1:
            raise ValueError("order must be at least 1")
        self.order = order
        self.vocab_size = vocab_size
        self.unigram = np.ones(vocab_size, dtype=np.float64)
        # counts[k][history of k tokens] -> Counter of next tokens, k = 1..order-1
        self.counts: list[dict[tuple, Counter]] = [defaultdict(Counter) for _ in range(order)]

    def fit(self, sequences: Sequence[Sequence[int]]) -> "NGram":
        for seq in sequences:
            seq = list(seq)
            for i, w in enumerate(seq):
                self.unigram[w] += 1
                for k in range(1, self.order):
                    if i - k >= 0:
                        self.counts[k][tuple(seq[i - k: i])][w] += 1
        self.unigram /= self.unigram.sum()
        return self

    def distribution(self, history: Sequence[int]) -> np.ndarray:
        """P(next | history) over the whole vocabulary (float64, sums to 1)."""
        p = self.unigram
        for k in range(1, self.order):
            if len(history) < k:
                break
            seen = self.counts[k].get(tuple(history[-k:]))
            if not seen:
                continue
            total = sum(seen.values())
            types = len(seen)
            counts = np.zeros(self.vocab_size, dtype=np.float64)
            counts[list(seen.keys())] = list(seen.values())
            p = (counts + types * p) / (total + types)
        return p
